"""The documented tier's nightly test (validation/always_valid.py): one e-process per rule from a fixed origin,
valid however many nights look at it, on records that break symmetry; closed testing inside a family; nothing after
a week is read before it (prefix invariance)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quant_organism.validation.always_valid import closed_passes, log_e_path, log_e_value, weekly_excess

DAYS = pd.date_range("2022-01-01", periods=3 * 365, freq="D", tz="UTC")


def _null_rule(rng, crash: float = 0.25) -> tuple[pd.Series, pd.Series]:
    """A rule with beta 0.5 to a drifting market and a zero-mean, left-skewed excess (a crash a year)."""
    market = pd.Series(0.03 * rng.standard_normal(len(DAYS)) + 0.5 / 365, index=DAYS)
    crashes = rng.uniform(size=len(DAYS)) < 1.0 / 365
    excess = crash / 365 + 0.012 * rng.standard_normal(len(DAYS)) - crash * crashes
    return 0.5 * market + excess, market


def test_a_rule_judged_every_week_for_three_years_passes_a_null_at_most_at_its_level():
    """Looking every night costs nothing: the e-process's value on any week reaching 1/level is the event its
    maximum did, at most `level` whatever the number of looks (a fresh nightly test at 5% would pass most)."""
    rng = np.random.default_rng(9)
    level, paths, passed = 0.05, 200, 0
    for _ in range(paths):
        rule, market = _null_rule(rng)
        weeks, bounds, _ = weekly_excess(rule, market)
        passed += bool((log_e_path(weeks, bounds) >= math.log(1 / level)).any())  # tonight's value, every week
    assert passed / paths <= level


def test_the_record_reads_nothing_after_its_weeks():
    rng = np.random.default_rng(4)
    rule, market = _null_rule(rng)
    whole, whole_bounds, _ = weekly_excess(rule, market)
    cut = DAYS[500]
    early, early_bounds, _ = weekly_excess(rule.loc[:cut], market.loc[:cut])
    complete = len(early) - 1  # tonight's week is still open: its stopped sum so far (valid: stopping at a day is fair)
    assert complete > 50 and np.allclose(early[:complete], whole[:complete])
    assert np.allclose(early_bounds, whole_bounds[: len(early)])  # the week's stop is fixed before it starts


def test_an_origin_starts_the_record_later_and_beta_still_learns_from_before():
    rng = np.random.default_rng(5)
    rule, market = _null_rule(rng)
    whole, _, _ = weekly_excess(rule, market)
    origin = DAYS[0] + pd.Timedelta(days=700)
    since, _, _ = weekly_excess(rule, market, origin)
    assert len(since) == math.ceil((len(DAYS) - 700) / 7)  # the weeks from the origin on
    assert np.allclose(since, whole[-len(since) :])  # the same weeks, at the same predictable beta


def test_closed_testing_passes_rules_that_move_together_and_charges_a_lone_rule_bonferroni():
    level, threshold = 0.015, math.log(1 / 0.015)
    together = {"a": threshold + 0.1, "b": threshold + 0.2, "c": threshold + 0.3}
    assert closed_passes(together, level) == ("a", "b", "c")
    lone = {"a": threshold + 0.5, "b": -3.0, "c": -3.0}  # e-value 1.6/level among nulls: not enough alone
    assert closed_passes(lone, level) == ()
    assert closed_passes({**lone, "a": threshold + math.log(3) + 0.01}, level) == ("a",)  # k/level: it passes


def test_a_planted_edge_passes_and_its_e_value_falls_once_the_edge_ends():
    rng = np.random.default_rng(6)
    market = pd.Series(0.03 * rng.standard_normal(len(DAYS)), index=DAYS)
    edge = np.where(np.arange(len(DAYS)) < 2 * 365, 3.0 * 0.2 / 365, 0.0)
    rule = pd.Series(0.3 * market + edge + 0.2 / math.sqrt(365) * rng.standard_normal(len(DAYS)), index=DAYS)
    at_two_years, bounds, _ = weekly_excess(rule.iloc[: 2 * 365], market.iloc[: 2 * 365])
    later, later_bounds, _ = weekly_excess(rule, market)
    assert log_e_value(at_two_years, bounds) >= math.log(1 / 0.015)
    assert log_e_value(later, later_bounds) < log_e_value(at_two_years, bounds)  # a year without it costs wealth
