"""A scoring worker keeps the large blocks it frees: the next call reuses them, not fresh pages. The setting is applied
where a worker starts (`warm_up`), never by importing the backtest."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys

import pytest

from quant_organism.backtest import evaluate_population
from quant_organism.benchmarks.workload import COSTS, market, technical_genomes
from quant_organism.evolution.executors import heap

linux_glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's thresholds are glibc's")


def _faults_of(call) -> int:
    """Minor page faults of this thread during `call` (a fault is a fresh page the kernel had to map and zero)."""
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    call()
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


@linux_glibc
def test_scoring_a_population_again_faults_in_no_fresh_memory():
    candles, funding, _ = market()  # a year of hourly bars: tables of 0.1-3 MB, more than glibc's own limits keep
    genomes = technical_genomes(200)
    score = lambda: evaluate_population(candles, genomes, funding=funding, costs=COSTS)  # noqa: E731
    assert heap.keep_freed_blocks()  # as a worker's warm_up does when it starts
    score(), score()  # kernels loaded; the heap has grown to what a call needs
    # Measured in a fresh process, the third call: 0-1 faults; 2,164 with glibc unmapping or trimming the freed blocks
    assert _faults_of(score) < 100


def test_importing_the_backtest_leaves_the_allocator_alone_and_a_worker_start_sets_it():
    probe = (
        "import quant_organism.backtest, quant_organism.runtime, quant_organism.validation\n"
        "from quant_organism.evolution.executors import heap\n"
        "print(heap.keep_freed_blocks.cache_info().currsize)\n"
        "from quant_organism.evolution.executors.runners import warm_up\n"
        "from quant_organism.strategies import SeedType\n"
        "warm_up([SeedType.EMA_CROSSOVER])\n"
        "print(heap.keep_freed_blocks.cache_info().currsize)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "1"]
