"""Atomic deployment: lifecycle moves, superseded archives, the manifest, rollback on failure, verification."""

from __future__ import annotations

import hashlib
import importlib
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.catalog import ConfigStoreError, DeploymentStatus, StrategyConfig, StrategyStore, load_current_deployment
from quant_organism.catalog import store as store_module
from quant_organism.catalog.store import StoreTransaction
from quant_organism.deployment import (
    Candidate,
    DecisionEngine,
    DeploymentPlan,
    DeploymentRefused,
    deploy,
    stray_files,
    verify_deployment,
)
from quant_organism.deployment.decision import ChosenStrategy
from quant_organism.strategies import SeedGenes, SeedType

manifest_module = importlib.import_module("quant_organism.catalog.manifest")
S = DeploymentStatus
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)


# --- helpers ---------------------------------------------------------------------------------------
def ohlcv(n: int = 300, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.006, n)))
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": rng.uniform(500.0, 1500.0, n),
            "funding_rate": rng.normal(0.0, 1e-4, n),
        },
        index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
    )


def evolved(name: str, seed: int, seed_type: SeedType = SeedType.EMA_CROSSOVER) -> StrategyConfig:
    genes = SeedGenes.random(seed_type, name, np.random.default_rng(seed))
    return StrategyConfig.from_genes(
        genes, fitness_score=1.0 + seed / 10, backtest_sharpe=1.5, name=name, evolution_date=date(2024, 2, 29), now=T0
    )


def validation_returns(names: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(2e-3, 0.01, (400, len(names))), columns=names)


def plan_for(names: list[str], seed: int = 0) -> DeploymentPlan:
    scores = [0.95 - 0.01 * i for i in range(len(names))]
    offered = [Candidate(n, s, validation={"validation_score": s}) for n, s in zip(names, scores)]
    return DecisionEngine().select(offered, validation_returns(names, seed))


def hashes(directory: Path) -> dict[str, str | None]:
    """sha256 of every file under `directory` (dot-files and sub-folders included; None marks a folder)."""
    return {
        str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
        for p in sorted(directory.rglob("*"))
    }


@pytest.fixture
def loader(tmp_path: Path) -> StrategyStore:
    store = StrategyStore(tmp_path / "strategies")
    store.save_evolved_strategies([evolved(f"strat{i}", i) for i in range(6)])
    return store


@pytest.fixture
def deployed(loader: StrategyStore) -> StrategyStore:
    """A store with a first deployment (strat0..strat2) in place and strat3..strat5 evolved."""
    deploy(plan_for(["strat0", "strat1", "strat2"]), loader, when=T1, note="first")
    return loader


def statuses(loader: StrategyStore) -> dict[str, DeploymentStatus]:
    return {c.name: c.deployment_status for c in loader.load_strategies()}


# --- lifecycle -------------------------------------------------------------------------------------
def test_first_deployment_moves_candidates_evolved_validated_deployed(loader: StrategyStore) -> None:
    plan = plan_for(["strat0", "strat1", "strat2"])
    record = deploy(plan, loader, when=T1, note="first", evolution_date=date(2024, 3, 1))

    assert record.validated == ["strat0", "strat1", "strat2"] and record.archived == []
    expected = {f"strat{i}": S.DEPLOYED if i < 3 else S.EVOLVED for i in range(6)}
    assert statuses(loader) == expected
    config = loader.load_strategy("strat0")
    assert [e.status for e in config.deployment_history] == [S.EVOLVED, S.VALIDATED, S.DEPLOYED]
    assert config.is_active and config.allocation == plan.allocations["strat0"] == 0.25
    assert config.deployment_history[-1].allocation == 0.25
    assert "validation passed: score 0.9500" in config.deployment_history[1].note
    assert config.metrics["validation_score"] == 0.95
    assert config.last_updated == T1

    manifest = load_current_deployment(loader)
    assert manifest is not None and manifest["version"] == record.version
    assert record.manifest_path == loader.directory / "deployments" / f"{record.version}.json"
    assert {s["name"]: s["allocation"] for s in manifest["strategies"]} == plan.allocations
    assert manifest["cash"] == pytest.approx(0.25) and manifest["evolution_date"] == "2024-03-01"
    assert manifest["previous"] is None
    assert verify_deployment(loader, ohlcv()) == []


def test_redeployment_reallocates_kept_archives_superseded_and_validates_new(deployed: StrategyStore) -> None:
    first = load_current_deployment(deployed)
    plan = plan_for(["strat2", "strat3", "strat4", "strat5"], seed=1)
    record = deploy(plan, deployed, when=T2, note="second")

    assert record.reallocated == ["strat2"] and record.validated == ["strat3", "strat4", "strat5"]
    assert record.archived == ["strat0", "strat1"]
    assert statuses(deployed) == {f"strat{i}": S.DEPLOYED for i in (2, 3, 4, 5)}
    archived = {c.name: c for c in deployed.load_archived()}
    assert set(archived) == {"strat0", "strat1"}
    for config in archived.values():
        assert config.deployment_status is S.RETIRED and config.allocation is None and not config.is_active
        assert config.deployment_history[-1].note.startswith("superseded")
        assert record.version in config.deployment_history[-1].note
    kept = deployed.load_strategy("strat2")
    assert [e.status for e in kept.deployment_history][-2:] == [S.DEPLOYED, S.DEPLOYED]  # a reallocation entry
    assert "reallocated" in kept.deployment_history[-1].note

    manifest = load_current_deployment(deployed)
    assert manifest["previous"] == first["version"] and manifest["archived"] == ["strat0", "strat1"]
    versions = sorted(p.name for p in (deployed.directory / "deployments").glob("2*.json"))
    assert versions == sorted([f"{first['version']}.json", f"{record.version}.json"])  # the history is kept
    assert verify_deployment(deployed, ohlcv()) == []


def test_decaying_strategy_chosen_again_is_deployed_again(deployed: StrategyStore) -> None:
    deployed.transition_strategy("strat1", S.DECAYING, "edge fading", allocation=0.1)
    record = deploy(plan_for(["strat1", "strat0"], seed=2), deployed, when=T2)
    assert record.newly_deployed == ["strat1"] and record.reallocated == ["strat0"] and record.archived == ["strat2"]
    config = deployed.load_strategy("strat1")
    assert config.deployment_status is S.DEPLOYED and config.allocation == 0.25


def test_empty_plan_archives_the_previous_deployment_and_leaves_all_cash(deployed: StrategyStore) -> None:
    plan = DecisionEngine().select([], pd.DataFrame())
    record = deploy(plan, deployed, when=T2, note="nothing passed")
    assert record.archived == ["strat0", "strat1", "strat2"] and record.allocations == {}
    assert not deployed.load_strategies(status=[S.DEPLOYED, S.DECAYING])
    manifest = load_current_deployment(deployed)
    assert manifest["strategies"] == [] and manifest["cash"] == 1.0
    assert verify_deployment(deployed, ohlcv()) == []


def test_unknown_chosen_strategy_aborts_without_writing(deployed: StrategyStore) -> None:
    before = hashes(deployed.directory)
    with pytest.raises(KeyError, match="ghost"):
        deploy(plan_for(["strat3", "ghost"]), deployed, when=T2)
    assert hashes(deployed.directory) == before


def test_plan_breaking_the_caps_is_refused(deployed: StrategyStore) -> None:
    plan = plan_for(["strat3"])
    greedy = DeploymentPlan((ChosenStrategy("strat3", 0.5, 0.9, 10.0),), (), 0.5, (), plan.config)
    with pytest.raises(ValueError, match="outside"):
        deploy(greedy, deployed, when=T2)
    with pytest.raises(ValueError, match="timezone-aware"):
        deploy(plan, deployed, when=datetime(2024, 3, 2))


# --- atomicity -------------------------------------------------------------------------------------
class Boom(RuntimeError):
    pass


def _fail_in_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    """After every chosen strategy is staged, the first archive raises."""

    def archive(self, name, reason):
        raise Boom("archive failed")

    monkeypatch.setattr(StoreTransaction, "archive", archive)


def _fail_in_store_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's own file writer fails on its third file, after the manifest was written."""
    real, calls = store_module.create_new, []

    def write(path, data, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise Boom("disk full")
        real(path, data, **kwargs)

    monkeypatch.setattr(store_module, "create_new", write)


def _fail_in_pointer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The versioned manifest is written, then replacing current.json fails after its temp file exists."""

    def replace_bytes(path, data):
        (path.parent / f".{path.name}.0.0.tmp").write_bytes(data)  # the temp file exists, the rename never happens
        raise Boom("pointer write failed")

    monkeypatch.setattr(manifest_module, "replace_bytes", replace_bytes)


def _fail_after_pointer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pointer was replaced, then the manifest step fails (e.g. syncing the folder)."""

    def fsync_dir(path):
        raise Boom("fsync failed")

    monkeypatch.setattr(manifest_module, "fsync_path", fsync_dir)


@pytest.mark.parametrize(
    "inject", [_fail_in_archive, _fail_in_store_writer, _fail_in_pointer, _fail_after_pointer], ids=lambda f: f.__name__
)
def test_a_failure_mid_deployment_leaves_the_previous_deployment_byte_identical(
    deployed: StrategyStore, monkeypatch: pytest.MonkeyPatch, inject
) -> None:
    before = hashes(deployed.directory)
    assert any(k.startswith("deployments/") for k in before)
    inject(monkeypatch)
    with pytest.raises(Boom):
        deploy(plan_for(["strat2", "strat3", "strat4"], seed=3), deployed, when=T2, note="doomed")
    monkeypatch.undo()
    assert hashes(deployed.directory) == before
    assert verify_deployment(deployed, ohlcv()) == []


@pytest.mark.parametrize("inject", [_fail_in_store_writer, _fail_after_pointer], ids=lambda f: f.__name__)
def test_a_failed_first_deployment_leaves_no_trace(loader: StrategyStore, monkeypatch: pytest.MonkeyPatch, inject) -> None:
    before = hashes(loader.directory)
    inject(monkeypatch)
    with pytest.raises(Boom):
        deploy(plan_for(["strat0", "strat1"]), loader, when=T1)
    assert hashes(loader.directory) == before  # no deployments/ folder either


def test_failure_after_the_commit_point_rolls_forward_with_the_manifest(
    deployed: StrategyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = store_module.StrategyStore._apply_put, []

    def apply_put(self, staging, name):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("interrupted while renaming")
        real(self, staging, name)

    monkeypatch.setattr(store_module.StrategyStore, "_apply_put", apply_put)
    plan = plan_for(["strat2", "strat3"], seed=4)
    with pytest.raises(ConfigStoreError, match="will be completed"):
        deploy(plan, deployed, when=T2)
    monkeypatch.undo()
    fresh = StrategyStore(deployed.directory)  # the next reader completes the commit
    assert statuses(fresh) == {"strat3": S.DEPLOYED, "strat2": S.DEPLOYED, "strat4": S.EVOLVED, "strat5": S.EVOLVED}
    assert {c.name: c.allocation for c in fresh.load_strategies(status=S.DEPLOYED)} == plan.allocations
    assert verify_deployment(fresh, ohlcv()) == []  # the manifest kept matches the rolled-forward configs


# --- verification ----------------------------------------------------------------------------------
def _edit(loader: StrategyStore, name: str, **fields) -> None:
    path = loader.path_for(name)
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data, indent=2))


def test_verify_catches_an_allocation_sum_above_one(loader: StrategyStore) -> None:
    deploy(plan_for(["strat0", "strat1", "strat2", "strat3", "strat4"]), loader, when=T1)
    assert verify_deployment(loader, ohlcv()) == []  # 5 x 0.25 was scaled to 5 x 0.2
    for i in range(5):
        _edit(loader, f"strat{i}", allocation=0.24)
    problems = verify_deployment(loader, ohlcv())
    assert any("sum to 1.200000 > 1" in p for p in problems)
    assert any("manifest" in p for p in problems)  # the pointer no longer agrees with the configs
    assert not any("cap" in p or "max_weight" in p for p in problems)


def test_verify_catches_over_cap_weights(deployed: StrategyStore) -> None:
    _edit(deployed, "strat0", allocation=0.45)
    _edit(deployed, "strat1", allocation=0.30)
    _edit(deployed, "strat2", allocation=0.05)
    problems = verify_deployment(deployed, ohlcv())
    assert any(p.startswith("strat0:") and "hard cap 0.4" in p for p in problems)
    assert any(p.startswith("strat1:") and "max_weight 0.25" in p for p in problems)
    assert not any(p.startswith("strat2:") and ("cap" in p or "max_weight" in p) for p in problems)
    assert verify_deployment(deployed, ohlcv(), max_weight=0.40) != []  # the hard cap holds whatever the limit


def test_verify_catches_unloadable_files_and_strategies_that_cannot_signal(deployed: StrategyStore) -> None:
    carry = evolved("carry", 9, SeedType.FUNDING_CARRY)
    deployed.save_evolved_strategies([carry])
    deploy(plan_for(["strat0", "carry"], seed=5), deployed, when=T2)
    bars = ohlcv().drop(columns=["funding_rate"])  # a funding seed cannot signal without funding
    problems = verify_deployment(deployed, bars)
    assert any(p.startswith("carry:") and "cannot generate signals" in p for p in problems)
    assert not any(p.startswith("strat0:") for p in problems)
    (deployed.directory / "broken.json").write_text("{not json")  # a stray file is not the deployment's problem
    assert not any("broken" in p for p in verify_deployment(deployed, ohlcv()))
    assert [s.split(" ")[0] for s in stray_files(deployed)] == ["broken.json"]
    (deployed.directory / "strat0.json").write_text("{not json")  # a deployed strategy's own file is
    assert any("manifest" in p and "strat0" in p for p in verify_deployment(deployed, ohlcv()))


def test_a_deployment_that_fails_verification_is_refused_before_its_commit(deployed: StrategyStore) -> None:
    carry = evolved("carry", 9, SeedType.FUNDING_CARRY)
    deployed.save_evolved_strategies([carry])
    before = hashes(deployed.directory)
    bars = ohlcv().drop(columns=["funding_rate"])  # the carry seed cannot signal on these
    with pytest.raises(DeploymentRefused, match="carry: cannot generate signals"):
        deploy(plan_for(["strat0", "carry"], seed=5), deployed, when=T2, verify=bars)
    assert hashes(deployed.directory) == before  # the previous deployment is untouched
    assert deploy(plan_for(["strat0", "carry"], seed=5), deployed, when=T2, verify=ohlcv()).allocations


def test_validated_strategies_not_chosen_are_retired_so_none_waits_forever(deployed: StrategyStore) -> None:
    for name in ("strat3", "strat4"):
        deployed.transition_strategy(name, S.VALIDATED, "validation passed")
    record = deploy(plan_for(["strat0", "strat3"]), deployed, when=T2, note="second")
    assert record.not_chosen == ["strat4"] and record.archived == ["strat1", "strat2"]
    assert statuses(deployed) == {"strat0": S.DEPLOYED, "strat3": S.DEPLOYED, "strat5": S.EVOLVED}
    [retired] = [c for c in deployed.load_archived() if c.name == "strat4"]
    assert "validated but not chosen by deployment" in retired.deployment_history[-1].note
