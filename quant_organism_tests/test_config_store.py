"""The strategy config store: exact round trips, lifecycle rules, robustness to foreign files, atomic writes."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from quant_organism.catalog import (
    ConfigStoreError,
    CorruptConfigError,
    DataWindow,
    DeploymentStatus,
    IllegalTransitionError,
    StoreLockedError,
    StrategyConfig,
    StrategyStore,
    UnknownStrategyError,
)
from quant_organism.catalog import store as store_module
from quant_organism.strategies import SeedGenes, SeedType, get_registry

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
S = DeploymentStatus


# --- helpers ---------------------------------------------------------------------------------
def ohlcv(n: int = 1200, seed: int = 7) -> pd.DataFrame:
    """Deterministic hourly bars: trending and mean-reverting legs, varying volume, funding."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.choice([-0.002, 0.0, 0.002], size=n // 100 + 1), 100)[:n]
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0.0, 0.006, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0.0, 0.002, n))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + wick),
            "low": np.minimum(open_, close) * (1 - wick),
            "close": close,
            "volume": rng.uniform(500.0, 1500.0, n),
            "funding_rate": rng.normal(0.0, 1e-4, n),
        },
        index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
    )


def make_config(
    seed_type: SeedType = SeedType.EMA_CROSSOVER,
    fitness: float = 1.0,
    seed: int = 0,
    name: str | None = None,
    now: datetime = T0,
) -> StrategyConfig:
    genes = SeedGenes.random(seed_type, f"ind{seed}", np.random.default_rng(seed), generation=seed % 5)
    return StrategyConfig.from_genes(
        genes,
        fitness_score=fitness,
        backtest_sharpe=fitness * 1.5,
        name=name,
        evolution_date=date(2024, 3, 1),
        data_window=DataWindow(start=T0 - timedelta(days=60), end=T0, coins=("BTC",), interval="1h"),
        metrics={"sortino": 1.25, "trades": 42},
        now=now,
    )


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry under `directory` (recursively, dot-files included) with its bytes (None for folders)."""
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None) for p in sorted(directory.rglob("*"))}


@pytest.fixture
def loader(tmp_path: Path) -> StrategyStore:
    return StrategyStore(tmp_path / "strategies")


# --- round trip ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "seed_type", [SeedType.EMA_CROSSOVER, SeedType.FUNDING_CARRY, SeedType.LINEAR_SVC], ids=lambda s: s.value
)
def test_round_trip_through_the_store_gives_identical_signals(loader: StrategyStore, seed_type: SeedType) -> None:
    frame = ohlcv()
    rng = np.random.default_rng(11)
    for _ in range(30):  # the first random genome that actually trades on these bars
        genes = SeedGenes.random(seed_type, "orig", rng, generation=4)
        if seed_type is SeedType.LINEAR_SVC:  # keep the walk-forward fit quick and inside the frame
            genes = SeedGenes.from_gene_values(
                seed_type, "orig", {**genes.gene_values(), "train_window": 300, "refit_every": 200}, generation=4
            )
        original = get_registry().create_seed(seed_type, genes).generate_signals(frame)
        if (original != 0).sum() >= 10 and original.nunique() == 3:
            break
    else:
        pytest.fail(f"no {seed_type.value} genome traded both ways on the test bars")

    config = StrategyConfig.from_genes(genes, fitness_score=0.1 + 1 / 3, backtest_sharpe=-2 / 7, now=T0)
    [path] = loader.save_evolved_strategies([config])
    assert path.name == f"{genes.strategy_name()}.json"

    reloaded = StrategyStore(loader.directory).load_strategy(config.name)
    assert reloaded == config and reloaded.genes == genes
    assert reloaded.genes.genes_hash() == genes.genes_hash()
    assert reloaded.fitness_score == config.fitness_score  # floats survive JSON exactly
    assert reloaded.to_json() == path.read_text()  # stable serialisation: rewriting changes no byte
    seed = get_registry().create_seed(reloaded.seed_type, reloaded.genes)
    pd.testing.assert_series_equal(seed.generate_signals(frame), original)


def test_data_window_and_provenance_round_trip(loader: StrategyStore) -> None:
    config = make_config()
    loader.save_strategy(config)
    back = loader.load_strategy(config.name)
    assert back.data_window == config.data_window and back.data_window.end == T0
    assert back.evolution_date == date(2024, 3, 1)
    assert back.metrics == {"sortino": 1.25, "trades": 42} and isinstance(back.metrics["trades"], int)
    assert back.created_at.tzinfo is timezone.utc and back.last_updated == T0
    with pytest.raises(ValidationError, match="must be before end"):
        DataWindow(start=T0, end=T0)


# --- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden", "with space", "x" * 201, "a\\b", "naïve"])
def test_names_must_be_filesystem_safe(bad: str) -> None:
    with pytest.raises(ValidationError, match="filesystem-safe|at least 1"):
        make_config(name=bad)


def test_config_rejects_inconsistent_fields() -> None:
    config = make_config()
    data = json.loads(config.to_json())
    other = SeedGenes.create_default(SeedType.RSI_FILTER, "x", generation=data["generation"])
    with pytest.raises(ValidationError, match="seed_type ema_crossover but genes are rsi_filter"):
        StrategyConfig.model_validate({**data, "genes": other.model_dump()})
    with pytest.raises(ValidationError, match="differs from genes.generation"):
        StrategyConfig.model_validate({**data, "generation": data["generation"] + 1})
    with pytest.raises(ValidationError, match="timezone"):
        StrategyConfig.model_validate({**data, "created_at": "2024-01-01T00:00:00"})
    with pytest.raises(ValidationError, match="finite"):
        StrategyConfig.model_validate({**data, "fitness_score": float("nan")})
    with pytest.raises(ValidationError, match="last_updated"):
        StrategyConfig.model_validate({**data, "last_updated": "2000-01-01T00:00:00Z"})
    with pytest.raises(ValidationError, match="schema_version 2"):
        StrategyConfig.model_validate({**data, "schema_version": 2})
    # a non-UTC offset is accepted and normalised to UTC
    shifted = StrategyConfig.model_validate({**data, "last_updated": "2024-03-01T09:00:00+09:00"})
    assert shifted.last_updated == T0 and shifted.last_updated.tzinfo is timezone.utc


def test_secrets_have_no_place_in_a_config(loader: StrategyStore) -> None:
    words = ("key", "secret", "token", "password", "account")
    keyish = [f for f in StrategyConfig.model_fields if any(w in f for w in words)]
    assert keyish == []
    data = json.loads(make_config().to_json())
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        StrategyConfig.model_validate({**data, "private_key": "0x" + "ab" * 32})
    with pytest.raises(ValidationError, match="looks like a credential"):
        StrategyConfig.model_validate({**data, "metrics": {"api_key": "x"}})
    with pytest.raises(ValidationError, match="looks like a private key"):
        StrategyConfig.model_validate({**data, "metrics": {"note": "0x" + "1f" * 32}})
    config = make_config()
    loader.save_strategy(config)
    before = snapshot(loader.directory)
    with pytest.raises(ValidationError, match="credential"):
        loader.update_strategy_performance(config.name, wallet_key="abc")
    assert snapshot(loader.directory) == before


# --- lifecycle ---------------------------------------------------------------------------------
def test_lifecycle_moves_are_checked_and_recorded() -> None:
    config = make_config()
    assert config.deployment_status is S.EVOLVED and not config.is_active
    assert [e.status for e in config.deployment_history] == [S.EVOLVED]
    allowed = "evolved -> deployed.*allowed moves are \\['retired', 'validated'\\]"
    with pytest.raises(IllegalTransitionError, match=allowed):
        config.transition(S.DEPLOYED, "skip validation")

    validated = config.transition(S.VALIDATED, "passed walk-forward")
    deployed = validated.transition(S.DEPLOYED, "selected", allocation=0.25)
    assert deployed.is_active and deployed.allocation == 0.25
    decaying = deployed.transition(S.DECAYING, "paper Sharpe fell", allocation=0.1)
    redeployed = decaying.transition(S.DEPLOYED, "recovered").reallocate(0.3, "rebalance")
    assert redeployed.allocation == 0.3 and redeployed.deployment_status is S.DEPLOYED
    retired = redeployed.transition(S.RETIRED, "drawdown limit hit")
    assert not retired.is_active and retired.allocation is None

    history = retired.deployment_history
    assert [e.status for e in history] == [S.EVOLVED, S.VALIDATED, S.DEPLOYED, S.DECAYING, S.DEPLOYED, S.DEPLOYED, S.RETIRED]
    assert [e.note for e in history][-1] == "drawdown limit hit" and history[2].allocation == 0.25
    assert all(a.timestamp <= b.timestamp for a, b in zip(history, history[1:]))
    assert config.deployment_history == (history[0],)  # configs are frozen: the original is unchanged

    for target in S:
        with pytest.raises(IllegalTransitionError, match="retired is terminal"):
            retired.transition(target, "again")
    with pytest.raises(IllegalTransitionError, match="cannot reallocate while validated"):
        validated.reallocate(0.5, "too early")
    with pytest.raises(ValidationError):
        validated.transition(S.DEPLOYED, "too big", allocation=1.5)


def test_a_stored_history_with_an_illegal_move_is_rejected() -> None:
    data = json.loads(make_config().transition(S.VALIDATED, "ok").to_json())
    data["deployment_history"][1]["status"] = "deployed"
    data["deployment_status"] = "deployed"
    with pytest.raises(ValidationError, match="cannot move evolved -> deployed"):
        StrategyConfig.model_validate(data)
    data = json.loads(make_config().to_json())
    data["deployment_status"] = "validated"
    with pytest.raises(ValidationError, match="last history entry is evolved"):
        StrategyConfig.model_validate(data)


def test_store_transitions_and_refuses_retiring_without_archiving(loader: StrategyStore) -> None:
    config = make_config()
    loader.save_evolved_strategies([config])
    loader.transition_strategy(config.name, "validated", "oos ok")
    deployed = loader.transition_strategy(config.name, S.DEPLOYED, "go", allocation=0.5)
    assert loader.load_strategy(config.name) == deployed
    assert [c.name for c in loader.load_strategies(active_only=True)] == [config.name]
    with pytest.raises(ConfigStoreError, match="archive"):
        loader.transition_strategy(config.name, S.RETIRED, "bye")
    with pytest.raises(IllegalTransitionError):
        loader.transition_strategy(config.name, S.VALIDATED, "back")
    assert loader.load_strategy(config.name) == deployed


# --- loading -----------------------------------------------------------------------------------
def test_load_filters_and_sorts_by_fitness_then_name(loader: StrategyStore) -> None:
    fitness = {"b_tie": 1.0, "a_tie": 1.0, "top": 2.5, "low": -0.5, "mid": 0.5, "active": 0.7}
    configs = {n: make_config(fitness=f, seed=i, name=n) for i, (n, f) in enumerate(fitness.items())}
    configs["active"] = configs["active"].transition(S.VALIDATED, "ok").transition(S.DEPLOYED, "go")
    loader.save_evolved_strategies(c for n, c in configs.items() if n != "active")
    loader.save_strategy(configs["active"])

    names = [c.name for c in loader.load_strategies()]
    assert names == sorted(fitness, key=lambda n: (-fitness[n], n))
    assert names.index("a_tie") < names.index("b_tie")
    assert [c.name for c in loader.load_strategies(min_fitness=0.7)] == ["top", "a_tie", "b_tie", "active"]
    assert [c.name for c in loader.load_strategies(max_strategies=2)] == ["top", "a_tie"]
    assert loader.load_strategies(max_strategies=0) == []
    assert [c.name for c in loader.load_strategies(active_only=True)] == ["active"]
    assert [c.name for c in loader.load_strategies(status="deployed")] == ["active"]
    assert len(loader.load_strategies(status=[S.EVOLVED, S.DEPLOYED], min_fitness=0.0)) == 5
    for bad in ({"max_strategies": -1}, {"max_strategies": True}, {"min_fitness": float("nan")}, {"status": "live"}):
        with pytest.raises(ValueError):
            loader.load_strategies(**bad)

    stored = loader.load_strategies()
    assert len(stored) == 6 and sum(c.is_active for c in stored) == 1 and loader.load_archived() == []
    assert Counter(c.deployment_status.value for c in stored) == {"evolved": 5, "deployed": 1}
    assert (stored[0].name, stored[0].fitness_score) == ("top", 2.5)  # best first
    assert {c.seed_type.value for c in stored} == {"ema_crossover"} and loader.problems == []


def test_missing_directory_and_unknown_names(tmp_path: Path) -> None:
    loader = StrategyStore(tmp_path / "nowhere")
    assert loader.load_strategies() == [] and loader.load_archived() == []
    assert not (tmp_path / "nowhere").exists()  # reading never creates the store
    with pytest.raises(KeyError, match="no strategy 'ghost'"):
        loader.load_strategy("ghost")
    with pytest.raises(UnknownStrategyError, match="ghost.*0 stored"):
        loader.update_strategy_performance("ghost", paper_sharpe=1.0)
    with pytest.raises(KeyError):
        loader.archive_strategy("ghost", "never existed")


def test_the_store_needs_a_directory(tmp_path: Path) -> None:
    assert StrategyStore(tmp_path).directory == tmp_path
    with pytest.raises(TypeError):
        StrategyStore()  # type: ignore[call-arg]  # domain code never guesses a path from the environment


# --- updating ----------------------------------------------------------------------------------
def test_update_performance_merges_and_bumps_last_updated(loader: StrategyStore) -> None:
    config = make_config()
    other = make_config(seed=1)
    loader.save_evolved_strategies([config, other])
    other_bytes = loader.path_for(other.name).read_bytes()

    updated = loader.update_strategy_performance(config.name, paper_trading_days=14, paper_sharpe=1.1, turnover=3.5)
    assert updated.last_updated > config.last_updated and updated.created_at == config.created_at
    again = loader.update_strategy_performance(config.name, max_drawdown=0.12, paper_sharpe=0.9)
    stored = loader.load_strategy(config.name)
    assert stored == again
    assert (stored.paper_trading_days, stored.paper_sharpe, stored.max_drawdown) == (14, 0.9, 0.12)
    assert stored.metrics == {**config.metrics, "turnover": 3.5}
    assert stored.genes == config.genes and stored.deployment_history == config.deployment_history
    assert loader.path_for(other.name).read_bytes() == other_bytes
    assert sorted(p.name for p in loader.directory.iterdir()) == sorted([f"{config.name}.json", f"{other.name}.json"])
    with pytest.raises(ValidationError):
        loader.update_strategy_performance(config.name, paper_trading_days=-1)


# --- archiving ---------------------------------------------------------------------------------
def test_archive_moves_retires_and_never_overwrites(loader: StrategyStore) -> None:
    future = datetime.now(timezone.utc) + timedelta(days=365)  # pins the retirement stamp: both archives collide
    config = make_config(now=future)
    keep = make_config(seed=1)
    loader.save_evolved_strategies([config, keep])
    loader.transition_strategy(config.name, S.VALIDATED, "ok")
    loader.transition_strategy(config.name, S.DEPLOYED, "go", allocation=0.4)

    first = loader.archive_strategy(config.name, "paper Sharpe below 0 for 30 days")
    assert first.parent == loader.archive_dir and first.name.startswith(f"{config.name}__")
    assert not loader.path_for(config.name).exists()
    assert [c.name for c in loader.load_strategies()] == [keep.name]
    archived = store_module.read_config(first, expect_name=False)
    assert archived.deployment_status is S.RETIRED and not archived.is_active and archived.allocation is None
    assert archived.deployment_history[-1].note == "paper Sharpe below 0 for 30 days"
    first_bytes = first.read_bytes()

    loader.save_evolved_strategies([config])  # the same genome evolves again, and is retired again
    second = loader.archive_strategy(config.name, "duplicate")
    assert second != first and second.name.endswith("-1.json")
    assert first.read_bytes() == first_bytes
    notes = [c.deployment_history[-1].note for c in loader.load_archived()]
    assert notes == ["paper Sharpe below 0 for 30 days", "duplicate"]
    assert len(loader.load_archived()) == 2


# --- robustness --------------------------------------------------------------------------------
def test_corrupt_and_foreign_files_are_reported_and_left_alone(loader: StrategyStore, caplog: pytest.LogCaptureFixture) -> None:
    good = make_config()
    loader.save_evolved_strategies([good])
    d = loader.directory
    (d / "truncated.json").write_text(good.to_json()[:100])
    (d / "foreign.json").write_text('{"hello": "world"}')
    (d / "array.json").write_text("[1, 2, 3]")
    (d / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (d / "misnamed.json").write_text(make_config(seed=3).to_json())
    (d / f".{good.name}.json.1234.tmp").write_text("{half a wr")  # an interrupted write elsewhere
    (d / "notes.txt").write_text("not a config")
    before = snapshot(d)

    with caplog.at_level(logging.WARNING, logger="quant_organism.catalog.store"):
        assert [c.name for c in loader.load_strategies()] == [good.name]
    kinds = {p.path.name: p.kind for p in loader.problems}
    assert kinds == {
        "truncated.json": "corrupt",
        "binary.json": "corrupt",
        "foreign.json": "foreign",
        "array.json": "foreign",
        "misnamed.json": "misnamed",
    }
    assert "truncated.json" in caplog.text and "left untouched" in caplog.text
    assert {str(p.as_dict()["path"]) for p in loader.problems} == {str(d / n) for n in kinds}
    loader.update_strategy_performance(good.name, paper_sharpe=0.5)  # writing other files leaves them alone too
    after = snapshot(d)
    assert {k: v for k, v in after.items() if k != f"{good.name}.json"} == {
        k: v for k, v in before.items() if k != f"{good.name}.json"
    }


def test_refuses_to_overwrite_a_corrupt_or_foreign_file(loader: StrategyStore) -> None:
    victim, bystander = make_config(), make_config(seed=1)
    loader.directory.mkdir(parents=True)
    loader.path_for(victim.name).write_text('{"precious": "hand-edited"}')
    before = snapshot(loader.directory)
    with pytest.raises(CorruptConfigError, match="foreign.*refusing to overwrite"):
        loader.save_strategy(victim)
    with pytest.raises(CorruptConfigError, match="refusing to overwrite"):
        loader.save_evolved_strategies([bystander, victim])  # all or nothing: the bystander is not written
    with pytest.raises(CorruptConfigError, match="foreign"):
        loader.update_strategy_performance(victim.name, paper_sharpe=1.0)
    with pytest.raises(CorruptConfigError):
        loader.archive_strategy(victim.name, "cleanup")
    assert snapshot(loader.directory) == before


def test_save_evolved_keeps_strategies_that_moved_on(loader: StrategyStore) -> None:
    deployed, evolved = make_config(fitness=1.0), make_config(fitness=0.5, seed=1)
    loader.save_evolved_strategies([deployed, evolved])
    loader.transition_strategy(deployed.name, S.VALIDATED, "ok")
    live = loader.transition_strategy(deployed.name, S.DEPLOYED, "go", allocation=0.2)

    rerun = [make_config(fitness=9.0, name=deployed.name), make_config(fitness=3.0, seed=1)]
    written = loader.save_evolved_strategies(rerun)
    assert written == [loader.path_for(evolved.name)]
    assert loader.load_strategy(deployed.name) == live
    assert loader.load_strategy(evolved.name).fitness_score == 3.0
    with pytest.raises(ValueError, match="duplicate strategy names"):
        loader.save_evolved_strategies([evolved, evolved])
    with pytest.raises(TypeError, match="StrategyConfig.from_genes"):
        loader.save_evolved_strategies([(evolved.genes, {"fitness": 1.0})])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="not evolved"):
        loader.save_evolved_strategies([live])


# --- atomicity ---------------------------------------------------------------------------------
def _populated(loader: StrategyStore) -> list[StrategyConfig]:
    configs = [make_config(fitness=float(i), seed=i) for i in range(5)]
    loader.save_evolved_strategies(configs)
    loader.archive_strategy(configs[4].name, "old")
    return configs


def test_an_exception_inside_a_transaction_changes_nothing(loader: StrategyStore) -> None:
    configs = _populated(loader)
    before = snapshot(loader.directory)
    with pytest.raises(RuntimeError, match="boom"):
        with loader.transaction() as tx:
            tx.save(make_config(seed=99))
            tx.update_performance(configs[0].name, paper_sharpe=2.0)
            assert tx.get(configs[0].name).paper_sharpe == 2.0  # the transaction sees its own changes
            tx.archive(configs[1].name, "replaced")
            with pytest.raises(UnknownStrategyError):
                tx.get(configs[1].name)
            raise RuntimeError("boom")
    assert snapshot(loader.directory) == before
    with pytest.raises(ConfigStoreError, match="ended"):
        tx.save(make_config(seed=98))


def test_a_failing_write_while_staging_changes_nothing(loader: StrategyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    configs = _populated(loader)
    before = snapshot(loader.directory)
    real_write, calls = store_module.create_new, []

    def flaky_write(path: Path, data: bytes, **kwargs) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(path, data, **kwargs)

    monkeypatch.setattr(store_module, "create_new", flaky_write)
    fresh = [make_config(fitness=5.0 + i, seed=10 + i) for i in range(6)]
    with pytest.raises(OSError, match="No space left"):
        loader.save_evolved_strategies(fresh)
    with pytest.raises(OSError, match="No space left"):
        with loader.transaction() as tx:
            calls.clear()
            tx.update_performance(configs[0].name, paper_trading_days=3)
            tx.archive(configs[1].name, "gone")
            tx.save(fresh[0])
    assert snapshot(loader.directory) == before


def test_a_crash_after_the_commit_point_is_rolled_forward(loader: StrategyStore) -> None:
    configs = _populated(loader)
    fresh = [make_config(fitness=10.0 + i, seed=20 + i) for i in range(4)]

    def crash_mid_apply() -> None:  # a real crash: the process dies between renames, no cleanup runs
        real_put = StrategyStore._apply_put
        done = []

        def put_then_die(self: StrategyStore, staging: Path, name: str) -> None:
            if len(done) == 2:
                os._exit(3)
            real_put(self, staging, name)
            done.append(name)

        StrategyStore._apply_put = put_then_die  # type: ignore[method-assign]
        with loader.transaction() as tx:
            for config in fresh:
                tx.save(config)
            tx.archive(configs[0].name, "superseded")

    child = multiprocessing.get_context("fork").Process(target=crash_mid_apply)
    child.start()
    child.join(30)
    assert child.exitcode == 3
    leftovers = [p for p in loader.directory.iterdir() if p.name.startswith(".txn-")]
    assert len(leftovers) == 1 and (leftovers[0] / "COMMIT.json").exists()

    names = {c.name for c in StrategyStore(loader.directory).load_strategies()}  # a reader completes it
    assert names == {c.name for c in fresh} | {c.name for c in configs[1:4]}
    assert not any(p.name.startswith(".txn-") for p in loader.directory.iterdir())
    assert {c.deployment_history[-1].note for c in loader.load_archived()} == {"old", "superseded"}


def test_a_crash_before_the_commit_point_leaves_the_old_state(loader: StrategyStore) -> None:
    configs = _populated(loader)
    before = snapshot(loader.directory)

    def crash_while_staging() -> None:
        real_write, calls = store_module.create_new, []

        def write_then_die(path: Path, data: bytes, **kwargs) -> None:
            calls.append(path)
            if len(calls) == 3:
                os._exit(4)
            real_write(path, data, **kwargs)

        store_module.create_new = write_then_die
        loader.save_evolved_strategies(make_config(fitness=20.0 + i, seed=30 + i) for i in range(5))

    child = multiprocessing.get_context("fork").Process(target=crash_while_staging)
    child.start()
    child.join(30)
    assert child.exitcode == 4
    staged = [k for k in snapshot(loader.directory) if k not in before]
    assert staged and all(k.startswith(".txn-") for k in staged)  # only an uncommitted staging folder
    assert [c.name for c in loader.load_strategies()] == [c.name for c in reversed(configs[:4])]
    loader.update_strategy_performance(configs[0].name, paper_trading_days=1)  # the next writer discards it
    assert not any(p.name.startswith(".txn-") for p in loader.directory.iterdir())


def test_an_open_transaction_locks_out_other_writers(loader: StrategyStore) -> None:
    config = make_config()
    loader.save_strategy(config)
    other = StrategyStore(loader.directory, lock_timeout=0.05)
    with loader.transaction() as tx:
        tx.update_performance(config.name, paper_sharpe=1.0)
        with pytest.raises(StoreLockedError, match="locked"):
            other.save_strategy(make_config(seed=1))
        with pytest.raises(StoreLockedError):
            other.load_strategies()  # readers wait for a consistent state
        with pytest.raises(ConfigStoreError, match="do not nest"):
            loader.save_strategy(make_config(seed=2))
        assert loader.load_strategy(config.name).paper_sharpe is None  # staged, not yet committed
    assert other.load_strategy(config.name).paper_sharpe == 1.0


# --- timing ------------------------------------------------------------------------------------
def test_timing_report_for_100_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configs = [make_config(seed_type=list(SeedType)[i % 12], fitness=i / 10, seed=i, name=f"s{i:03d}") for i in range(100)]
    loader = StrategyStore(tmp_path / "timing")
    start = time.perf_counter()
    written = loader.save_evolved_strategies(configs)
    saved = time.perf_counter() - start
    start = time.perf_counter()
    loaded = StrategyStore(loader.directory).load_strategies()
    read = time.perf_counter() - start
    assert len(written) == 100 and [c.name for c in loaded] == [f"s{i:03d}" for i in range(99, -1, -1)]
    assert {c.name: c for c in loaded} == {c.name: c for c in configs}
    with capsys.disabled():
        print(f"\nconfig store, 100 configs: save {saved * 1000:.1f} ms (goal < 200), load {read * 1000:.1f} ms (goal < 100)")
