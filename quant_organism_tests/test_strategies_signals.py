"""Each seed fires on the pattern it is built for, stays flat where it should, and rejects bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.strategies import SeedGenes, SeedType, SignalInputError, get_registry


def bars(close: np.ndarray, volume: np.ndarray | None = None, funding: np.ndarray | None = None) -> pd.DataFrame:
    """Hourly bars around a close path (open = previous close, no wicks)."""
    close = np.asarray(close, dtype=float)
    open_ = np.r_[close[0], close[:-1]]
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.full(len(close), 1000.0) if volume is None else volume,
        },
        index=pd.date_range("2024-01-01", periods=len(close), freq="h", tz="UTC"),
    )
    frame["funding_rate"] = 0.0 if funding is None else funding
    return frame


def path(*legs: tuple[int, float], noise: float = 0.0, start: float = 100.0) -> np.ndarray:
    """Close path from (bars, per-bar log drift) legs, plus optional alternating +-noise returns."""
    drift = np.concatenate([np.full(n, d) for n, d in legs])
    wiggle = noise * np.where(np.arange(len(drift)) % 2 == 0, 1.0, -1.0)
    wiggle[drift == 0.0] = 0.0  # flat legs stay exactly flat
    return start * np.exp(np.cumsum(drift + wiggle))


def signals(seed_type: SeedType, frame: pd.DataFrame, **genes: float) -> np.ndarray:
    base = SeedGenes.create_default(seed_type, "s").gene_values()
    g = SeedGenes.from_gene_values(seed_type, "s", {**base, **genes}, repair=False)
    return get_registry().create_seed(seed_type, g).generate_signals(frame).to_numpy()


@pytest.mark.parametrize("seed_type", list(SeedType), ids=lambda s: s.value)
def test_constant_prices_never_trade(seed_type: SeedType) -> None:
    frame = bars(np.full(600, 123.456))
    rng = np.random.default_rng(0)
    genes = [SeedGenes.create_default(seed_type, "d")] + [SeedGenes.random(seed_type, f"r{i}", rng) for i in range(6)]
    out = get_registry().batch_signals(seed_type, frame, genes)
    assert (out.to_numpy() == 0).all()


TREND = path((200, 0.0), (300, 0.003), (300, -0.003), noise=0.0002)


@pytest.mark.parametrize(
    "seed_type",
    [
        SeedType.EMA_CROSSOVER,
        SeedType.SMA_TREND,
        SeedType.DONCHIAN_BREAKOUT,
        SeedType.ATR_STOP,
        SeedType.ICHIMOKU,
        SeedType.VOLATILITY_SCALING,
    ],
    ids=lambda s: s.value,
)
def test_trend_seeds_follow_a_trend(seed_type: SeedType) -> None:
    out = signals(seed_type, bars(TREND))
    assert (out[:200] == 0).all(), "flat market: no position"
    assert out[499] == 1, "long at the end of the rise"
    assert out[799] == -1, "short at the end of the fall"
    assert (out[250:500] == 1).mean() > 0.5 and (out[550:800] == -1).mean() > 0.5


def test_donchian_breaks_out_on_the_first_close_above_the_previous_bars() -> None:
    close = path((100, 0.0), (5, 0.01))
    out = signals(SeedType.DONCHIAN_BREAKOUT, bars(close), slow_period=20, fast_period=10)
    assert (out[:100] == 0).all()
    # bar 100 closes above every earlier high; a channel that included bar 100 itself never could
    assert out[100] == 1
    down = signals(SeedType.DONCHIAN_BREAKOUT, bars(path((100, 0.0), (5, -0.01))), slow_period=20, fast_period=10)
    assert down[100] == -1
    # a volume filter blocks a breakout on ordinary volume and passes one on heavy volume
    volume = np.full(105, 1000.0)
    genes = {"filter_threshold": 2.0, "slow_period": 20, "fast_period": 10}
    assert signals(SeedType.DONCHIAN_BREAKOUT, bars(close, volume), **genes)[100] == 0
    volume[100] = 5000.0
    assert signals(SeedType.DONCHIAN_BREAKOUT, bars(close, volume), **genes)[100] == 1


def test_atr_trailing_stop_exits_a_long_on_a_sharp_drop() -> None:
    close = path((200, 0.0), (200, 0.003), (1, -0.06), (60, 0.0005), noise=0.0002)
    out = signals(SeedType.ATR_STOP, bars(close))
    assert out[399] == 1
    assert out[400] == 0, "the 6% drop is more than 3 ATRs below the running high"
    assert (out[400:405] == 0).all(), "no immediate re-entry after the stop"


def test_volatility_scaling_goes_flat_in_a_volatility_burst() -> None:
    calm = path((200, 0.0), (300, 0.003), noise=0.0002)
    burst = calm[-1] * np.exp(np.cumsum(0.003 + 0.03 * np.where(np.arange(40) % 2 == 0, 1.0, -1.0)))
    out = signals(SeedType.VOLATILITY_SCALING, bars(np.r_[calm, burst]))
    assert out[499] == 1
    assert (out[505:540] == 0).all()


def dip(depth: float, bars_down: int = 3) -> np.ndarray:
    """Gently rising, noisy prices, a sharp dip, then a recovery."""
    return path((300, 0.0005), (bars_down, -depth), (15, 0.01), (60, 0.0005), noise=0.002)


def test_rsi_buys_the_dip_and_respects_its_trend_filter() -> None:
    close = dip(0.03)
    out = signals(SeedType.RSI_FILTER, bars(close), filter_threshold=0.5)
    assert out[302] == 1, "RSI deep in oversold after three -3% bars"
    assert (out[:300] != 1).all()
    assert 1 not in out[310:340], "the recovery lifts RSI back over 50: the long is closed"
    assert out[320] == -1, "and the overbought rebound is faded"
    strict = signals(SeedType.RSI_FILTER, bars(close), filter_threshold=0.0, slow_period=50)
    assert strict[302] == 0, "below its SMA, a dip in an uptrend is not bought with filter 0"
    held = signals(SeedType.RSI_FILTER, bars(close), filter_threshold=0.5, exit_threshold=-40.0, signal_period=4)
    entry = int(np.argmax(held == 1))
    assert 299 <= entry <= 302 and (held[entry : entry + 4] == 1).all() and held[entry + 4] == 0, "4-bar time stop"


def test_stochastic_buys_the_turn_from_oversold() -> None:
    close = path((100, 0.0001), (20, -0.01), (40, 0.01), noise=0.001)
    out = signals(SeedType.STOCHASTIC, bars(close), filter_threshold=0.5, slow_period=50)
    assert (out[:100] == 0).all()
    assert (out[118:126] == 1).any(), "%K crosses above %D as the fall turns"
    assert out[-1] == 0, "exits once %K runs above 80"


def test_vwap_reversion_fades_a_spike_down() -> None:
    close = path((200, 0.0), (1, -0.05), (10, 0.005), (50, 0.0), noise=0.003)
    close[:200] = 100 * np.exp(0.003 * np.where(np.arange(200) % 2 == 0, 1.0, -1.0))
    out = signals(SeedType.VWAP_REVERSION, bars(close))
    assert (out[:200] == 0).all()
    assert out[200] == 1
    assert out[-1] == 0


def test_funding_carry_stands_against_the_paying_side() -> None:
    close = path((300, 0.0001), noise=0.001)
    rate = np.full(300, 2e-4)
    short = signals(SeedType.FUNDING_CARRY, bars(close, funding=rate))
    assert (short[:72] == 0).all(), "the trend guard's lookback is still warming up"
    assert (short[72:] == -1).all(), "longs pay: short"
    assert (signals(SeedType.FUNDING_CARRY, bars(close, funding=-rate))[72:] == 1).all(), "shorts pay: long"
    calm = signals(SeedType.FUNDING_CARRY, bars(close, funding=np.full(300, 1e-5)))
    assert (calm == 0).all(), "baseline funding is no signal"
    sparse = np.full(300, np.nan)
    sparse[::8] = 2e-4  # published every 8 bars, carried forward in between
    assert (signals(SeedType.FUNDING_CARRY, bars(close, funding=sparse))[72:] == -1).all()
    squeeze = path((300, 0.003), noise=0.001)
    assert signals(SeedType.FUNDING_CARRY, bars(squeeze, funding=rate))[200] == 0, "trend guard: no short into a rally"


def test_funding_carry_needs_funding_rates() -> None:
    frame = bars(path((50, 0.001))).drop(columns="funding_rate")
    with pytest.raises(SignalInputError, match="funding_rate"):
        signals(SeedType.FUNDING_CARRY, frame)
    assert (signals(SeedType.EMA_CROSSOVER, frame) == signals(SeedType.EMA_CROSSOVER, bars(path((50, 0.001))))).all()


def alternating_market(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Returns that flip sign every bar (plus noise): the next return is predictable from the last."""
    rng = np.random.default_rng(seed)
    r = 0.01 * np.where(np.arange(n) % 2 == 0, 1.0, -1.0) + rng.normal(0, 0.003, n)
    close = 100 * np.exp(np.cumsum(r))
    return bars(close), r


@pytest.mark.parametrize("seed_type", [SeedType.LINEAR_SVC, SeedType.PCA_TREE_QUANTILE], ids=lambda s: s.value)
def test_ml_seeds_learn_a_predictable_pattern(seed_type: SeedType) -> None:
    frame, r = alternating_market(900, seed=3)
    out = signals(seed_type, frame, train_window=300, refit_every=50)
    assert (out[:100] == 0).all(), "no model before a training set exists"
    live = out[300:-1]
    assert (live != 0).mean() > 0.8
    hits = np.sign(live[live != 0]) == np.sign(r[301:][live != 0])
    assert hits.mean() > 0.9, "positions anticipate the next bar's return"


def test_ml_seeds_stay_flat_on_noise_without_edge() -> None:
    rng = np.random.default_rng(9)
    frame = bars(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 900))))
    out = signals(SeedType.PCA_TREE_QUANTILE, frame, train_window=300, refit_every=50, entry_threshold=0.5)
    assert (out != 0).mean() < 0.05


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.tz_localize(None), "tz-aware UTC"),
        (lambda f: f.iloc[::-1], "strictly increasing"),
        (lambda f: pd.concat([f.iloc[:3], f.iloc[2:]]), "strictly increasing"),
        (lambda f: f.drop(columns="volume"), "missing column(s) ['volume']"),
        (lambda f: f.assign(close=np.r_[np.nan, f.close.to_numpy()[1:]]), "'close' must be finite and > 0"),
        (lambda f: f.assign(low=f.high * 2), "high < low"),
        (lambda f: f.reset_index(drop=True), "DatetimeIndex"),
        (lambda f: f.to_numpy(), "expected a pandas DataFrame"),
    ],
)
def test_bad_bars_are_rejected_clearly(mutate, message: str) -> None:
    frame = bars(path((10, 0.001)))
    with pytest.raises(SignalInputError) as err:
        get_registry().create_seed("sma_trend", SeedGenes.create_default("sma_trend", "s")).generate_signals(mutate(frame))
    assert message in str(err.value)


def test_batch_rejects_mixed_or_duplicate_genomes() -> None:
    frame = bars(path((10, 0.001)))
    registry = get_registry()
    a = SeedGenes.create_default("sma_trend", "a")
    with pytest.raises(ValueError, match=r"duplicate seed_id\(s\) in batch: \['a'\]"):
        registry.batch_signals("sma_trend", frame, [a, a])
    with pytest.raises(ValueError, match="runs sma_trend genes"):
        registry.batch_signals("sma_trend", frame, [a, SeedGenes.create_default("ema_crossover", "b")])
    empty = registry.batch_signals("sma_trend", frame.iloc[:0], [a])
    assert empty.shape == (0, 1) and list(empty.columns) == ["a"]
    assert registry.batch_signals("sma_trend", frame, []).shape == (10, 0)


def test_a_prefix_of_checked_bars_is_what_checking_the_frames_first_rows_gives() -> None:
    """The runtime proves precomputed signals on `Bars.prefix` views: each must equal `prepare_bars` of the frame's
    first rows (funding carried forward causally, regime columns cut) and start with empty caches, so a prefix's
    signals can never read an indicator row computed on the whole frame."""
    from quant_organism.core.bars import REGIME_BAR_COLUMNS
    from quant_organism.strategies.ohlcv import prepare_bars

    rng = np.random.default_rng(4)
    funding = rng.normal(1e-5, 1e-5, 300)
    funding[rng.random(300) < 0.3] = np.nan  # gaps: carried forward from the last published rate
    frame = bars(path((300, 0.001), noise=0.01), funding=funding)
    for name in REGIME_BAR_COLUMNS:
        frame[name] = rng.integers(0, 3, 300).astype(float)
    whole = prepare_bars(frame)
    whole.rows[("sma", 20)] = np.zeros(300)  # a cache entry of the whole frame
    for stop in (1, 57, 299, 300):
        cut, expected = whole.prefix(stop), prepare_bars(frame.iloc[:stop])
        assert cut.index.equals(expected.index) and not cut.rows and not cut.masks
        for name in ("open", "high", "low", "close", "volume", "funding"):
            np.testing.assert_array_equal(getattr(cut, name), getattr(expected, name))
        assert cut.regimes.keys() == expected.regimes.keys() == set(REGIME_BAR_COLUMNS)
        for name in cut.regimes:
            np.testing.assert_array_equal(cut.regimes[name], expected.regimes[name])
    with pytest.raises(ValueError, match="prefix of 301 bars"):
        whole.prefix(301)
