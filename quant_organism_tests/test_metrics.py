"""The one metrics module: its convention pinned, the backtest kernel and the reports on it, no second formula."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest import run_backtest
from quant_organism.core import metrics
from quant_organism.core.compiled import metric_kernels
from quant_organism.deployment.scoring import held_out_figures
from quant_organism.runtime.forward import ForwardRecord
from quant_organism.validation.deflated_sharpe import ReturnMoments
from quant_organism.validation.held_out import window_figures

PACKAGE = Path(metrics.__file__).resolve().parents[1]


def test_sharpe_is_mean_over_sample_std_annualised_by_the_periods_of_a_year():
    daily = np.array([0.01, -0.005, 0.02, 0.0, 0.004])
    expected = daily.mean() / daily.std(ddof=1) * math.sqrt(365)
    assert metrics.sharpe(daily, metrics.DAYS_PER_YEAR) == pytest.approx(expected, rel=1e-12)
    assert metrics.sharpe(daily) == pytest.approx(daily.mean() / daily.std(ddof=1), rel=1e-12)  # per period
    per_column = metrics.sharpe(np.column_stack([daily, np.zeros(5), -daily]), 365.0)
    np.testing.assert_allclose(per_column, [expected, 0.0, -expected], rtol=1e-12)


def test_sharpe_is_zero_without_spread_or_with_fewer_than_two_returns():
    assert metrics.sharpe(np.full(50, 0.001), 8760.0) == 0.0  # constant: rounding leaves no real variance
    assert metrics.sharpe(np.zeros(10)) == 0.0
    assert metrics.sharpe(np.array([0.05])) == 0.0
    assert metrics.sharpe(np.array([])) == 0.0


def test_sortino_divides_by_the_root_mean_square_of_losses_over_all_returns():
    r = np.array([0.02, -0.01, 0.03, -0.02, 0.01])
    expected = r.mean() / math.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) * math.sqrt(8760)
    assert metrics.figures(r, 8760.0)["sortino"] == pytest.approx(expected, rel=1e-12)
    assert metrics.figures(np.array([0.01, 0.02]), 8760.0)["sortino"] == 0.0  # no loss


def test_drawdown_counts_the_initial_capital_as_a_peak():
    assert metrics.max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(0.1)
    assert metrics.max_drawdown(np.array([0.1, -0.2, 0.1])) == pytest.approx(0.2)  # from the peak 1.1
    assert metrics.max_drawdown(np.array([0.1, 0.1])) == 0.0
    assert metric_kernels.fall_from(200.0, 150.0) == pytest.approx(0.25)
    assert metric_kernels.fall_from(0.0, 150.0) == 0.0


def test_consistency_is_the_share_of_sub_periods_with_a_positive_compounded_return():
    r = np.array([0.02, -0.01, -0.03, 0.01, 0.0, 0.005])
    ids = np.array([0, 0, 1, 1, 2, 2])  # +0.98%, -2.03%, +0.5%
    assert metrics.figures(r, period_ids=ids)["consistency"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="period_ids"):
        metrics.figures(r, period_ids=np.array([1, 1, 2, 2, 3, 3]))


def test_total_return_compounds_and_growth_starts_from_one():
    r = pd.Series([0.1, np.nan, -0.5])
    assert metrics.total_return(r.fillna(0.0)) == pytest.approx(1.1 * 0.5 - 1.0)
    np.testing.assert_allclose(metrics.growth(r), [1.1, 1.1, 0.55])


def test_a_year_is_365_days_whatever_the_bar():
    for freq, expected in (("h", 8760.0), ("4h", 2190.0), ("D", 365.0), ("15min", 35040.0)):
        assert metrics.bars_per_year(pd.date_range("2025-01-01", periods=10, freq=freq, tz="UTC")) == expected
    assert [metrics.periods_per_year(i) for i in ("1h", "4h", "1d", "15m")] == [8760.0, 2190.0, 365.0, 35040.0]
    one = pd.DatetimeIndex(["2025-01-01"], tz="UTC")
    assert metrics.bars_per_year(one, default=1.0) == 1.0
    with pytest.raises(ValueError, match="bar interval"):
        metrics.bars_per_year(one)


def test_the_backtest_kernel_scores_with_the_same_figures():
    rng = np.random.default_rng(3)
    index = pd.date_range("2025-01-01", periods=24 * 30, freq="h", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(index))))
    bars = pd.DataFrame({"open": np.r_[100.0, close[:-1]], "close": close}, index=index)
    bars["high"], bars["low"] = bars[["open", "close"]].max(axis=1) * 1.002, bars[["open", "close"]].min(axis=1) * 0.998
    targets = pd.Series(np.where(np.sin(np.arange(len(index)) / 20) > 0, 1, -1), index=index, dtype=np.int8)
    result = run_backtest(bars, targets.rename("s"), init_cash=100.0)
    row = result.metrics.iloc[0]
    returns = result.equity.iloc[:, 0].pct_change().fillna(result.equity.iloc[0, 0] / 100.0 - 1.0)
    ours = metrics.figures(returns.to_numpy(), 8760.0)
    for key in ("total_return", "sharpe", "sortino", "max_drawdown"):
        assert row[key] == pytest.approx(ours[key], rel=1e-9, abs=1e-12), key


def test_the_reports_print_the_modules_figures():
    rng = np.random.default_rng(5)
    days = pd.date_range("2025-03-03", periods=70, freq="D", tz="UTC")
    daily = pd.Series(rng.normal(0.001, 0.02, len(days)), index=days)
    ours = metrics.figures(daily, 365.0, pd.factorize(days.tz_convert(None).to_period("W"))[0])
    assert held_out_figures(daily) == pytest.approx((ours["sharpe"], ours["consistency"], ours["max_drawdown"]))
    shown = window_figures(daily, 365.0)
    assert (shown["sharpe"], shown["max_drawdown"]) == pytest.approx((ours["sharpe"], ours["max_drawdown"]))
    record = ForwardRecord(daily)
    assert (record.total_return, record.max_drawdown) == pytest.approx((ours["total_return"], ours["max_drawdown"]))
    assert ReturnMoments.of(daily.to_numpy()).sharpe == pytest.approx(metrics.sharpe(daily))


# A second home for a metric formula: the sample std of a Sharpe, a compounded equity curve, a running peak.
SECOND_FORMULA = re.compile(r"\.std\([^)]*ddof=1|cumprod\(|cummax\(|equity / np\.maximum\.accumulate")


def test_no_metric_formula_is_written_outside_the_metrics_module():
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != Path(metrics.__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SECOND_FORMULA.search(line)
    ]
    assert found == []


def test_the_guard_bites():
    assert SECOND_FORMULA.search("sharpe = r.mean() / r.std(ddof=1) * math.sqrt(365)")
    assert SECOND_FORMULA.search("equity = (1.0 + r).cumprod()")


def test_a_run_of_unchanged_marks_is_one_step_of_the_running_figures():
    """The backtest books a flat stretch's marks in one step (`path_hold_nb`): from any state, the same state as
    stepping through them one by one, wherever the stretch starts and ends against sub-period boundaries (ids
    that never decrease), whether the mark rose, fell or stayed in the current sub-period."""
    rng = np.random.default_rng(31)
    for _ in range(400):
        n = int(rng.integers(2, 60))
        ids = np.cumsum(rng.random(n) < 0.15).astype(np.int64)
        marks = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        state = metric_kernels.path_start_nb(100.0, ids[0])
        cut = int(rng.integers(1, n))
        for i in range(cut):
            state = metric_kernels.path_step_nb(state, marks[i], ids[i])
        ends = np.sort(rng.choice(np.arange(cut + 1, n + 1), size=min(2, n - cut), replace=False))
        held, one_by_one = state, state
        for begin, end in zip([cut, *ends[:-1]], ends):  # one stretch, or two in a row (a sub-period on one mark)
            for i in range(begin, end):
                one_by_one = metric_kernels.path_step_nb(one_by_one, marks[cut - 1], ids[i])
            held = metric_kernels.path_hold_nb(held, ids[end - 1])
            assert held == one_by_one
