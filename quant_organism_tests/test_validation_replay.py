"""Stage 2, accelerated replay: the engine path agrees with the vectorised backtest, and a broken path fails."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest

from quant_organism.catalog import DataWindow, StrategyConfig
from quant_organism.market.frames import to_strategy_frame
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.runtime import PaperBook, StrategyRuntimeEngine
from quant_organism.strategies import BaseSeed, SeedGenes, SeedRegistry, SeedType, get_registry
from quant_organism.validation.replay import (
    ReplayConfig,
    consistency_score,
    replay,
    replay_stage,
    replay_stages,
    subperiod_returns,
)
from quant_organism.validation.stage_result import StageStatus

START = pd.Timestamp("2020-01-01", tz="UTC")
LENIENT = ReplayConfig(window_bars=360, min_consistency=0.0, min_trades=1)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    source = SyntheticSource(seed=21)
    end = START + pd.Timedelta(days=30)
    return {c: to_strategy_frame(source.candles(c, START, end), source.funding(c, START, end)) for c in ("BTC", "ETH")}


def genes(seed_type: str, **values) -> SeedGenes:
    return SeedGenes.from_gene_values(seed_type, "candidate", values)


CANDIDATES = [
    genes("ema_crossover", fast_period=5, slow_period=20, stop_loss=0.01, take_profit=0.02, position_size=0.7),
    genes("donchian_breakout", fast_period=10, slow_period=30, stop_loss=0.015),
    genes("rsi_filter", fast_period=6, slow_period=60, take_profit=0.015),
    genes("linear_svc", train_window=200, refit_every=100, stop_loss=0.02),
]


@pytest.mark.parametrize("candidate", CANDIDATES, ids=lambda g: g.seed_type.value)
def test_the_replay_agrees_with_the_backtest_and_passes(frames, candidate):
    result = replay_stage(candidate, frames, LENIENT)
    assert result.status is StageStatus.PASSED, result.reasons
    m = result.metrics
    assert m["agrees_with_backtest"] and m["max_equity_difference"] <= 1e-9
    assert m["bars"] == 360 and m["book_bars"] == 720 and m["coins"] == ["BTC", "ETH"]
    assert m["trade_count"] >= 1
    assert m["speedup_vs_real_time"] > 10_000 and m["bars_per_second"] > 10
    assert result.score == 1.0 and m["consistency"] == consistency_score(m["subperiod_returns"])  # agreement is the score
    assert np.prod(1 + np.array(m["subperiod_returns"])) - 1 == pytest.approx(m["total_return"])


class LateFillBook(PaperBook):
    """An engine bug on purpose: each order is queued one decision late (off by one in the order queue), so an
    order fills at the open after the next decision instead of the next open."""

    def submit(self, direction, fraction, time):
        due = getattr(self, "_queued", None)
        self._queued = (direction, fraction, time)
        if due is not None:
            super().submit(*due)


class LateFillEngine(StrategyRuntimeEngine):
    book_class = LateFillBook


def test_an_off_by_one_fill_in_the_engine_fails_the_candidate_as_a_bug(frames):
    candidate = CANDIDATES[0]
    assert replay_stage(candidate, frames, LENIENT).status is StageStatus.PASSED
    result = replay_stage(candidate, frames, LENIENT, engine_factory=LateFillEngine)
    assert result.status is StageStatus.FAILED
    assert result.metrics["agrees_with_backtest"] is False
    reason = result.reasons[0]
    assert "disagrees with the vectorised backtest" in reason and "bug" in reason
    assert "trade 1 differs" in reason


class PeekingSeed(BaseSeed):
    """Long when the next close is higher: uses a bar it cannot have seen."""

    seed_type = SeedType.SMA_TREND

    @classmethod
    def _batch_positions(cls, bars, genes_list):
        nxt = np.r_[bars.close[1:], bars.close[-1]]
        return np.repeat(np.sign(nxt - bars.close).astype(np.int8)[:, None], len(genes_list), axis=1)


def test_a_candidate_whose_signals_peek_ahead_fails(frames):
    factory = partial(StrategyRuntimeEngine, registry=SeedRegistry({SeedType.SMA_TREND: PeekingSeed}))
    result = replay_stage(genes("sma_trend"), frames, LENIENT, engine_factory=factory)
    assert result.status is StageStatus.FAILED and result.score == 0.0
    assert result.reasons[0].startswith("lookahead:")


TIMINGS = ("seconds", "bars_per_second", "speedup_vs_real_time", "backtest_seconds")


def test_candidates_replayed_together_get_the_verdicts_each_gets_alone(frames):
    """One engine for all the candidates that trade the same coins: same metrics, trades and reasons as each
    replayed alone; a candidate trading other coins and a repeated name each get their own engine."""
    only_btc = StrategyConfig.from_genes(CANDIDATES[1], fitness_score=0.0, backtest_sharpe=0.0, name="btc-only")
    only_btc = only_btc.model_copy(
        update={"data_window": DataWindow(start=START, end=START + pd.Timedelta(days=5), coins=("BTC",))}
    )
    strict = LENIENT.model_copy(update={"min_total_return": 0.0})  # some lose money: their reasons must come through
    batch = [*CANDIDATES, only_btc, CANDIDATES[0]]
    together = replay_stages(batch, frames, strict)
    for candidate, verdict in zip(batch, together, strict=True):
        alone = replay_stage(candidate, frames, strict)
        assert (verdict.status, verdict.score, verdict.reasons) == (alone.status, alone.score, alone.reasons)
        assert {k: v for k, v in verdict.metrics.items() if k not in TIMINGS} == {
            k: v for k, v in alone.metrics.items() if k not in TIMINGS
        }
    assert together[len(CANDIDATES)].metrics["coins"] == ["BTC"]
    assert {v.status for v in together} == {StageStatus.PASSED, StageStatus.FAILED}
    one = replay(CANDIDATES[2], frames, LENIENT)
    assert one.trades.index.tolist() == list(range(len(one.trades)))  # its own trades only, numbered from 0


def test_a_peeking_candidate_replayed_with_others_fails_alone(frames):
    seeds = {t: get_registry().seed_class(t) for t in get_registry().seed_types()}
    factory = partial(StrategyRuntimeEngine, registry=SeedRegistry({**seeds, SeedType.SMA_TREND: PeekingSeed}))
    batch = [CANDIDATES[0], genes("sma_trend"), CANDIDATES[2]]
    verdicts = replay_stages(batch, frames, LENIENT, engine_factory=factory)
    assert [v.status for v in verdicts] == [StageStatus.PASSED, StageStatus.FAILED, StageStatus.PASSED]
    assert verdicts[1].reasons[0].startswith("lookahead:") and verdicts[1].score == 0.0
    assert verdicts[2].metrics == {**replay_stage(CANDIDATES[2], frames, LENIENT).metrics, **{
        k: verdicts[2].metrics[k] for k in TIMINGS
    }}  # fmt: skip


def test_the_window_is_the_last_bars_before_end_and_ignores_later_bars(frames):
    end = START + pd.Timedelta(days=20)
    outcome = replay(CANDIDATES[1], frames, LENIENT, end=end)
    assert outcome.end == end - pd.Timedelta(hours=1)
    assert outcome.start == end - pd.Timedelta(hours=360)
    assert outcome.equity.index[0] == outcome.start and len(outcome.equity) == 360
    wild = {}
    for coin, frame in frames.items():
        frame = frame.copy()
        later = frame.index >= end
        frame.loc[later, ["open", "high", "low", "close"]] *= 3.0
        wild[coin] = frame
    again = replay(CANDIDATES[1], wild, LENIENT, end=end)
    pd.testing.assert_series_equal(outcome.equity, again.equity)
    pd.testing.assert_frame_equal(outcome.trades, again.trades)


def test_a_limited_warm_up_replays_the_same_window_and_still_agrees(frames):
    full = replay(CANDIDATES[0], frames, LENIENT)
    short = replay(CANDIDATES[0], frames, LENIENT.model_copy(update={"warmup_bars": 30}))
    assert short.agrees and full.agrees
    assert short.start == full.start and short.bars == full.bars


def test_thresholds_fail_the_candidate_with_their_reasons(frames):
    candidate = StrategyConfig.from_genes(CANDIDATES[0], fitness_score=1.0, backtest_sharpe=1.0).model_copy(
        update={"data_window": DataWindow(start=START, end=START + pd.Timedelta(days=5), coins=("ETH",))}
    )
    strict = ReplayConfig(window_bars=360, min_consistency=1.0, min_trades=10_000, max_drawdown=1e-6, min_total_return=1.0)
    result = replay_stage(candidate, frames, strict)
    assert result.status is StageStatus.FAILED
    assert result.metrics["coins"] == ["ETH"]  # the candidate's own coins
    assert result.metrics["agrees_with_backtest"]
    text = " | ".join(result.reasons)
    for word in ("consistency", "trade(s) in the window", "drawdown", "window return"):
        assert word in text


def test_too_short_a_history_skips_the_stage(frames):
    result = replay_stage(CANDIDATES[0], {"BTC": frames["BTC"].iloc[:1]}, LENIENT)
    assert result.status is StageStatus.SKIPPED and result.score is None
    with pytest.raises(ValueError, match="no bars for coin"):
        replay_stage(CANDIDATES[0], frames, LENIENT, coins=["SOL"])


def test_consistency_is_one_minus_the_coefficient_of_variation_floored_at_zero():
    assert consistency_score([0.02, 0.02, 0.02]) == pytest.approx(1.0)
    assert consistency_score([0.01, 0.03]) == pytest.approx(1.0 - 0.01 / 0.02)
    assert consistency_score([0.05, -0.04, 0.01]) == 0.0  # mean 0.0067, std 0.037: CV > 1
    assert consistency_score([-0.01, -0.01]) == 0.0  # losing on average
    assert consistency_score([]) == 0.0
    equity = pd.Series([101.0, 102.0, 103.0, 99.0, 100.0, 110.0])
    returns = subperiod_returns(equity, 100.0, 3)
    assert returns == pytest.approx([0.02, 99.0 / 102.0 - 1.0, 110.0 / 99.0 - 1.0])


def test_the_first_differing_trade_is_found_by_times_direction_reason_prices_or_pnl():
    from quant_organism.validation.replay import _first_differing_trade

    opened = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
    mine = pd.DataFrame(
        {
            "entry_time": opened,
            "exit_time": opened + pd.Timedelta(hours=1),
            "direction": [1, -1, 1, -1, 1, -1],
            "exit_reason": ["signal"] * 6,
            "entry_price": np.linspace(100.0, 105.0, 6),
            "exit_price": np.linspace(101.0, 106.0, 6),
            "pnl": np.linspace(-5.0, 5.0, 6),
        }
    )
    assert _first_differing_trade(mine, mine.copy(), 1e-6, 10_000.0) is None
    assert _first_differing_trade(mine, mine.iloc[:4].copy(), 1e-6, 10_000.0) is None  # only the paired trades
    changes = {
        "exit_time": (4, opened[4] + pd.Timedelta(hours=2)),
        "direction": (2, -1),
        "exit_reason": (5, "stop_loss"),
        "entry_price": (1, 101.0 * (1 + 1e-5)),
        "exit_price": (3, np.nan),
        "pnl": (0, -5.0 + 0.02),
    }
    for column, (row, value) in changes.items():
        theirs = mine.copy()
        theirs.loc[row, column] = value
        assert _first_differing_trade(mine, theirs, 1e-6, 10_000.0) == row, column
    within = mine.copy()
    within.loc[1, "entry_price"] *= 1 + 1e-7
    within.loc[2, "pnl"] += 0.005  # 5e-7 of the initial cash
    assert _first_differing_trade(mine, within, 1e-6, 10_000.0) is None


def real_frame(folder, coin: str) -> pd.DataFrame:
    """Hyperliquid 1h candles with their hourly funding placed on the bar that opens at floor(time)."""
    candles = pd.read_csv(folder / f"hyperliquid__{coin}_1h.csv")
    frame = candles.set_index(pd.to_datetime(candles.pop("timestamp_ms"), unit="ms", utc=True))
    frame.index.name = None
    funding = pd.read_csv(folder / f"hyperliquid__{coin}_funding_1h.csv")
    slot = pd.to_datetime(funding["time_ms"], unit="ms", utc=True).dt.floor("h")
    frame["funding_rate"] = funding.groupby(slot)["funding_rate"].last().reindex(frame.index)
    return frame[["open", "high", "low", "close", "volume", "funding_rate"]]


def test_real_hyperliquid_bars_replay_in_agreement_with_the_backtest(market_data_dir):
    frames = {coin: real_frame(market_data_dir, coin) for coin in ("BTC", "ETH")}
    assert frames["BTC"]["funding_rate"].notna().mean() > 0.9
    config = ReplayConfig(window_bars=2000, warmup_bars=500, min_consistency=0.0, min_trades=0)
    for candidate in CANDIDATES[:3]:
        result = replay_stage(candidate, frames, config)
        assert result.metrics["agrees_with_backtest"], result.reasons
        assert result.metrics["max_equity_difference"] <= 1e-9
        assert result.metrics["bars"] == 2000 and result.metrics["trade_count"] > 0


def test_product_replay_trades_day_by_day_as_paper_does_and_names_a_divergence(frames, monkeypatch):
    """The last days of a window traded through the ledger one day at a time match the backtest; with an
    execution bug planted in the paper books (fills one bar late) the same replay names what differs."""
    from quant_organism.runtime import StrategyRuntimeEngine
    from quant_organism.validation.replay import product_replay

    end = frames["BTC"].index[-1].floor("D")
    candidates = [SeedGenes.from_gene_values(g.seed_type, f"c{k}", g.gene_values()) for k, g in enumerate(CANDIDATES[:2])]
    assert product_replay(candidates, frames, end, days=3) == {g.seed_id: [] for g in candidates}
    monkeypatch.setattr(StrategyRuntimeEngine, "book_class", LateFillBook)
    diverged = product_replay(candidates, frames, end, days=3)
    assert any(problems for problems in diverged.values())
    assert all(p.split(":")[0] in frames for problems in diverged.values() for p in problems)
