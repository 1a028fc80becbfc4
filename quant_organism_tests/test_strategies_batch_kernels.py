"""The batch machinery behind fast signals: many-period kernels, indicator tables, rule kernels, tracker.

A batch computes each distinct period once, many periods per pass, and evaluates each seed's rule in
a scalar numba kernel. These tests pin down that this changes nothing: every row of a many-period
kernel equals that period computed alone (and pandas), tables hand each genome its own period, and
the rule kernels give exactly the positions of the plain array formulation of the seeds' rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.strategies import SeedGenes, SeedType, get_registry
from quant_organism.strategies import indicators as ind
from quant_organism.strategies.compiled import rolling as kernels
from quant_organism.strategies.compiled.seed_rules import TOL
from quant_organism.strategies.ohlcv import prepare_bars
from quant_organism.strategies.positions import hysteresis_positions, track_positions

from .test_strategies_causality import regime_market

PERIODS = np.array([1, 2, 3, 7, 7, 30, 199, 200, 250])  # a duplicate, and periods as long as the data or longer


@pytest.fixture(scope="module")
def awkward() -> np.ndarray:
    """200 values with NaN gaps, a constant stretch and tied values (rounded prices)."""
    rng = np.random.default_rng(4)
    x = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200))), 1)
    x[50:80] = x[49]
    x[[5, 120, 121, 150]] = np.nan
    return x


@pytest.mark.parametrize(
    ("many", "one"),
    [
        (ind.smas, ind.sma),
        (ind.rolling_sums, ind.rolling_sum),
        (ind.rolling_stds, ind.rolling_std),
        (ind.rolling_maxes, ind.rolling_max),
        (ind.rolling_mins, ind.rolling_min),
    ],
    ids=lambda f: f.__name__,
)
def test_each_row_of_a_many_period_kernel_equals_that_period_alone(awkward: np.ndarray, many, one) -> None:
    rows = many(awkward, PERIODS)
    assert rows.shape == (len(PERIODS), len(awkward))
    for row, period in zip(rows, PERIODS):
        alone = one(awkward, int(period))
        np.testing.assert_array_equal(row, alone)  # bit for bit: other windows in the pass do not leak in
        expected = getattr(pd.Series(awkward).rolling(int(period)), {"smas": "mean", "rolling_sums": "sum",
                           "rolling_stds": "std", "rolling_maxes": "max", "rolling_mins": "min"}[many.__name__])()  # fmt: skip
        if many is ind.rolling_stds and period == 1:
            assert np.isnan(row).all()  # one value has no sample deviation
        else:
            np.testing.assert_allclose(row, expected, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_the_one_pass_rsi_and_vwap_tables_equal_their_composition_bit_for_bit() -> None:
    """RSI and VWAP tables are written in one pass each (kernels.rsi_into, rolling_vwap_dense_into) instead of
    being composed from two smoothed or summed tables and numpy's division; every bit must stay the same
    (compared as integers), on flat stretches, windows without volume and periods longer than the data."""

    def composed_rsis(close, periods):
        out = np.full((len(periods), len(close)), np.nan)
        change = np.diff(close)
        gain = ind.wilders(np.maximum(change, 0.0), periods)
        total = ind.wilders(np.maximum(-change, 0.0), periods)
        total += gain
        gain *= 100.0
        np.divide(gain, total, out=out[:, 1:], where=total > 0)
        return out

    def composed_vwaps(high, low, close, volume, periods):
        typical = (high + low + close) / 3.0
        return ind._positive_div(ind.rolling_sums(typical * volume, periods), ind.rolling_sums(volume, periods))

    rng = np.random.default_rng(11)
    for trial in range(12):
        n = int(rng.integers(2, 1500))
        close = np.round(np.cumsum(rng.normal(size=n)) + 500, trial % 4)  # rounding: zero changes, ties
        close[: n // (2 + trial % 3)] = close[0]  # a flat start: gains and losses of exactly zero
        high, low = close + np.abs(rng.normal(size=n)), close - np.abs(rng.normal(size=n))
        volume = np.abs(rng.normal(size=n)) * 100
        volume[rng.integers(0, n, n // 4)] = 0.0  # windows without volume: NaN
        volume[: n // 3] = 5.0  # a constant stretch: the exact-value rule of the sums
        periods = np.unique(np.r_[1, 2, rng.integers(1, 400, 20)])
        assert np.array_equal(ind.rsis(close, periods).view(np.int64), composed_rsis(close, periods).view(np.int64))
        vwaps = ind.rolling_vwaps(high, low, close, volume, periods)
        assert np.array_equal(vwaps.view(np.int64), composed_vwaps(high, low, close, volume, periods).view(np.int64))
    with_gap = volume.copy()
    with_gap[n // 2] = np.nan  # a NaN inside: the general kernels, as before
    np.testing.assert_array_equal(
        ind.rolling_vwaps(high, low, close, with_gap, periods), composed_vwaps(high, low, close, with_gap, periods)
    )
    assert kernels.rsi_table(close[:1], periods).shape == (len(periods), 1)


@pytest.mark.parametrize("mean", [True, False])
def test_the_dense_kernels_for_series_with_nan_only_as_warm_up_equal_the_general_ones(awkward: np.ndarray, mean) -> None:
    rng = np.random.default_rng(9)
    walk = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 3000))), 2)  # ties and constant stretches
    walk[700:760] = walk[699]
    series = np.stack([np.nan_to_num(awkward, nan=42.0).repeat(15), walk, np.full(3000, 7.25), -walk, walk * 1e6])
    periods = np.array([1, 2, 3, 7, 30, 59, 60, 61, 199, 2999, 3000, 3001])
    source = np.arange(len(periods)) % len(series)
    for lead in (0, 1, 45, 2999):  # warm-ups: none (prices), one value (returns), 45, all but the last
        warm = series.copy()
        warm[:, :lead] = np.nan
        dense = kernels.rolling_sum_mean_dense(warm, lead, source, periods, mean)
        np.testing.assert_array_equal(dense, kernels.rolling_sum_mean(warm, source, periods, mean))  # bit for bit
        for row in warm:
            np.testing.assert_array_equal(kernels.rolling_std_dense(row, lead, periods), kernels.rolling_std(row, periods))
        assert ind._warm_up(warm) == lead
        # the indicators take the dense kernels for such input and the general ones otherwise, with one result
        np.testing.assert_array_equal(ind.smas(warm, periods, source), kernels.rolling_sum_mean(warm, source, periods, True))
    ragged = series.copy()
    ragged[0, :3] = np.nan
    assert ind._warm_up(ragged) is None and ind._warm_up(awkward[None, :]) is None
    np.testing.assert_array_equal(ind.rolling_stds(awkward, PERIODS), kernels.rolling_std(awkward, PERIODS))


def test_smoothers_and_oscillators_in_many_periods_equal_one_period(awkward: np.ndarray) -> None:
    x = np.nan_to_num(awkward, nan=100.0)  # these need finite input
    high, low, volume = x * 1.01, x * 0.99, np.abs(np.sin(np.arange(len(x)))) * 1000
    for row, p in zip(ind.emas(x, PERIODS), PERIODS):
        np.testing.assert_array_equal(row, ind.ema(x, int(p)))
    for row, p in zip(ind.rsis(x, PERIODS), PERIODS):
        np.testing.assert_array_equal(row, ind.rsi(x, int(p)))
    for row, p in zip(ind.midpoints(high, low, PERIODS), PERIODS):
        np.testing.assert_array_equal(row, (ind.rolling_max(high, int(p)) + ind.rolling_min(low, int(p))) / 2.0)
    for row, p in zip(ind.rolling_vwaps(high, low, x, volume, PERIODS), PERIODS):
        np.testing.assert_array_equal(row, ind.rolling_vwap(high, low, x, volume, int(p)))
    for row, p in zip(ind.momenta(x, PERIODS), PERIODS):
        np.testing.assert_array_equal(row, ind.ratio(x, ind.shift(x, int(p))))
    k = ind.stochastic_ks(high, low, x, PERIODS)
    for row, p in zip(k, PERIODS):
        hh, ll = ind.rolling_max(high, int(p)), ind.rolling_min(low, int(p))
        np.testing.assert_array_equal(row, 100.0 * ind.safe_div(x - ll, hh - ll))


def test_sma_of_several_series_reads_each_window_from_its_own_series(awkward: np.ndarray) -> None:
    series = np.stack([awkward, awkward[::-1], np.full(len(awkward), 3.0)])
    source = np.array([2, 0, 1, 0])
    periods = np.array([5, 5, 12, 40])
    rows = ind.smas(series, periods, source=source)
    for row, s, p in zip(rows, source, periods):
        np.testing.assert_array_equal(row, ind.sma(series[s], int(p)))
    with pytest.raises(ValueError, match="one row of x"):
        ind.smas(series, periods, source=np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="periods must be >= 1"):
        ind.smas(awkward, np.array([3, 0]))


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return regime_market(900, seed=8)


def test_tables_compute_each_period_once_and_point_each_genome_at_its_own(market: pd.DataFrame) -> None:
    table = ind.Indicators(prepare_bars(market))
    fast, slow = np.array([12, 5, 12, 30]), np.array([30, 48, 100, 48])
    rows, (fast_row, slow_row) = table.table("ema", fast, slow)
    assert len(rows) == len({*fast, *slow}) == 5  # 5, 12, 30, 48, 100
    for g in range(len(fast)):
        np.testing.assert_array_equal(rows[fast_row[g]], ind.ema(market["close"].to_numpy(), int(fast[g])))
        np.testing.assert_array_equal(rows[slow_row[g]], ind.ema(market["close"].to_numpy(), int(slow[g])))
    k_period, d_period = np.array([14, 14, 5, 14]), np.array([3, 3, 3, 7])
    d_rows, d_row = table.stochastic_d_table(k_period, d_period)
    assert len(d_rows) == 3
    b = table.bars
    for g in range(len(k_period)):
        k = ind.stochastic_ks(b.high, b.low, b.close, [k_period[g]])[0]
        np.testing.assert_array_equal(d_rows[d_row[g]], ind.sma(k, int(d_period[g])))
    kept = table.bars.rows[("stochastic_d",)]  # %D rows are kept per (k, d) pair, as other indicators' per period
    assert len(kept.slot) == 3
    again, again_row = table.stochastic_d_table(np.array([5, 14, 9]), np.array([3, 7, 3]))
    assert len(kept.slot) == 4  # only (9, 3) was new
    np.testing.assert_array_equal(again[again_row[0]], d_rows[d_row[2]])
    np.testing.assert_array_equal(again[again_row[1]], d_rows[d_row[3]])
    with pytest.raises(ValueError, match="one %D period per %K period"):
        table.stochastic_d_table(np.array([5, 14]), np.array([3]))
    with pytest.raises(ValueError, match="unknown indicator 'macd'"):
        table.table("macd", fast)


def test_trailing_stop_from_a_scale_row_equals_an_explicit_trail_matrix() -> None:
    rng = np.random.default_rng(2)
    n, genomes = 400, 5
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    le, se = rng.random((2, n, genomes)) < 0.05
    lx, sx = rng.random((2, n, genomes)) < 0.02
    scale = np.abs(rng.normal(1.0, 0.3, (3, n)))
    scale[1, :50] = np.nan  # no stop while the scale is undefined
    row, mult = np.array([0, 1, 2, 1, 0]), np.array([0.5, 1.0, 2.0, 3.0, 0.0])
    trail = (mult[:, None] * scale[row]).T
    cond = np.stack([le.T, lx.T, se.T, sx.T])
    got = track_positions(cond, close, trail_scale=scale, trail_row=row, trail_mult=mult)
    np.testing.assert_array_equal(got.T, hysteresis_positions(le, lx, se, sx, close=close, trail=trail))
    assert not np.array_equal(got, track_positions(cond, close)), "the stop must bite somewhere"
    with pytest.raises(ValueError, match="trail_row points outside"):
        track_positions(cond, close, trail_scale=scale, trail_row=row + 1, trail_mult=mult)
    with pytest.raises(ValueError, match=r"conditions must be \(4, genomes, bars\)"):
        track_positions(cond[:3], close)


def _reference_track(le, lx, se, sx, close, max_hold, trail) -> list[int]:
    """The tracker's rules (positions.py's docstring) bar by bar, in plain Python: one genome's positions."""
    pos, held, extreme, long_armed, short_armed, out = 0, 0, 0.0, True, True, []
    for t, c in enumerate(close):
        long_armed, short_armed = long_armed or not le[t], short_armed or not se[t]
        go_long, go_short = le[t] and long_armed and not se[t], se[t] and short_armed and not le[t]
        if pos != 0:
            held += 1
            extreme = max(extreme, c) if pos == 1 else min(extreme, c)
            beyond = c < extreme - trail[t] if pos == 1 else c > extreme + trail[t]  # the trailing stop
            stopped = (max_hold > 0 and held >= max_hold) or bool(beyond)
            if go_short if pos == 1 else go_long:
                pos, held, extreme = -pos, 0, c
            elif stopped:
                long_armed, short_armed = (False, short_armed) if pos == 1 else (long_armed, False)
                pos = 0
            elif lx[t] if pos == 1 else sx[t]:
                pos = 0
        elif go_long or go_short:
            pos, held, extreme = (1 if go_long else -1), 0, c
        out.append(pos)
    return out


@pytest.mark.parametrize("n", [7, 8, 403, 1000])
def test_the_tracker_is_its_rules_bar_by_bar_through_long_quiet_stretches(n) -> None:
    """The compiled tracker passes eight bars at a time where it is flat without an entry condition: the same
    positions as the rules applied bar by bar, with quiet stretches of every length and alignment, exits and both
    stops, and a bar count that is not a multiple of eight."""
    rng = np.random.default_rng(n)
    genomes = 12
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    quiet = np.repeat(rng.random((n // 5 + 1, genomes)) < 0.6, 5, axis=0)[:n]  # stretches where no entry holds
    quiet[: int(rng.integers(0, 9))] = True  # an unaligned first stretch
    le, se = (rng.random((2, n, genomes)) < 0.15) & ~quiet
    lx, sx = rng.random((2, n, genomes)) < 0.05
    scale = np.abs(rng.normal(1.0, 0.3, (1, n)))
    row, mult = np.zeros(genomes, np.int64), rng.choice([0.0, 1.0, 3.0], genomes)
    max_hold = rng.choice([0, 3, 20], genomes)
    cond = np.stack([le.T, lx.T, se.T, sx.T])
    got = track_positions(cond, close, max_hold=max_hold, trail_scale=scale, trail_row=row, trail_mult=mult)
    for g in range(genomes):
        trail = mult[g] * scale[0]  # a multiple of 0 trails the extreme itself
        expected = _reference_track(le[:, g], lx[:, g], se[:, g], sx[:, g], close, max_hold[g], trail)
        assert got[g].tolist() == expected, g
    assert (got != 0).any() and (got == 0).any()


@pytest.mark.parametrize("n", [7, 8, 403, 1000])
def test_the_tracker_is_its_rules_bar_by_bar_through_long_held_stretches(n) -> None:
    """The compiled tracker also passes eight bars at a time where it holds a position with nothing to watch (no
    trailing stop, a time stop further than eight bars, neither the opposite entry nor its own exit): the same
    positions as the rules applied bar by bar, through held stretches of every length and alignment whose own
    entry holds on every bar or not (re-arming after a stop), time stops near and across word edges, and
    reversals."""
    rng = np.random.default_rng(100 + n)
    genomes = 16
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    kind = np.repeat(rng.integers(0, 4, (n // 6 + 1, genomes)), 6, axis=0)[:n]  # 0 quiet, 1 long, 2 short, 3 noisy
    kind = np.roll(kind, int(rng.integers(0, 6)), axis=0)  # stretches at every alignment
    draw = rng.random((4, n, genomes))
    dense = rng.random(genomes) < 0.5  # genomes whose held side's entry holds on every bar
    le = np.where(kind == 1, dense | (draw[0] < 0.8), (kind == 3) & (draw[0] < 0.15))
    se = np.where(kind == 2, dense | (draw[2] < 0.8), (kind == 3) & (draw[2] < 0.15))
    lx = (kind == 3) & (draw[1] < 0.1)
    sx = (kind == 3) & (draw[3] < 0.1)
    max_hold = rng.choice([0, 0, 3, 8, 9, 15, 16, 17, 40], genomes)
    cond = np.stack([le.T, lx.T, se.T, sx.T])
    got = track_positions(cond, close, max_hold=max_hold)
    for g in range(genomes):
        expected = _reference_track(le[:, g], lx[:, g], se[:, g], sx[:, g], close, max_hold[g], np.full(n, np.inf))
        assert got[g].tolist() == expected, g
    if n >= 400:
        assert (got == 1).sum() > n and (got == -1).sum() > n  # long and short stretches held


# --- the rule kernels against the plain array formulation of four seeds' rules ---------------------
def _lag(matrix: np.ndarray, lags: np.ndarray) -> np.ndarray:
    out = np.full(matrix.shape, np.nan)
    for g, lag in enumerate(lags):
        if lag < len(matrix):
            out[lag:, g] = matrix[: len(matrix) - lag, g]
    return out


def _columns(fn, periods) -> np.ndarray:
    return np.column_stack([fn(int(p)) for p in periods])


def _reference_ichimoku(b, genes) -> np.ndarray:
    col = lambda name: np.array([float(g.gene(name)) for g in genes])  # noqa: E731
    mid = lambda name: _columns(lambda p: ind.midpoint(b.high, b.low, p), col(name))  # noqa: E731
    disp = col("signal_period").astype(int)
    close = b.close[:, None]
    tenkan, kijun = mid("fast_period"), mid("slow_period")
    span_a, span_b = _lag((tenkan + kijun) / 2.0, disp), _lag(mid("senkou_period"), disp)
    top, bottom = np.maximum(span_a, span_b), np.minimum(span_a, span_b)
    chikou = _columns(lambda p: ind.ratio(b.close, ind.shift(b.close, p)), disp)
    cross, to_kijun = ind.ratio(tenkan, kijun), ind.ratio(close, kijun)
    entry, exit_, mom = col("entry_threshold"), col("exit_threshold"), col("filter_threshold")
    with np.errstate(invalid="ignore"):
        le = (ind.ratio(close, top) > entry + TOL) & (cross > TOL) & (chikou > mom + TOL)
        se = (ind.ratio(close, bottom) < -entry - TOL) & (cross < -TOL) & (chikou < -mom - TOL)
        return hysteresis_positions(le, ~(to_kijun >= -exit_), se, ~(to_kijun <= exit_), close=b.close)


def _reference_donchian(b, genes) -> np.ndarray:
    col = lambda name: np.array([float(g.gene(name)) for g in genes])  # noqa: E731
    prior = lambda fn, x, name: _columns(lambda p: ind.shift(fn(x, p), 1), col(name))  # noqa: E731
    close = b.close[:, None]
    entry, exit_, mult = col("entry_threshold"), col("exit_threshold"), col("filter_threshold")
    baseline = prior(ind.sma, b.volume, "signal_period")
    with np.errstate(invalid="ignore"):
        volume_ok = (mult <= 0) | (b.volume[:, None] >= mult * baseline)
        le = (ind.ratio(close, prior(ind.rolling_max, b.high, "slow_period")) > entry + TOL) & volume_ok
        se = (ind.ratio(close, prior(ind.rolling_min, b.low, "slow_period")) < -entry - TOL) & volume_ok
        lx = ~(ind.ratio(close, prior(ind.rolling_min, b.low, "fast_period")) >= -exit_)
        sx = ~(ind.ratio(close, prior(ind.rolling_max, b.high, "fast_period")) <= exit_)
    return hysteresis_positions(le, lx, se, sx, close=b.close)


def _reference_stochastic(b, genes) -> np.ndarray:
    col = lambda name: np.array([float(g.gene(name)) for g in genes])  # noqa: E731
    k_of = lambda p: ind.stochastic_ks(b.high, b.low, b.close, [p])[0]  # noqa: E731
    k = _columns(k_of, col("fast_period"))
    d = np.column_stack([ind.sma(k_of(int(g.fast_period)), int(g.signal_period)) for g in genes])
    one = np.ones(len(genes), int)
    k_prev, d_prev = _lag(k, one), _lag(d, one)
    gap = ind.ratio(b.close[:, None], _columns(lambda p: ind.sma(b.close, p), col("slow_period")))
    entry, exit_, tol = col("entry_threshold"), col("exit_threshold"), col("filter_threshold")
    with np.errstate(invalid="ignore"):
        le = (k > d) & (k_prev <= d_prev) & (50.0 - d > entry + TOL) & (gap >= -tol)
        se = (k < d) & (k_prev >= d_prev) & (d - 50.0 > entry + TOL) & (gap <= tol)
        return hysteresis_positions(le, ~(50.0 - k >= exit_), se, ~(k - 50.0 >= exit_), close=b.close)


def _reference_volatility_scaling(b, genes) -> np.ndarray:
    col = lambda name: np.array([float(g.gene(name)) for g in genes])  # noqa: E731
    returns = ind.log_returns(b.close)
    vol = lambda name: _columns(lambda p: ind.rolling_std(returns, p), col(name))  # noqa: E731
    lookback = col("signal_period").astype(int)
    growth = np.log1p(_columns(lambda p: ind.ratio(b.close, ind.shift(b.close, p)), lookback))
    base, short = vol("slow_period"), vol("fast_period")
    entry, exit_, cap = col("entry_threshold"), col("exit_threshold"), col("filter_threshold")
    with np.errstate(invalid="ignore"):
        score = ind.safe_div(growth, base * np.sqrt(lookback))
        calm = ind.safe_div(short, base) <= cap  # a storm (or no baseline) forbids entries and forces exits
        le, se = (score > entry + TOL) & calm, (score < -entry - TOL) & calm
        return hysteresis_positions(le, ~(score >= exit_) | ~calm, se, ~(score <= -exit_) | ~calm, close=b.close)


@pytest.mark.parametrize(
    ("seed_type", "reference"),
    [
        (SeedType.ICHIMOKU, _reference_ichimoku),
        (SeedType.DONCHIAN_BREAKOUT, _reference_donchian),
        (SeedType.STOCHASTIC, _reference_stochastic),
        (SeedType.VOLATILITY_SCALING, _reference_volatility_scaling),
    ],
    ids=lambda x: getattr(x, "value", ""),
)
def test_rule_kernels_equal_the_array_formulation(market: pd.DataFrame, seed_type: SeedType, reference) -> None:
    rng = np.random.default_rng(11)
    genes = [SeedGenes.create_default(seed_type, "default")] + [SeedGenes.random(seed_type, f"r{i}", rng) for i in range(9)]
    got = get_registry().batch_signals(seed_type, market, genes).to_numpy()
    expected = reference(prepare_bars(market), genes)
    assert (expected != 0).mean() > 0.01, "all flat: the comparison would prove little"
    np.testing.assert_array_equal(got, expected)


def test_the_kernels_on_uninitialised_tables_write_every_value(monkeypatch, awkward: np.ndarray) -> None:
    """Tables whose kernels write every value (NaN included) are not filled with NaN first (kernels._blank_table):
    with a table of garbage, each must give the very bits it gives on a table of NaN."""

    rng = np.random.default_rng(2)
    prices = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400))), 1)
    prices[100:140] = prices[99]  # flat: zero changes, equal windows
    high, low, volume = prices * 1.01, prices * 0.99, np.where(np.arange(400) % 7 == 0, 0.0, 50.0)
    returns = ind.log_returns(prices)
    periods = np.array([1, 2, 3, 7, 30, 200, 399, 400, 401])

    def tables() -> list[np.ndarray]:
        return [
            ind.smas(prices, periods), ind.rolling_stds(returns, periods), ind.rolling_maxes(awkward, periods),
            ind.rolling_mins(prices, periods), ind.emas(prices, periods), ind.rsis(prices, periods),
            ind.rolling_vwaps(high, low, prices, volume, periods), ind.momenta(awkward, periods),
            ind.midpoints(awkward, awkward - 1, periods), ind.stochastic_ks(awkward + 1, awkward - 1, awkward, periods),
        ]  # fmt: skip

    monkeypatch.setattr(kernels, "_blank_table", kernels._nan_table)
    on_nan = tables()
    monkeypatch.setattr(kernels, "_blank_table", lambda rows, bars: np.full((rows, bars), -123.25))
    for garbage, nan in zip(tables(), on_nan):
        assert not (garbage == -123.25).any()
        assert np.array_equal(garbage.view(np.int64), nan.view(np.int64))


def test_the_kernels_of_several_series_refuse_series_of_different_lengths(awkward: np.ndarray) -> None:
    """The compiled kernels that read several series index all of them by the first one's bars without bounds
    checks: a shorter close used to be read past its end (a test of this file did so, and failed once in a suite
    run on what it read). Their entry points refuse it, whichever indicator calls them."""
    with pytest.raises(ValueError, match="same length"):
        ind.stochastic_ks(np.ones(400), np.ones(400), awkward, np.array([3]))
    with pytest.raises(ValueError, match="same length"):
        ind.midpoints(np.ones(400), awkward, np.array([3]))
    with pytest.raises(ValueError, match="same length"):
        kernels.rolling_vwap_dense(np.ones(400), np.ones(len(awkward)), np.array([3], np.int64))
