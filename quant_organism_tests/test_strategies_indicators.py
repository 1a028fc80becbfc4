"""Indicator kernels against independent pandas references, constant-price exactness, and the position state machine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.strategies import indicators as ind
from quant_organism.strategies.positions import hysteresis_positions


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    rng = np.random.default_rng(1)
    x = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 600)))
    x[200:260] = x[199]  # a constant stretch
    return x


@pytest.mark.parametrize("window", [1, 2, 5, 37, 120])
def test_rolling_kernels_match_pandas(series: np.ndarray, window: int) -> None:
    s = pd.Series(series)
    np.testing.assert_allclose(ind.sma(series, window), s.rolling(window).mean(), rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(ind.rolling_sum(series, window), s.rolling(window).sum(), rtol=1e-10, equal_nan=True)
    np.testing.assert_array_equal(ind.rolling_max(series, window), s.rolling(window).max())
    np.testing.assert_array_equal(ind.rolling_min(series, window), s.rolling(window).min())
    np.testing.assert_allclose(
        ind.ema(series, window)[window - 1 :], s.ewm(span=window, adjust=False).mean()[window - 1 :], rtol=1e-10
    )
    assert np.isnan(ind.ema(series, window)[: window - 1]).all()
    r = ind.log_returns(series)
    if window > 1:
        expected = pd.Series(r).rolling(window).std()
        np.testing.assert_allclose(ind.rolling_std(r, window), expected, rtol=1e-7, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("rows", [20, 19, 2], ids=["even", "odd", "two"])
def test_deviation_rows_of_a_table_equal_each_window_alone_and_the_general_kernel_bit_for_bit(series, rows) -> None:
    """Every row of a rolling std table is the value its window gives alone and the general kernel (NaN anywhere)
    gives, the constant stretch's exact zeros and the warm-up NaNs included."""
    from quant_organism.strategies.compiled import rolling as kernels

    r = ind.log_returns(series)
    windows = np.array([1, 2, 3, 5, 8, 13, 20, 21, 34, 37, 55, 60, 61, 89, 120, 144, 233, 400, 600, 650])
    windows = windows[:rows] if rows > 2 else np.array([20, 3])
    table = ind.rolling_stds(r, windows)
    assert table.tobytes() == kernels.rolling_std(r, windows).tobytes()
    for k, window in enumerate(windows):
        assert table[k].tobytes() == ind.rolling_std(r, int(window)).tobytes(), window
    if rows > 2:
        assert (table[6, 219:260] == 0.0).all()  # 20 returns of the constant stretch: exactly 0


def test_window_sums_are_correctly_rounded_on_a_long_series_and_deviations_near_exact() -> None:
    """Rolling sums are differences of compensated prefix sums (kernels._summed). A plain prefix sum would lose a
    window's last digits to the prefix's size, a Kahan sum slid along the bars leaves the errors of the values that
    left it (24 units in the last place on this series): checked here against exact rational sums."""
    from fractions import Fraction

    rng = np.random.default_rng(4)
    x = 6e4 * np.exp(np.cumsum(rng.normal(0, 0.01, 50_000)))  # hourly prices for six years
    r = ind.log_returns(x)
    windows = np.array([2, 7, 100, 2500])
    sums, stds = ind.rolling_sums(x, windows), ind.rolling_stds(r, windows)
    for k, w in enumerate(windows):
        for t in rng.integers(w, len(x), 12):
            exact = sum(Fraction(v) for v in x[t - w + 1 : t + 1])
            assert abs(Fraction(sums[k, t]) - exact) <= Fraction(np.spacing(float(exact))) / 2, (w, t)
            values = [Fraction(v) for v in r[t - w + 1 : t + 1]]
            mean = sum(values) / w
            variance = float(sum((v - mean) ** 2 for v in values) / (w - 1))
            assert abs(stds[k, t] ** 2 - variance) <= 1e-13 * variance, (w, t)


def test_windows_with_nan_are_undefined() -> None:
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0])
    np.testing.assert_array_equal(np.isnan(ind.sma(x, 3)), [True, True, True, True, True, False, False])
    np.testing.assert_array_equal(np.isnan(ind.rolling_max(x, 2)), [True, False, True, True, False, False, False])


def test_constant_windows_are_exact() -> None:
    x = np.full(300, 100.37)
    x[:50] = np.linspace(90, 110, 50)
    assert (ind.sma(x, 30)[80:] == 100.37).all()
    r = ind.log_returns(x)
    assert (ind.rolling_std(r, 20)[80:] == 0.0).all()
    assert np.isnan(ind.rsi(np.full(100, 5.0), 14)).all()  # nothing moved: RSI undefined, not 0 or 100


def test_rsi_matches_wilder_reference(series: np.ndarray) -> None:
    change = pd.Series(series).diff()
    gain = change.clip(lower=0).iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-change).clip(lower=0).iloc[1:].ewm(alpha=1 / 14, adjust=False).mean()
    expected = (100 * gain / (gain + loss)).to_numpy()
    got = ind.rsi(series, 14)
    assert np.isnan(got[:14]).all()
    np.testing.assert_allclose(got[14:], expected[13:], rtol=1e-9)


def test_atr_and_prior_channel_exclude_the_current_bar() -> None:
    high = np.array([10.0, 11, 12, 13, 20])
    low = np.array([9.0, 10, 11, 12, 13])
    close = np.array([9.5, 10.5, 11.5, 12.5, 19])
    tr = ind.true_range(high, low, close)
    np.testing.assert_array_equal(tr, [1.0, 1.5, 1.5, 1.5, 7.5])
    channel = ind.shift(ind.rolling_max(high, 3), 1)
    assert channel[4] == 13.0  # bar 4's own high (20) is not in its channel


def test_vwap_weights_by_volume() -> None:
    high = low = close = np.array([10.0, 20.0, 30.0])
    volume = np.array([1.0, 3.0, 0.0])
    vwap = ind.rolling_vwap(high, low, close, volume, 2)
    assert np.isnan(vwap[0]) and vwap[1] == pytest.approx(17.5) and vwap[2] == pytest.approx(20.0)
    assert np.isnan(ind.rolling_vwap(high, low, close, np.zeros(3), 2)).all()


def _run(le, lx, se, sx, **kw) -> list[int]:
    arr = lambda v: np.array(v, dtype=bool)[:, None]  # noqa: E731
    close = kw.pop("close", np.arange(1.0, len(le) + 1))
    return hysteresis_positions(arr(le), arr(lx), arr(se), arr(sx), close=close, **kw)[:, 0].tolist()


def test_state_machine_hysteresis_reversal_and_time_stop() -> None:
    f, t = False, True
    # enter, hold while neither exit nor entry, exit, then reverse straight from long to short
    assert _run([t, f, f, f, t, f], [f, f, t, f, f, f], [f, f, f, f, f, t], [f] * 6) == [1, 1, 0, 0, 1, -1]
    # contradictory entries stay flat
    assert _run([t], [f], [t], [f]) == [0]
    # time stop after 2 bars; no re-entry until the entry condition lapses once
    le = [t, t, t, t, f, t]
    assert _run(le, [f] * 6, [f] * 6, [f] * 6, max_hold=np.array([2])) == [1, 1, 0, 0, 0, 1]


def test_trailing_stop_uses_the_running_high_since_entry() -> None:
    close = np.array([10.0, 12.0, 15.0, 13.5, 12.9, 12.0])
    trail = np.full((6, 1), 2.0)
    le = [True] + [False] * 5
    got = _run(le, [False] * 6, [False] * 6, [False] * 6, close=close, trail=trail)
    assert got == [1, 1, 1, 1, 0, 0]  # 12.9 < 15 - 2 exits; 13.5 does not


def test_midpoints_and_stochastic_k_equal_their_array_formulas_bit_for_bit() -> None:
    """`kernels.rolling_range` computes both in one table; it must equal the max/min arithmetic it replaced,
    NaN gaps, a flat range (%K undefined) and windows longer than the series included."""
    rng = np.random.default_rng(3)
    n = 2_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high, low = close * (1 + rng.uniform(0, 0.01, n)), close * (1 - rng.uniform(0, 0.01, n))
    high[500], low[900] = np.nan, np.nan
    high[1000:1010] = low[1000:1010] = close[1000:1010] = 50.0
    periods = np.array([1, 2, 3, 7, 26, 52, 300, 1999, 2000, 4000])
    top, bottom = ind.rolling_maxes(high, periods), ind.rolling_mins(low, periods)
    np.testing.assert_array_equal(ind.midpoints(high, low, periods), (top + bottom) / 2.0)
    span = top - bottom
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(span > 0, (close - bottom) / span, np.nan) * 100.0
    got = ind.stochastic_ks(high, low, close, periods)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[:3, 1005]).all() and np.isfinite(got[4, 1100])  # a flat range is undefined, then defined again
