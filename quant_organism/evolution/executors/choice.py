"""The executor `auto` picks: Ray where the machine pays for it, one process where it does not.

Ray buys parallel islands with memory that does not depend on the data: its services (GCS, raylet, the
dashboard's API server and agents, the log and autoscaler monitors) and one Python process per CPU that imports
the whole scoring stack. On the 2-core development machine that floor is about 1.5 GB before a bar is read
(`bench scale --universe50`'s `ray_floor`), and the 50-coin run took 146 s on Ray against 174 s in one process:
1.2 times the speed for 2.5 times the memory. The search itself runs at 83% parallel efficiency on Ray there
(`bench evolution`), so it runs about 0.83 x N times faster on N CPUs while the floor grows by one worker per CPU.
From RAY_MIN_CPUS CPUs the search is more than three times faster, which is where the floor is worth holding; below
it one process does the same work in the least memory. A process pool was not chosen on small machines: its
workers import the same stack as Ray's (about 380 MB each), so it costs most of Ray's memory for the same few cores.

A configured cluster always wins: its workers' memory is not this machine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config names the executor; choosing it is this module's
    from quant_organism.evolution.evolution_config import EvolutionConfig

RAY_MIN_CPUS = 4
"""CPUs from which a local Ray pays: 0.83 x 4 = 3.3 times the search's speed (83% efficiency measured on 2 CPUs)."""
PROCESS_POOL_MIN_CPUS = RAY_MIN_CPUS
"""The same line for the main command's ingest workers: each imports the project's definitions (about 430 MB before
its first coin, 530 MB ingesting), so on 2 CPUs two of them beside the run held 1.45 GB for an ingest about
1.7 times faster; the run's own process ingests in the memory it already holds."""
RAY_SERVICES_MB = 650  # a bare local Ray's own processes, before any worker imports the project (measured: 644 MB)
RAY_WORKER_MB = 380  # one worker after `warm_up`: an idle Ray worker (125 MB) plus the imported stack (250 MB)
DRIVER_MB = 1024  # the run's own process: frames, populations and the row store (the 50-coin run fits in 1 GB)


@dataclass(frozen=True)
class ExecutorChoice:
    executor: str  # serial | process | ray
    reason: str


def local_ray_memory_mb(cpus: int) -> int:
    """What a local Ray with one worker per CPU holds beside the driver, before it reads any data."""
    return RAY_SERVICES_MB + RAY_WORKER_MB * cpus


def choose_executor(ray_address: str | None, cpus: int, memory_mb: float | None) -> ExecutorChoice:
    """The executor for a machine with `cpus` usable CPUs and `memory_mb` of physical memory (None: unknown),
    given a configured Ray cluster address (None: none)."""
    if ray_address:
        return ExecutorChoice("ray", f"a Ray cluster is configured ({ray_address}): islands run on its workers")
    if cpus < RAY_MIN_CPUS:
        return ExecutorChoice(
            "serial",
            f"{cpus} CPU(s), fewer than {RAY_MIN_CPUS}: a local Ray would speed the search up at most "
            f"{0.83 * cpus:.1f}x for about {local_ray_memory_mb(cpus):,} MB of its own; one process uses the least memory",
        )
    needed = local_ray_memory_mb(cpus) + DRIVER_MB
    if memory_mb is not None and memory_mb < needed:
        return ExecutorChoice(
            "serial",
            f"{cpus} CPUs but {memory_mb:,.0f} MB of memory, under the {needed:,} MB a local Ray with {cpus} workers "
            "and the run need: one process",
        )
    return ExecutorChoice("ray", f"{cpus} CPUs (>= {RAY_MIN_CPUS}): a local Ray runs the islands about {0.83 * cpus:.1f}x faster")


def machine_memory_mb() -> float | None:
    """Memory this process may use in MB: the machine's physical memory, or its cgroup's limit where lower (a
    container); None where the platform says neither."""
    import os
    from pathlib import Path

    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        physical = None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        cgroup = int(limit) / 2**20 if limit.isdigit() else None
    except OSError:
        cgroup = None
    known = [m for m in (physical, cgroup) if m]
    return min(known) if known else None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform has one)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def executor_choice(config: EvolutionConfig) -> ExecutorChoice:
    """The executor a config runs on, and why: `auto` asks the machine."""
    if config.executor != "auto":
        return ExecutorChoice(config.executor, f"executor: {config.executor} set by the preset or an override")
    return choose_executor(config.ray_address, usable_cpus(), machine_memory_mb())


def with_executor_chosen(config: EvolutionConfig) -> tuple[EvolutionConfig, str]:
    """The config with `auto` replaced by the machine's choice, and the reason for it."""
    choice = executor_choice(config)
    return config.model_copy(update={"executor": choice.executor}), choice.reason


def workers(config: EvolutionConfig) -> int:
    """Parallel batches: `max_workers`, else the CPUs this process may use (1 for serial)."""
    if executor_choice(config).executor == "serial":
        return 1
    if config.max_workers is not None:
        return config.max_workers
    return usable_cpus()
