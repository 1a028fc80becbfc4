"""The split model (benchmarks/split_tradeoff.py) against closed forms: with more places than nulls selection always
succeeds and power is the one-sided test's (against one null for one place, a coin toss at no edge); selection gets
easier with a longer train window and harder with more trials; the gate gets weaker with a shorter held-out span."""

from __future__ import annotations

import pytest
from scipy import stats

from quant_organism.benchmarks.split_tradeoff import power


def test_the_gate_alone_is_the_one_sided_test():
    selected, passes, both = power(2.0, 1.0, trials=1, candidates=2, draws=2000)  # one null, two places
    assert selected == 1.0 and both == passes
    assert passes == pytest.approx(stats.norm.sf(stats.norm.isf(0.005 / 2) - 2.0 * 4.5**0.5))
    assert power(0.0, 1.0, trials=1, candidates=1, draws=100_000)[0] == pytest.approx(0.5, abs=0.01)  # a coin toss


def test_selection_needs_train_years_and_trials_cost_it():
    short, _, _ = power(1.5, 216 / 365, trials=1000)
    long, _, _ = power(1.5, 3.0, trials=1000)
    crowded, _, _ = power(1.5, 3.0, trials=7500)
    assert short < long and crowded < long
    assert power(1.5, 1.0, 1000)[1] > power(1.5, 4.0, 1000)[1]  # less held-out, a weaker gate
