"""A process that scores populations keeps the large blocks it frees: the next call reuses them, not fresh pages."""

from __future__ import annotations

import platform
import resource

import pytest

from quant_organism.backtest import evaluate_population
from quant_organism.benchmarks.workload import COSTS, market, technical_genomes
from quant_organism.core import heap

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
    score(), score()  # kernels loaded; the heap has grown to what a call needs
    assert heap.keep_freed_blocks()  # applied when quant_organism.backtest was imported
    # Measured in a fresh process, the third call: 0-1 faults; 2,164 with glibc unmapping or trimming the freed blocks
    assert _faults_of(score) < 100
