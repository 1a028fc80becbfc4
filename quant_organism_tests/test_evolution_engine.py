"""Evolution engine in one process: config and presets, operators, universal fitness, identity and
dedupe, learning on a planted pattern, failures and timeouts, and the hand-over to the config store."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest import WORST_OBJECTIVES, FitnessConfig, evaluate_population
from quant_organism.backtest.objectives import OBJECTIVE_COLUMNS
from quant_organism.catalog import DeploymentStatus, StrategyStore
from quant_organism.evolution import (
    EvolutionConfig,
    IslandTask,
    TooManyFailedIslands,
    WindowLeakError,
    evaluate_universe,
    evolution_windows,
    execute_batch,
    execute_gang,
    genes_from_row,
    load_preset,
    prepare_frames,
    preset_names,
    run_evolution,
    slice_frames,
    to_strategy_configs,
)
from quant_organism.evolution.island import Island
from quant_organism.evolution.island import median as island_median
from quant_organism.evolution.operators import (
    NOT_EVOLVED,
    allocate,
    crossover,
    crossover_values,
    crowded_tournament,
    mutate,
    mutate_values,
    random_genome,
    random_genome_values,
)
from quant_organism.strategies import ML_SEEDS, TECHNICAL_SEEDS, SeedGenes, SeedType, gene_orderings, gene_space
from quant_organism.strategies.genes import repair_values
from quant_organism_tests.support.markets import planted_market

EVOLUTION_DAY = "2024-02-09"  # planted markets below start 2024-01-01 and run 40 days: D is their last day


def small_config(**overrides) -> EvolutionConfig:
    values = dict(
        total_strategies=8,
        batch_size=4,
        generations=2,
        lookback_days=40,
        min_trades=1,
        seed_types=["ema_crossover", "sma_trend", "rsi_filter"],
        random_seed=5,
    )
    return EvolutionConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def market() -> dict[str, pd.DataFrame]:
    return planted_market()


# --- config and presets ---------------------------------------------------------------------------
def test_presets_load_as_configs():
    assert {"test", "full"} <= set(preset_names())
    test, full = load_preset("test"), load_preset("full")
    assert (test.total_strategies, test.generations) == (50, 5) and test.n_batches * test.batch_size == 50
    assert (full.n_batches, full.batch_size, full.generations) == (10, 50, 20)
    assert full.executor == "auto" and set(full.seed_types) == set(TECHNICAL_SEEDS) | set(ML_SEEDS)  # all twelve
    assert load_preset("test", generations=1).generations == 1
    with pytest.raises(ValueError, match="unknown evolution preset 'huge'.*full"):
        load_preset("huge")


def test_config_defaults_follow_the_plan_and_refuse_nonsense():
    c = EvolutionConfig()
    assert (c.total_strategies, c.batch_size, c.generations) == (500, 50, 20)
    assert (c.mutation_rate, c.crossover_rate, c.elite_ratio, c.n_elite) == (0.15, 0.8, 0.3, 15)
    assert not set(ML_SEEDS) & set(c.seed_types)  # ML seeds are opt-in
    with pytest.raises(ValueError, match="multiple of batch_size"):
        EvolutionConfig(total_strategies=55, batch_size=10)
    with pytest.raises(ValueError, match="unknown seed type 'macd'"):
        EvolutionConfig(seed_types=["macd"])
    with pytest.raises(ValueError, match="weight must be"):
        EvolutionConfig(seed_types={"ema_crossover": 0})
    with pytest.raises(ValueError, match="sum to 1"):
        EvolutionConfig(split=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="executor"):
        EvolutionConfig(executor="dask")


# --- operators ------------------------------------------------------------------------------------
def test_allocation_follows_the_mix_and_rotates_the_odd_slots():
    weights = [(SeedType.EMA_CROSSOVER, 2.0), (SeedType.SMA_TREND, 1.0), (SeedType.RSI_FILTER, 1.0)]
    assert allocate(8, weights).count(SeedType.EMA_CROSSOVER) == 4
    odd = [allocate(5, [(s, 1.0) for s in TECHNICAL_SEEDS], rotate=r) for r in range(4)]
    assert all(len(set(a)) == 5 for a in odd) and len({tuple(a) for a in odd}) > 1


@pytest.mark.parametrize("seed_type", TECHNICAL_SEEDS)
def test_mutation_and_crossover_stay_in_bounds_and_orderings(seed_type):
    rng = np.random.default_rng(11)
    space = gene_space(seed_type)
    a, b = random_genome(seed_type, rng), random_genome(seed_type, rng)
    for _ in range(60):
        a = mutate(a, rng, rate=0.5, sigma=0.5, generation=1, force=True)
        c, d = crossover(a, b, rng, generation=2)
        for child in (a, c, d):
            values = child.gene_values()
            assert all(spec.contains(values[name]) for name, spec in space.items())
            assert all(order.holds(values) for order in gene_orderings(seed_type))
            assert all(values[n] == s.default for n, s in space.items() if not s.active)
        for name, spec in space.items():  # uniform crossover: an int child gene is one parent's
            if spec.kind == "int" and spec.active and not gene_orderings(seed_type):
                assert c.gene(name) in (a.gene(name), b.gene(name))


@pytest.mark.parametrize("seed_type", [*TECHNICAL_SEEDS, *ML_SEEDS])
def test_the_operators_children_are_what_repairing_them_gives(seed_type):
    """Mutation and crossover restore only the orderings of their children (their genes move within bounds and
    types): from repaired parents, at random and pushed to their bounds (zero included), with steps tiny and wide,
    each child is what `repair_values` makes of it, value for value and type for type, with no -0.0."""
    rng = np.random.default_rng(23)
    space = gene_space(seed_type)

    def parent() -> dict:
        values = random_genome_values(seed_type, rng)
        for name, spec in space.items():
            if spec.active and rng.random() < 0.3:
                values[name] = spec.low if rng.random() < 0.5 else spec.high
        return repair_values(seed_type, values)

    def canonical(child: dict) -> bool:
        repaired = repair_values(seed_type, child)
        same_types = all(type(child[name]) is type(repaired[name]) for name in space)
        return child == repaired and same_types and not any(v == 0 and np.signbit(v) for v in child.values())

    for k in range(150):
        sigma = [1e-9, 0.05, 0.5, 3.0][k % 4]
        a, b = parent(), parent()
        assert canonical(mutate_values(seed_type, a, rng, rate=0.5, sigma=sigma, force=True))
        for child in crossover_values(seed_type, a, b, rng):
            assert canonical(child)


def test_forced_mutation_changes_a_genome_and_crossover_refuses_mixed_seed_types():
    rng = np.random.default_rng(3)
    genome = random_genome(SeedType.EMA_CROSSOVER, rng)
    assert mutate(genome, rng, rate=0.0, sigma=0.1, generation=1, force=True).genes_hash() != genome.genes_hash()
    assert mutate(genome, rng, rate=0.0, sigma=0.1, generation=1).genes_hash() == genome.genes_hash()
    with pytest.raises(ValueError, match="within one seed type"):
        crossover(genome, random_genome(SeedType.SMA_TREND, rng), rng, 1)


# --- universal fitness ----------------------------------------------------------------------------
def test_crowded_tournaments_follow_the_crowded_comparison_pair_by_pair():
    """Each tournament of a pair: the lower front wins, then the larger crowding distance (an infinite one beats
    any finite), then the pair's coin flip; the draws are those of the generator, pairs first, then flips."""
    ranks = np.array([0, 0, 1, 1, 2, 0, 1, 2])
    crowding = np.array([np.inf, np.inf, 0.5, 0.5, 1.0, 0.2, np.inf, 1.0])
    winners = crowded_tournament(ranks, crowding, 400, np.random.default_rng(3))

    rng = np.random.default_rng(3)
    pairs, flips = rng.integers(0, len(ranks), size=(400, 2)), rng.random(400) < 0.5
    expected = []
    for (a, b), flip in zip(pairs.tolist(), flips.tolist()):
        if ranks[a] != ranks[b]:
            expected.append(a if ranks[a] < ranks[b] else b)
        elif crowding[a] != crowding[b]:
            expected.append(a if crowding[a] > crowding[b] else b)
        else:
            expected.append(a if flip else b)
    assert winners.dtype == np.int64
    assert winners.tolist() == expected
    ties = [(a, b) for a, b in pairs.tolist() if ranks[a] == ranks[b] and crowding[a] == crowding[b] and a != b]
    assert ties, "the sample must hold ties that only the coin flip decides"


def test_universal_fitness_aggregates_coins_and_requires_validity_everywhere(market):
    rng = np.random.default_rng(2)
    genomes = [random_genome(SeedType.EMA_CROSSOVER, rng).model_copy(update={"seed_id": f"g{i}"}) for i in range(16)]
    coins = {"A": market["A"], "B": market["B"].iloc[: len(market["B"]) // 3]}  # fewer bars, fewer trades on B
    counts = np.stack([evaluate_population(f, genomes)["trade_count"].to_numpy() for f in coins.values()])
    # a trade minimum that some genome meets on both coins and another meets on one coin only
    splits = [
        t
        for t in range(1, counts.max() + 1)
        if (counts.min(axis=0) >= t).any() and ((counts.max(axis=0) >= t) & (counts.min(axis=0) < t)).any()
    ]
    assert splits, f"no trade minimum separates the genomes: {counts.tolist()}"
    fitness = FitnessConfig(min_trades=splits[0])
    per_coin = [evaluate_population(frame, genomes, fitness=fitness) for frame in coins.values()]
    out = evaluate_universe(coins, genomes, fitness)
    valid_all = per_coin[0]["valid"].to_numpy() & per_coin[1]["valid"].to_numpy()
    np.testing.assert_array_equal(out["valid"].to_numpy(), valid_all)
    valid_somewhere = per_coin[0]["valid"].to_numpy() | per_coin[1]["valid"].to_numpy()
    assert valid_all.any() and (valid_somewhere & ~valid_all).any()  # valid on one coin only: not universal
    a, b = (p.loc[valid_all] for p in per_coin)
    got = out.loc[valid_all]
    np.testing.assert_allclose(got["obj_sharpe"], (a["obj_sharpe"].to_numpy() + b["obj_sharpe"].to_numpy()) / 2)
    np.testing.assert_allclose(got["obj_max_drawdown"], np.maximum(a["obj_max_drawdown"], b["obj_max_drawdown"]))
    np.testing.assert_allclose(got["obj_turnover"], (a["obj_turnover"].to_numpy() + b["obj_turnover"].to_numpy()) / 2)
    np.testing.assert_allclose(got["score"], fitness.score(got[list(OBJECTIVE_COLUMNS)].to_numpy()))
    invalid = out.loc[~valid_all, list(OBJECTIVE_COLUMNS)].to_numpy()
    assert (invalid == np.array(WORST_OBJECTIVES)).all()
    assert (out["trade_count"] == per_coin[0]["trade_count"] + per_coin[1]["trade_count"]).all()
    with pytest.raises(ValueError, match="duplicate seed_ids"):
        evaluate_universe(coins, [genomes[0], genomes[0]], fitness)


def test_frames_are_prepared_once_and_again_after_an_edit_in_place(market):
    from quant_organism.evolution.fitness import prepared

    rng = np.random.default_rng(3)
    genomes = [random_genome(SeedType.SMA_TREND, rng).model_copy(update={"seed_id": f"g{i}"}) for i in range(6)]
    frame = market["A"].copy()
    first = prepared(frame)
    assert prepared(frame) is first  # every generation of an island reuses it
    before = evaluate_universe({"A": frame}, genomes)
    later = frame.index >= frame.index[len(frame) // 2]
    frame.loc[later, ["open", "high", "low", "close"]] *= 1.5  # an edit in place is never scored on stale arrays
    assert prepared(frame) is not first
    after = evaluate_universe({"A": frame}, genomes)
    pd.testing.assert_frame_equal(after, evaluate_universe({"A": frame.copy()}, genomes))
    assert not after["total_return"].equals(before["total_return"])


# --- identity, dedupe, determinism ----------------------------------------------------------------
class CountingEvaluator:
    """The real universal fitness, counting how often each genome is evaluated."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, frames, genomes, fitness):
        self.calls.append([g.genes_hash() for g in genomes])
        return evaluate_universe(frames, genomes, fitness)


def test_each_distinct_genome_is_evaluated_once_per_batch_and_named_by_its_genes(market):
    counting = CountingEvaluator()
    config = small_config(total_strategies=4, batch_size=4, generations=6, seed_types=["sma_trend"], mutation_rate=0.05)
    result = run_evolution(market, config, evolution_date=EVOLUTION_DAY, evaluator=counting)
    seen = [h for call in counting.calls for h in call]
    assert len(seen) == len(set(seen)) == result.evaluations
    assert all(len(call) == len(set(call)) for call in counting.calls)
    pop = result.population
    assert pop["genes_hash"].is_unique and pop["name"].is_unique
    for _, row in pop.iterrows():
        assert row["name"] == f"{row['seed_type']}_{row['generation']}_{row['genes_hash'][:8]}"
        genes = genes_from_row(row)  # the stored genes reproduce the identity
        assert genes.strategy_name() == row["name"] and genes.genes_hash() == row["genes_hash"]
    assert pop["final"].sum() == config.batch_size
    # elitism: a batch's best score never drops from one generation to the next
    for _, stats in result.generation_stats.groupby("batch"):
        assert np.all(np.diff(stats.sort_values("generation")["best_score"].to_numpy()) >= 0)


def test_same_seed_same_population_other_seed_other_population(market):
    config = small_config()
    first = run_evolution(market, config, evolution_date=EVOLUTION_DAY)
    again = run_evolution(market, config, evolution_date=EVOLUTION_DAY)
    other = run_evolution(market, small_config(random_seed=6), evolution_date=EVOLUTION_DAY)
    pd.testing.assert_frame_equal(first.population, again.population)
    assert set(first.population["genes_hash"]).isdisjoint(other.population["genes_hash"])
    assert list(first.population.columns[:6]) == ["name", "seed_type", "generation", "batch", "genes", "genes_hash"]
    assert json.loads(first.population["genes"].iloc[0]).keys() >= {"fast_period", "stop_loss", "position_size"}


def test_each_night_searches_afresh_and_a_rerun_of_a_night_is_identical(market):
    """The islands' streams come from (random_seed, evolution date): the nightly run's first generation is not the
    same every night, and a backfill of a date reproduces it."""
    config = small_config()
    night = run_evolution(market, config, evolution_date=EVOLUTION_DAY)
    frames = {coin: f.loc[f.index < pd.Timestamp("2024-02-09", tz="UTC")] for coin, f in market.items()}
    before = run_evolution(frames, config, evolution_date="2024-02-08")
    first_generation = lambda result: set(result.population.loc[result.population["generation"] == 0, "genes_hash"])  # noqa: E731
    assert first_generation(night).isdisjoint(first_generation(before))
    fixed = small_config(seed_per_date=False)  # the old behaviour, on request: the configured seed alone
    a = run_evolution(market, fixed, evolution_date=EVOLUTION_DAY)
    b = run_evolution(frames, fixed, evolution_date="2024-02-08")
    assert first_generation(a) == first_generation(b)


# --- learning -------------------------------------------------------------------------------------
def test_fitness_improves_over_generations_on_a_planted_trend(market):
    config = small_config(
        total_strategies=32, batch_size=16, generations=8, seed_types=["sma_trend", "ema_crossover"], random_seed=1, min_trades=3
    )
    result = run_evolution(market, config, evolution_date=EVOLUTION_DAY)
    stats = result.generation_stats
    for batch, per_batch in stats.groupby("batch"):
        first = per_batch.loc[per_batch["generation"] == 0, "best_score"].item()
        last = per_batch.loc[per_batch["generation"] == config.generations, "best_score"].item()
        assert last > first + 5.0, f"batch {batch}: best score {first:.2f} -> {last:.2f}"
    first_median = stats.loc[stats["generation"] == 0, "median_score"].mean()
    last_median = stats.loc[stats["generation"] == config.generations, "median_score"].mean()
    assert last_median > first_median  # the whole population moves, not just one lucky genome


# --- failures and timeouts ------------------------------------------------------------------------
class FailBatch:
    def __init__(self, batch: int) -> None:
        self.batch = batch

    def __call__(self, batch: int) -> None:
        if batch == self.batch:
            raise RuntimeError(f"injected failure in batch {batch}")


def test_a_batch_that_raises_is_recorded_and_the_others_complete(market):
    events = []
    config = small_config(total_strategies=12, max_failed_island_share=0.5)  # 1 of 3 is accepted here
    result = run_evolution(market, config, events.append, evolution_date=EVOLUTION_DAY, batch_hook=FailBatch(1))
    batches = result.batches.set_index("batch")
    assert list(batches["status"]) == ["ok", "failed", "ok"]
    assert "RuntimeError: injected failure in batch 1" in batches.loc[1, "error"]
    assert set(result.population["batch"]) == {0, 2}
    clean = run_evolution(market, config, evolution_date=EVOLUTION_DAY)
    pd.testing.assert_frame_equal(
        result.population.reset_index(drop=True),
        clean.population[clean.population["batch"] != 1].reset_index(drop=True),
    )
    finished = [e for e in events if e["event"] == "batch_finished"]
    assert [(e["batch"], e["status"]) for e in finished] == [(0, "ok"), (1, "failed"), (2, "ok")]
    assert {e["event"] for e in events} == {"run_started", "generation", "batch_finished", "run_finished"}
    assert sum(e["event"] == "generation" for e in events) == 2 * (config.generations + 1)


class LeakInBatch:
    """The in-island leak guard firing in one batch (as a frame reaching into validation would make it)."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def __call__(self, batch: int) -> None:
        if batch == self.batch:
            raise WindowLeakError(f"BTC: evaluation frame reaches past the train window (batch {batch})")


def test_a_run_where_too_many_islands_fail_fails_with_their_reasons(market):
    """Issue 23: 2 of 3 islands crashed, and the run used to publish the third island's population as if whole."""
    config = small_config(total_strategies=12)  # 3 islands, the default 20% threshold

    class FailTwo:
        def __call__(self, batch: int) -> None:
            if batch in (0, 2):
                raise RuntimeError(f"injected failure in batch {batch}")

    with pytest.raises(
        TooManyFailedIslands,
        match=r"2 of 3 islands failed \(more than the 20% a run accepts\): "
        r"1 x RuntimeError: injected failure in batch 0; 1 x RuntimeError",
    ) as raised:
        run_evolution(market, config, evolution_date=EVOLUTION_DAY, batch_hook=FailTwo())
    assert list(raised.value.result.failed_batches["batch"]) == [0, 2]
    assert raised.value.result.failure_reasons() == {
        "RuntimeError: injected failure in batch 0": 1,
        "RuntimeError: injected failure in batch 2": 1,
    }
    lenient = run_evolution(
        market, config.model_copy(update={"max_failed_island_share": 0.7}), evolution_date=EVOLUTION_DAY, batch_hook=FailTwo()
    )
    assert set(lenient.population["batch"]) == {1}  # the share is a named, explicit choice


def test_a_leak_guard_error_in_an_island_fails_the_run_and_is_never_absorbed(market):
    config = small_config(total_strategies=12, max_failed_island_share=1.0)  # even a run that accepts any failure
    with pytest.raises(WindowLeakError, match=r"island\(s\) \[1\] evaluated outside the train window"):
        run_evolution(market, config, evolution_date=EVOLUTION_DAY, batch_hook=LeakInBatch(1))

    windows = evolution_windows(EVOLUTION_DAY, config.lookback_days, config.split)
    leaky = {coin: frame[frame.index < windows.out_of_sample.end] for coin, frame in market.items()}  # past train
    task = IslandTask(0, config.batch_size, config, windows.train, windows.validation, None, ())
    outcome = execute_batch(task, prepare_frames(leaky))
    assert outcome.status == "leak" and outcome.error.startswith("WindowLeakError")


def test_an_island_proves_its_frames_again_once_they_are_other_bars(market):
    """The island skips the leak guard only for the very index objects it proved (a pandas index is immutable):
    a frame swapped in, or a frame given another index, is proven again before its genomes are evaluated."""
    config = small_config(total_strategies=4)
    windows = evolution_windows(EVOLUTION_DAY, config.lookback_days, config.split)
    frames = {coin: frame.copy() for coin, frame in slice_frames(prepare_frames(market), windows.train).items()}
    island = Island(IslandTask(0, config.batch_size, config, windows.train, windows.validation, None, ()), frames)
    assert island.begin()  # it proved its frames
    leaky = prepare_frames({coin: f[f.index < windows.out_of_sample.end] for coin, f in market.items()})
    coin = next(iter(frames))
    train_frame = frames[coin]
    frames[coin] = leaky[coin]  # another frame under the same coin
    with pytest.raises(WindowLeakError, match="out_of_sample"):
        island._guard()
    frames[coin] = train_frame
    island._guard()  # the bars it proved
    train_frame.index = leaky[coin].index[-len(train_frame) :]  # the same frame, another index
    with pytest.raises(WindowLeakError, match="out_of_sample"):
        island._guard()


@pytest.mark.parametrize("n", [1, 2, 7, 50, 51])
def test_a_generations_median_is_numpys_to_the_bit(n):
    rng = np.random.default_rng(n)
    values = [float(v) for v in rng.normal(0.0, 3.0, n)]
    for case in (
        values,
        values[: n // 2] * 2 or values,
        [-1e12] * (n // 2) + values[n // 2 :],
        [0.1, 0.2, 0.3, 0.4][: max(1, n % 5)],
    ):
        assert island_median(case) == float(np.median(case)) and type(island_median(case)) is float
    with_nan = [*values, float("nan")]
    assert np.isnan(island_median(with_nan)) and np.isnan(np.median(with_nan))


def _train_tasks(market, config):
    windows = evolution_windows(EVOLUTION_DAY, config.lookback_days, config.split)
    frames = slice_frames(prepare_frames(market), windows.train)
    tasks = [IslandTask(b, config.batch_size, config, windows.train, windows.validation) for b in range(config.n_batches)]
    return tasks, frames


def _same_island(alone, together) -> None:
    assert (alone.batch, alone.status, alone.evaluations) == (together.batch, together.status, together.evaluations)
    pd.testing.assert_frame_equal(alone.population, together.population)
    pd.testing.assert_frame_equal(alone.generations.drop(columns="wall_s"), together.generations.drop(columns="wall_s"))


def test_islands_in_lockstep_share_one_evaluation_per_generation_and_each_keeps_its_own_result(market):
    config = small_config(total_strategies=12, generations=3)
    tasks, frames = _train_tasks(market, config)
    calls = []

    def counting(frames, genomes, fitness):
        calls.append([g.seed_id for g in genomes])
        return evaluate_universe(frames, genomes, fitness)

    alone = [execute_batch(task, frames) for task in tasks]
    together = execute_gang(tasks, frames, counting)
    assert len(calls) == config.generations + 1  # one call per generation for the three islands
    assert all(len(set(ids)) == len(ids) for ids in calls)  # a genome two islands bred is scored once
    assert len(calls[0]) == sum(len(o.population.query("generation == 0")) for o in alone)
    for a, t in zip(alone, together, strict=True):
        _same_island(a, t)


class HandOver:
    """An in-process exchange: before round `at`, hand half of the gang on, pickled (as to another worker); adopt
    whatever was handed over, once."""

    def __init__(self, at: int = 2) -> None:
        self.at, self.rounds, self.parcel = at, 0, []
        self.asked_ahead: list[int] = []  # the rounds before which the worker asked ahead

    def ask_ahead(self):
        self.asked_ahead.append(self.rounds)

    def give_away(self, live):
        import pickle

        self.rounds += 1
        if self.rounds != self.at:
            return []
        chosen = list(live)[len(live) // 2 :]
        self.parcel = [pickle.dumps(live[b]) for b in chosen]
        return chosen

    def adopt(self):
        import pickle

        parcel, self.parcel = self.parcel, []
        return [pickle.loads(blob) for blob in parcel]


def test_an_island_handed_to_another_worker_between_generations_keeps_the_result_it_has_alone(market):
    """Work stealing moves islands between workers between two generations, as pickles: the island carries its
    generator state, cache, records and clock, and its result is the one it has alone."""
    config = small_config(total_strategies=12, generations=4)
    tasks, frames = _train_tasks(market, config)
    alone = {o.batch: o for o in (execute_batch(task, frames) for task in tasks)}
    exchange = HandOver(at=3)
    first = execute_gang(tasks, frames, exchange=exchange)  # hands on islands 1 and 2, then adopts them back
    assert [o.batch for o in first] == [0, 1, 2] and [o.moves for o in first] == [0, 1, 1]
    # generations 0-4: island 0's last is round 5; the adopted islands' (generations 2-4 again) round 8
    assert exchange.asked_ahead == [5, 8]
    giver = HandOver(at=3)
    kept = execute_gang(tasks, frames, exchange=_NoAdoption(giver))
    adopted = execute_gang([], frames, exchange=giver)  # another "worker" that only adopts
    assert [o.batch for o in kept] == [0] and [o.batch for o in adopted] == [1, 2]
    for outcome in [*first, *kept, *adopted]:
        _same_island(alone[outcome.batch], outcome)
        assert outcome.wall_s > 0 and outcome.evaluate_s > 0


class _NoAdoption:
    def __init__(self, inner) -> None:
        self.inner = inner

    def give_away(self, live):
        return self.inner.give_away(live)

    def ask_ahead(self):
        pass

    def adopt(self):
        return []


def test_a_gangs_cpu_is_shared_by_its_islands_not_counted_once_per_island(market):
    """The run's compute figure sums the islands' CPU: a gang's process CPU split equally. Their walls overlap
    (each island's wall is about the gang's), so summing walls counted a gang of three about three times."""
    import time

    config = small_config(total_strategies=12, generations=3)
    tasks, frames = _train_tasks(market, config)
    execute_gang(tasks, frames)  # kernels compiled and warm
    started = time.process_time()
    outcomes = execute_gang(tasks, frames)
    spent = time.process_time() - started
    shares = [o.cpu_s for o in outcomes]
    assert len(set(shares)) == 1 and sum(shares) == pytest.approx(spent, rel=0.05, abs=0.02)
    assert sum(o.wall_s for o in outcomes) > 2 * sum(shares)  # what the old figure summed


def test_an_island_that_fails_in_lockstep_fails_alone(market):
    config = small_config(total_strategies=12, generations=3)
    tasks, frames = _train_tasks(market, config)
    alone = [execute_batch(task, frames) for task in tasks]
    poisoned = (
        set(alone[1].population["genes_hash"]) - set(alone[0].population["genes_hash"]) - set(alone[2].population["genes_hash"])
    )

    def failing(frames, genomes, fitness):  # fails whenever island 1's own genomes are in the call
        if any(g.seed_id in poisoned for g in genomes):
            raise RuntimeError("bad genome")
        return evaluate_universe(frames, genomes, fitness)

    together = execute_gang(tasks, frames, failing)
    assert together[1].status == "failed" and together[1].error.startswith("RuntimeError: bad genome")
    for k in (0, 2):
        _same_island(alone[k], together[k])

    def hook(batch: int) -> None:
        if batch == 2:
            raise ValueError("bad start")

    started = execute_gang(tasks, frames, hook=hook)
    assert [o.status for o in started] == ["ok", "ok", "failed"] and "ValueError: bad start" in started[2].error
    for k in (0, 1):
        _same_island(alone[k], started[k])


def test_a_batch_past_its_time_limit_stops_and_keeps_the_generations_it_finished(market):
    result = run_evolution(market, small_config(batch_timeout_s=1e-6), evolution_date=EVOLUTION_DAY)
    assert set(result.batches["status"]) == {"timeout"}
    assert all("exceeded" in e for e in result.batches["error"])
    assert set(result.generation_stats["generation"]) == {0}
    assert set(result.population["generation"]) == {0} and len(result.population) == 8


# --- hand-over to deployment -----------------------------------------------------------------------
def test_best_strategies_become_configs_that_round_trip_through_the_store(market, tmp_path):
    result = run_evolution(market, small_config(generations=3), evolution_date=EVOLUTION_DAY)
    best = result.best(5)
    scores = [c.row["score"] for c in best]
    assert scores == sorted(scores, reverse=True) and len({c.genes.genes_hash() for c in best}) == len(best)
    assert all(c.row["valid"] for c in best) and scores[0] == result.population.loc[result.population["valid"], "score"].max()
    configs = to_strategy_configs(result, 5)
    store = StrategyStore(tmp_path / "strategies")
    store.save_evolved_strategies(configs)
    loaded = {c.name: c for c in store.load_strategies()}
    train = evolution_windows(EVOLUTION_DAY, 40).train
    for candidate in best:
        stored = loaded[candidate.genes.strategy_name()]
        assert stored.genes.genes_hash() == candidate.row["genes_hash"]
        assert stored.fitness_score == candidate.row["score"] and stored.deployment_status is DeploymentStatus.EVOLVED
        assert stored.data_window.end == train.end.to_pydatetime() and stored.data_window.coins == ("A", "B")
        assert stored.data_window.interval == "1h" and str(stored.evolution_date) == EVOLUTION_DAY
        assert re.fullmatch(r"[a-z_]+_\d+_[0-9a-f]{8}", stored.name)


def test_gangs_give_every_worker_islands_and_never_exceed_the_lockstep_size():
    from quant_organism.evolution.executors.runners import gangs

    config = small_config(total_strategies=40, lockstep_islands=4)  # 10 islands
    tasks = [IslandTask(b, config.batch_size, config, None) for b in range(config.n_batches)]

    def numbers(groups):
        return [[t.batch for t in g] for g in groups]

    assert numbers(gangs(tasks, 2)) == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]  # at most 4 in lockstep
    assert numbers(gangs(tasks, 5)) == [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]  # one gang per worker
    assert numbers(gangs(tasks, 20)) == [[b] for b in range(10)]
    assert gangs([], 2) == []


def test_what_an_island_worker_imports_leaves_the_lake_out():
    """A Ray or process-pool worker imports the executors and what islands run; the market lake's DuckDB and
    polars (about 35 MB of every worker's memory) stay out of it."""
    import subprocess
    import sys

    probe = "import sys, quant_organism.evolution.executors.runners; print(sorted(m for m in ('duckdb', 'polars') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("seed_type", TECHNICAL_SEEDS + ML_SEEDS)  # a rule tree's are DEAP's (test_strategies_rule_tree.py)
def test_random_genome_values_are_random_genomes_values(seed_type: SeedType) -> None:
    """Islands draw their first genomes as values: the draws of a uniform genome (`SeedGenes.random`), in its
    order, with the genes evolution leaves alone set to their defaults and repaired, as a genome built that way."""
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    left_alone = {n: s.default for n, s in gene_space(seed_type).items() if not s.active or n in NOT_EVOLVED}
    for _ in range(5):
        values = random_genome_values(seed_type, a)
        drawn = SeedGenes.random(seed_type, "new", b)
        expected = SeedGenes.from_gene_values(seed_type, "new", {**drawn.gene_values(), **left_alone}).gene_values()
        assert values == expected and list(values) == list(expected)
        assert [type(v) for v in values.values()] == [type(v) for v in expected.values()]
        assert random_genome(seed_type, np.random.default_rng(5)).gene_values() == random_genome_values(
            seed_type, np.random.default_rng(5)
        )
    assert a.random() == b.random()


def test_an_island_evolves_rule_trees_beside_templates_reproducibly_and_every_tree_comes_back_from_its_record(market):
    """Trees breed by DEAP's genetic programming in the same islands as templates: the population records each
    tree's rule with its genes, a record gives the genome back with its hash, and a rerun is identical."""
    import json

    from quant_organism.evolution.result import genes_from_row
    from quant_organism.strategies.rule_tree import MAX_DEPTH, nodes

    config = small_config(seed_types=["rule_tree", "ema_crossover"], generations=3, total_strategies=12, batch_size=6)
    first = run_evolution(market, config, evolution_date=EVOLUTION_DAY)
    again = run_evolution(market, config, evolution_date=EVOLUTION_DAY)
    pd.testing.assert_frame_equal(first.population.drop(columns=["wall_s"], errors="ignore"),
                                  again.population.drop(columns=["wall_s"], errors="ignore"))  # fmt: skip
    trees = first.population[first.population["seed_type"] == "rule_tree"]
    assert len(trees) >= 10 and trees["generation"].max() >= 2
    rules = set()
    for _, row in trees.iterrows():
        genes = genes_from_row(row)
        assert genes.genes_hash() == row["genes_hash"]
        tree = json.loads(genes.rule)
        assert nodes(tree) >= 1 and "rule" in json.loads(row["genes"])
        rules.add(genes.rule)
    assert len(rules) >= 8  # variation makes new trees
    assert all(json.dumps(json.loads(r)).count('"op"') <= 2**MAX_DEPTH for r in rules)


def test_fold_fitness_takes_a_quantile_of_fold_sharpes_and_parsimony_charges_free_parameters(market):
    """With folds, obj_sharpe is the chosen quantile over contiguous blocks of the window of the coins' mean
    block Sharpe, each block's Sharpe the one of the genome's own returns there (checked against a backtest of
    the genome's equity); the other objectives are the whole window's. Parsimony lowers the score by its weight
    times the genome's free parameters, more for a bigger tree."""
    from quant_organism.backtest import run_backtest
    from quant_organism.core.metrics import sharpe
    from quant_organism.evolution.fitness import complexity
    from quant_organism.evolution.operators import active_genes
    from quant_organism.strategies import get_registry
    from quant_organism.strategies.rule_tree import canonical_rule

    genes = [SeedGenes.create_default("ema_crossover", "ema"), SeedGenes.create_default("sma_trend", "sma")]
    whole = evaluate_universe(market, genes, FitnessConfig(min_trades=1))
    median = evaluate_universe(market, genes, FitnessConfig(min_trades=1, folds=4, fold_quantile=0.5))
    worst = evaluate_universe(market, genes, FitnessConfig(min_trades=1, folds=4, fold_quantile=0.0))
    for column in ("obj_consistency", "obj_max_drawdown", "obj_turnover", "sharpe", "total_return"):
        assert np.allclose(whole[column], median[column]), column
    assert (worst["obj_sharpe"] <= median["obj_sharpe"] + 1e-12).all()
    assert not np.allclose(whole["obj_sharpe"], median["obj_sharpe"])
    # the worst fold of one genome by hand: each coin's equity cut in four, Sharpe per block, mean over coins
    by_coin = []
    for frame in market.values():
        g = genes[0]
        signals = get_registry().batch_signals("ema_crossover", frame, genes[:1])
        result = run_backtest(frame, signals, stop_loss=g.stop_loss, take_profit=g.take_profit, position_size=g.position_size,
                              funding=frame["funding_rate"])  # fmt: skip
        returns = result.returns.iloc[:, 0].to_numpy()
        edges = np.linspace(0, len(returns), 5).astype(int)
        by_coin.append([sharpe(returns[a:b], 24 * 365) for a, b in zip(edges[:-1], edges[1:])])
    assert worst["obj_sharpe"].iloc[0] == pytest.approx(np.mean(by_coin, axis=0).min(), rel=1e-9, abs=1e-9)

    small = SeedGenes(seed_id="small", seed_type="rule_tree", rule=canonical_rule({"leaf": {"seed_type": "ema_crossover"}}))
    big = SeedGenes(seed_id="big", seed_type="rule_tree", rule=canonical_rule(
        {"op": "gate", "args": [{"cond": "uptrend"}, {"op": "and", "args": [{"leaf": {"seed_type": "ema_crossover"}},
                                                                              {"leaf": {"seed_type": "sma_trend"}}]}]}))  # fmt: skip
    assert complexity(genes[0]) == len(active_genes("ema_crossover"))
    assert complexity(big) == complexity(small) + 1 + 1 + 1 + len(active_genes("sma_trend")) - 3  # sma leaf: no risk genes
    plain = evaluate_universe(market, [small, big], FitnessConfig(min_trades=1))
    charged = evaluate_universe(market, [small, big], FitnessConfig(min_trades=1, w_complexity=0.01))
    assert np.allclose(plain["score"] - charged["score"], [0.01 * complexity(small), 0.01 * complexity(big)])
