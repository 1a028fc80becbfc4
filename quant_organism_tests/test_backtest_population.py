"""evaluate_population with the real strategies registry: grouping, chunking, order, genes and funding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest import METRICS, OBJECTIVE_COLUMNS, CostModel, evaluate_population, evaluate_signals
from quant_organism.strategies import TECHNICAL_SEEDS, SeedGenes, SeedType, get_registry

COSTS = CostModel()


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(8)
    n = 24 * 60
    index = pd.date_range("2024-03-01", periods=n, freq="h", tz="UTC")
    close = 2_000 * np.exp(np.cumsum(rng.normal(0, 0.008, n)))
    opens = np.r_[2_000.0, close[:-1]]
    candles = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * (1 + rng.uniform(0, 0.004, n)),
            "low": np.minimum(opens, close) * (1 - rng.uniform(0, 0.004, n)),
            "close": close,
            "volume": rng.lognormal(5, 1, n),
        },
        index=index,
    )
    # Funding as the market layer stores it (canonical frame), with exchange-style millisecond jitter.
    funding = pd.DataFrame(
        {
            "timestamp": index + pd.Timedelta(milliseconds=3),
            "coin": "ETH",
            "funding_rate": 4e-4 * np.sin(np.arange(n) * 2 * np.pi / 240) + rng.normal(0, 2e-5, n),  # 10-day cycles
        }
    )
    return candles, funding


@pytest.fixture(scope="module")
def genomes() -> list[SeedGenes]:
    rng = np.random.default_rng(2)
    # Interleaved seed types, so grouping must restore the input order.
    return [SeedGenes.random(TECHNICAL_SEEDS[k % len(TECHNICAL_SEEDS)], f"id{k:03d}", rng) for k in range(30)]


def test_rows_follow_input_order_with_ids_types_metrics_and_fitness(market, genomes):
    candles, funding = market
    out = evaluate_population(candles, genomes, funding=funding, costs=COSTS, chunk_size=2)
    assert out["seed_id"].tolist() == [g.seed_id for g in genomes]
    assert out["seed_type"].tolist() == [g.seed_type.value for g in genomes]
    assert set(METRICS) | set(OBJECTIVE_COLUMNS) | {"valid", "score"} <= set(out.columns)
    assert np.isfinite(out[list(OBJECTIVE_COLUMNS) + ["score"]].to_numpy()).all()
    assert out["trade_count"].sum() > 0


def test_each_row_equals_evaluating_the_registry_signals_with_that_genomes_risk_genes(market, genomes):
    candles, funding = market
    out = evaluate_population(candles, genomes, funding=funding, costs=COSTS, chunk_size=3).set_index("seed_id")
    one_chunk = evaluate_population(candles, genomes, funding=funding, costs=COSTS, chunk_size=1000)
    pd.testing.assert_frame_equal(out.reset_index(), one_chunk)
    registry = get_registry()
    rates = funding["funding_rate"].to_numpy()
    bars = candles.assign(funding_rate=rates)
    for seed_type in {g.seed_type for g in genomes}:
        group = [g for g in genomes if g.seed_type == seed_type]
        signals = registry.batch_signals(seed_type, bars, group)
        direct = evaluate_signals(
            candles,
            signals,
            stop_loss=[g.stop_loss for g in group],
            take_profit=[g.take_profit for g in group],
            position_size=[g.position_size for g in group],
            funding=rates,
            costs=COSTS,
        )
        columns = list(METRICS) + list(OBJECTIVE_COLUMNS) + ["score"]
        np.testing.assert_array_equal(out.loc[signals.columns, columns].to_numpy(float), direct[columns].to_numpy(float))


def test_funding_reaches_both_the_funding_seed_and_the_account(market):
    candles, funding = market
    rng = np.random.default_rng(5)
    carry = [SeedGenes.random(SeedType.FUNDING_CARRY, f"carry{k}", rng) for k in range(6)]
    with_funding = evaluate_population(candles, carry, funding=funding, costs=COSTS)
    assert with_funding["trade_count"].sum() > 0  # the carry seed saw the funding joined onto the bars
    assert (with_funding.loc[with_funding["exposure"] > 0, "funding"] != 0).all()
    # A seed that needs funding cannot run without it, and says so.
    with pytest.raises(ValueError, match="funding"):
        evaluate_population(candles, carry, costs=COSTS)


def test_bad_chunk_size_and_unknown_genomes_are_rejected(market, genomes):
    candles, funding = market
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate_population(candles, genomes, funding=funding, chunk_size=0)


def test_a_prepared_frame_scores_exactly_as_the_frame_and_positions_match_the_signals(market, genomes):
    from quant_organism.backtest.evaluate import prepare_frame
    from quant_organism.strategies.ohlcv import prepare_bars

    candles, funding = market
    direct = evaluate_population(candles, genomes, funding=funding, costs=COSTS)
    prepared = prepare_frame(candles, funding)
    pd.testing.assert_frame_equal(evaluate_population(prepared, genomes, costs=COSTS), direct)
    with pytest.raises(ValueError, match="PreparedFrame fixed funding"):
        evaluate_population(prepared, genomes, funding=funding)
    registry = get_registry()
    frame = candles.assign(funding_rate=np.nan)  # the array path refuses nothing the frame path accepts
    bars = prepare_bars(frame)
    for seed_type in TECHNICAL_SEEDS:
        group = [g for g in genomes if g.seed_type == seed_type]
        np.testing.assert_array_equal(
            registry.batch_positions(seed_type, bars, group), registry.batch_signals(seed_type, frame, group).to_numpy()
        )
