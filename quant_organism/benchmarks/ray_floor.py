"""`python -m quant_organism.benchmarks.ray_floor`: what a local Ray run holds before it holds any data.

Why: `bench scale --universe50` measures the 50-coin run's peak memory over its whole process tree, and on Ray
that tree is more than this project's code: Ray's own services (GCS, raylet, the dashboard's API server and
agents, the log and autoscaler monitors) and one Python process per CPU. This holds the run's skeleton still for
`scale` to sample it: the local Ray the executor starts (`ray_session`, the CPUs of this machine), every worker
having done what a worker does before its first island (`warm_up` of the full preset's seeds: the imported
stack and its loaded kernels), and a driver that has imported what the main command imports. No frame,
population or row store exists yet, so whatever a run of any size adds comes on top of this floor.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HOLD_S = 2.0


def _worker_ready() -> int:
    """A worker's process id once it has done what it does before its first island."""
    from quant_organism.evolution import load_preset, warm_up

    warm_up([seed for seed, _ in load_preset("full").seed_type_weights()])
    return os.getpid()


def hold(workers: int, hold_s: float = HOLD_S) -> list[int]:
    """Start the executor's local Ray with `workers` CPUs, bring every worker up and prepared, and keep them all
    alive `hold_s` seconds; the workers' process ids."""
    import quant_organism.cli.main  # noqa: F401 - the main command's imports, as its driver holds them
    from quant_organism.evolution.executors.runners import ray_session

    with ray_session(workers) as ray:
        ready = ray.remote(num_cpus=1)(_worker_ready)
        pids: set[int] = set()
        for _ in range(10):  # Ray may hand two tasks to one worker: ask until each CPU's worker answered
            pids.update(ray.get([ready.remote() for _ in range(workers)]))
            if len(pids) >= workers:
                break
        time.sleep(hold_s)
    return sorted(pids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks.ray_floor", description=__doc__)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Ray CPUs (default: this machine's)")
    parser.add_argument("--hold", type=float, default=HOLD_S, help="seconds to hold everything alive")
    args = parser.parse_args(argv)
    pids = hold(args.workers, args.hold)
    print(f"ray floor: {len(pids)} worker(s) prepared, held {args.hold:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
