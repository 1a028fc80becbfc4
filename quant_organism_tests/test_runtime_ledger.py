"""The DuckDB paper ledger: idempotent writes, exact resumption, paper metrics, and decay marking in a real store."""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pandas as pd
import pytest

from quant_organism.catalog import DeploymentStatus, StrategyConfig, StrategyStore
from quant_organism.market.frames import to_strategy_frame
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.runtime import (
    DecayRules,
    PaperLedger,
    PaperTrader,
    RuntimePolicy,
    StrategyRuntimeEngine,
    decaying_strategies,
    mark_decaying,
)
from quant_organism.runtime.ledger import TABLES
from quant_organism.strategies import SeedGenes

START = pd.Timestamp("2020-01-01", tz="UTC")
KEYS = {
    "orders": ["strategy", "coin", "bar_time"],
    "fills": ["strategy", "coin", "bar_time", "seq"],
    "positions": ["strategy", "coin", "bar_time"],
    "pnl": ["strategy", "coin", "bar_time"],
    "trades": ["strategy", "coin", "entry_time"],
}


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    source = SyntheticSource(seed=11)
    end = START + pd.Timedelta(days=20)
    return {c: to_strategy_frame(source.candles(c, START, end), source.funding(c, START, end)) for c in ("BTC", "ETH")}


def configs() -> list[StrategyConfig]:
    a = SeedGenes.from_gene_values(
        "ema_crossover", "a", {"fast_period": 4, "slow_period": 16, "stop_loss": 0.01, "take_profit": 0.02}
    )
    b = SeedGenes.from_gene_values("donchian_breakout", "b", {"fast_period": 8, "slow_period": 24, "stop_loss": 0.02})
    return [
        StrategyConfig.from_genes(g, fitness_score=1.0, backtest_sharpe=1.0, name=n).model_copy(update={"allocation": 0.5})
        for g, n in ((a, "ema_a"), (b, "donchian_b"))
    ]


def trader(ledger: PaperLedger, strategies=None) -> PaperTrader:
    engine = StrategyRuntimeEngine(
        strategies or configs(), policy=RuntimePolicy(), coins=["BTC", "ETH"], signal_mode="precomputed"
    )
    return PaperTrader(engine, ledger)


def dump(ledger: PaperLedger) -> dict[str, pd.DataFrame]:
    return {name: ledger.table(name).sort_values(KEYS[name]).reset_index(drop=True) for name in TABLES} | {
        "books": ledger.table("books").sort_values(["strategy", "coin"]).reset_index(drop=True)
    }


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=False, rtol=1e-12, obj=name)


def test_ledger_rows_are_what_the_engine_did(tmp_path, frames):
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    summary = trader(ledger).run(frames)
    result = summary.result
    assert summary.bars == 20 * 24 and summary.books == 4
    tables = dump(ledger)
    assert len(tables["positions"]) == len(tables["pnl"]) == 4 * 480
    assert len(tables["orders"]) == len(result.decisions) > 10
    assert len(tables["fills"]) == len(result.fills)
    assert len(tables["trades"]) == len(result.trades)  # closed ones; an open position is in `positions`
    assert set(tables["trades"]["exit_reason"]) <= {"signal", "stop_loss", "take_profit"}
    pnl = tables["pnl"]
    assert pnl.groupby(["strategy", "coin"])["pnl"].sum().add(2_500.0).to_dict() == pytest.approx(
        pnl.groupby(["strategy", "coin"])["equity"].last().to_dict()
    )
    assert (pnl["fees"] > 0).any() and (pnl["funding"] != 0).any()
    assert tables["books"]["initial_cash"].tolist() == [2_500.0] * 4  # allocation 0.5 split over 2 coins


def test_rerunning_the_same_bars_does_not_duplicate_rows(tmp_path, frames):
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    trader(ledger).run(frames)
    once = dump(ledger)
    trader(ledger).run(frames, start=START)  # from scratch again
    assert_same(once, dump(ledger))
    trader(ledger).run(frames, start=START + pd.Timedelta(days=7, hours=5))  # resume inside the record
    assert_same(once, dump(ledger))
    summary = trader(ledger).run(frames)  # nothing new to trade
    assert sum(summary.rows.values()) == 0
    assert_same(once, dump(ledger))
    with duckdb.connect(str(ledger.path)) as con:
        for name, keys in KEYS.items():
            total, distinct = con.execute(f"SELECT count(*), count(DISTINCT ({', '.join(keys)})) FROM {name}").fetchone()
            assert total == distinct


def test_trading_day_by_day_gives_the_ledger_of_one_run(tmp_path, frames):
    whole = PaperLedger(tmp_path / "whole.duckdb")
    trader(whole).run(frames)
    daily = PaperLedger(tmp_path / "daily.duckdb")
    for day in (3, 4, 11, 20):  # uneven chunks, one of a single day
        upto = {c: f[f.index < START + pd.Timedelta(days=day)] for c, f in frames.items()}
        trader(daily).run(upto)  # a fresh engine each day, resumed from the ledger
    assert_same(dump(whole), dump(daily))


def test_paper_metrics_measure_the_summed_equity(tmp_path, frames):
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    result = trader(ledger).run(frames).result
    m = ledger.metrics("ema_a")
    equity = result.equity()["ema_a"].sum(axis=1)
    np.testing.assert_allclose(m.equity.to_numpy(), equity.to_numpy(), rtol=1e-12)
    assert m.days == 20 and m.bars == 480
    initial = 5_000.0  # allocation 0.5 of 10,000
    assert m.total_return == pytest.approx(equity.iloc[-1] / initial - 1.0)
    path = np.r_[initial, equity.to_numpy()]
    assert m.max_drawdown == pytest.approx(float(np.max(1.0 - path / np.maximum.accumulate(path))))
    returns = path[1:] / path[:-1] - 1.0
    assert m.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * np.sqrt(8760), rel=1e-9)
    assert m.trade_count == sum(1 for t in result.trades if t.strategy == "ema_a")
    assert float(np.prod(1.0 + m.daily_returns()) - 1.0) == pytest.approx(m.total_return)
    daily = ledger.table("pnl_daily", "ema_a")
    assert len(daily) == 20
    assert daily["equity_end"].to_numpy() == pytest.approx(equity.resample("1D").last().to_numpy())
    assert daily["pnl"].sum() == pytest.approx(equity.iloc[-1] - initial)


def test_a_new_ledger_creates_its_file_and_tables(data_dir):
    from quant_organism.runtime import LEDGER_FILE

    ledger = PaperLedger(data_dir / LEDGER_FILE)
    assert ledger.path == data_dir / "paper" / "ledger.duckdb" and ledger.path.exists()
    assert ledger.strategies() == []
    with pytest.raises(ValueError, match="unknown ledger table"):
        ledger.table("nope")


def test_decaying_strategies_are_marked_in_the_store(tmp_path, frames):
    loader = StrategyStore(tmp_path / "strategies")
    loader.save_evolved_strategies([c.model_copy(update={"allocation": None}) for c in configs()])
    for c in configs():
        loader.transition_strategy(c.name, DeploymentStatus.VALIDATED, "passed validation")
        loader.transition_strategy(c.name, DeploymentStatus.DEPLOYED, "deployed", allocation=0.5)
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    PaperTrader(StrategyRuntimeEngine(loader, coins=["BTC", "ETH"], signal_mode="precomputed"), ledger).run(frames)
    sharpe = {name: ledger.metrics(name).sharpe for name in ("ema_a", "donchian_b")}
    assert sharpe["ema_a"] != sharpe["donchian_b"]
    worse, better = sorted(sharpe, key=sharpe.get)
    rules = DecayRules(min_days=5, min_sharpe=(sharpe[worse] + sharpe[better]) / 2, max_drawdown=0.99)

    metrics, verdicts = mark_decaying(loader, ledger, rules)
    assert [v.strategy for v in verdicts] == [worse]
    assert "Sharpe" in verdicts[0].reasons[0]
    stored = {c.name: c for c in loader.load_strategies()}
    assert stored[worse].deployment_status is DeploymentStatus.DECAYING
    assert stored[worse].deployment_history[-1].note == verdicts[0].reasons[0]
    assert stored[better].deployment_status is DeploymentStatus.DEPLOYED
    for name in sharpe:
        assert stored[name].paper_trading_days == 20
        assert stored[name].paper_sharpe == pytest.approx(sharpe[name])
        assert stored[name].max_drawdown == pytest.approx(metrics[name].max_drawdown)
        assert stored[name].metrics["paper_trade_count"] == metrics[name].trade_count

    _, again = mark_decaying(loader, ledger, rules)  # already decaying: refreshed, not moved twice
    assert [v.strategy for v in again] == [worse]
    assert len(loader.load_strategy(worse).deployment_history) == len(stored[worse].deployment_history)

    young = DecayRules(min_days=21, min_sharpe=rules.min_sharpe, max_drawdown=0.99)
    assert decaying_strategies(metrics.values(), young) == []  # too few days to judge the Sharpe


def test_a_deep_drawdown_decays_at_any_age(tmp_path, frames):
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    trader(ledger).run(frames)
    m = ledger.metrics("ema_a")
    fresh = dataclasses.replace(m, days=1, sharpe=5.0)
    assert decaying_strategies([fresh], DecayRules(min_days=10, max_drawdown=max(m.max_drawdown * 2, 0.01))) == []
    verdicts = decaying_strategies([fresh], DecayRules(min_days=10, max_drawdown=m.max_drawdown / 2))
    assert len(verdicts) == 1 and "drawdown" in verdicts[0].reasons[0]
