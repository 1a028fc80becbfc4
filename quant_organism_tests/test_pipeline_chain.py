"""The whole chain in process with Dagster's harness: market data -> population -> configs -> validated ->
deployed -> report, then paper trading of the deployment on the next day's bars.

One test runs on the real Hyperliquid 1h files through the `files` source (skipped where
../shared/market-data is absent); one on the synthetic market with relaxed validation thresholds so that
something is deployed and then paper-traded.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from quant_organism_tests.support.chain import ingest_coins, project_definitions

COINS = "BTC,ETH"
# A gate that lets almost anything through (family-wise level 0.99, no walk-forward or trade rule), so
# that the chain's later assets have something to deploy and paper-trade on a 60-day test run.
RELAXED = {"mode": "minimal", "alpha": 0.99, "min_trades": 1, "require_positive_walk_forward": False}


def _evolve(definitions, instance, day: str, validation: dict | None = None, deployment: dict | None = None):
    ops = {"validation__validated_strategies": {"config": validation}} if validation else {}
    if deployment:
        ops["deployment__deployed_configs"] = {"config": deployment}
    run_config = {"ops": ops} if ops else None
    result = definitions.resolve_job_def("evolve").execute_in_process(instance=instance, partition_key=day, run_config=run_config)
    assert result.success
    return result


def _metadata(result, node: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def test_chain_runs_end_to_end_on_real_hyperliquid_files(data_dir, market_data_dir, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_COINS", COINS)
    definitions = project_definitions(data_dir, source="files", files_dir=str(market_data_dir))
    day = "2025-07-20"  # the 1h files end on 2025-07-26; the test preset needs the 60 days before
    with dg.instance_for_test() as instance:
        ingest_coins(definitions, instance, COINS.split(","), "2025-05-22", day)
        result = _evolve(definitions, instance, day)
    report_dir = data_dir / "reports" / f"date={day}"
    report = json.loads((report_dir / "report.json").read_text())
    assert report["counts"]["generated"] == _metadata(result, "evolution__population")["evaluations"] > 0
    assert _metadata(result, "evolution__population")["islands_failed"] == 0
    assert _metadata(result, "evolution__population")["island_failure_reasons"] == {}
    assert report["counts"]["validated_candidates"] == _metadata(result, "validation__validated_strategies")["candidates"]
    assert report["counts"]["deployed"] == _metadata(result, "deployment__deployed_configs")["deployed"]  # 0 is honest
    assert (report_dir / "report.md").read_text().startswith(f"# Evolution report {day}")
    assert (report_dir / "equity.png").stat().st_size > 1000
    assert all(c.passed for c in result.get_asset_check_evaluations())


def test_synthetic_chain_deploys_and_paper_trades_the_next_day(data_dir, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_COINS", COINS)
    definitions = project_definitions(data_dir)
    day, next_day = "2024-06-29", "2024-06-30"
    with dg.instance_for_test() as instance:
        ingest_coins(definitions, instance, COINS.split(","), "2024-04-30", next_day)
        (data_dir / "strategies").mkdir(parents=True, exist_ok=True)
        (data_dir / "strategies" / "notes.json").write_text("my notes, not a config")  # a stray file (issue 15.3)
        # Probation off (capital at once), so the next day's paper trading has a book to trade.
        result = _evolve(definitions, instance, day, RELAXED, {"probation_days": 0})
        deployed = _metadata(result, "deployment__deployed_configs")
        assert deployed["deployed"] >= 1
        assert [s.split(" ")[0] for s in deployed["stray_files"]] == ["notes.json"]  # a warning, not a failure
        manifest = json.loads((data_dir / "strategies" / "deployments" / "current.json").read_text())
        assert manifest["version"] == deployed["version"]
        _assert_each_asset_read_its_predecessor(data_dir, day)

        paper = definitions.resolve_job_def("paper_trade").execute_in_process(instance=instance, partition_key=next_day)
        assert paper.success
        meta = _metadata(paper, "runtime__paper_performance")
        assert meta["strategies"] == deployed["deployed"] and meta["bars"] == 24
        again = definitions.resolve_job_def("paper_trade").execute_in_process(instance=instance, partition_key=next_day)
        assert again.success  # re-running a day rewrites it: idempotent
        for run in (paper, again):
            [parity] = run.get_asset_check_evaluations()
            assert parity.check_name == "paper_matches_backtest" and parity.passed, parity.metadata

        # Deployment dates only move forward: an older evolution date (a backfill) succeeds and changes nothing.
        current = data_dir / "strategies" / "deployments" / "current.json"
        manifest_before = current.read_bytes()
        live_before = {p.name: p.read_bytes() for p in (data_dir / "strategies").glob("*.json") if _is_live(p)}
        older = _metadata(_evolve(definitions, instance, "2024-06-28", RELAXED), "deployment__deployed_configs")
        assert older["older_than_live"] is True and older["version"] == deployed["version"]
        assert "older than the live deployment" in older["notes"][0]
        assert current.read_bytes() == manifest_before
        live_after = {p.name: p.read_bytes() for p in (data_dir / "strategies").glob("*.json") if _is_live(p)}
        assert live_after == live_before

    import duckdb

    with duckdb.connect(str(data_dir / "paper" / "ledger.duckdb"), read_only=True) as con:
        marks = con.execute("SELECT strategy, count(*) FROM pnl GROUP BY strategy").fetchall()
    coins = len(COINS.split(","))
    assert {count for _, count in marks} == {24 * coins}  # one mark per bar and coin, no duplicates after the rerun
    for name, _ in marks:
        config = json.loads((data_dir / "strategies" / f"{name}.json").read_text())
        assert config["paper_trading_days"] == 1 and config["deployment_status"] in ("deployed", "decaying")
    assert meta["ledger"] == str(data_dir / "paper" / "ledger.duckdb")


def _is_live(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("deployment_status") in ("deployed", "decaying")
    except ValueError:
        return False


def _assert_each_asset_read_its_predecessor(data_dir, day: str) -> None:
    """Validation judged exactly the listed configs and recorded every verdict in the catalog: passed ones
    were validated (then deployed, or retired as not chosen), failed ones retired with their reason."""
    from quant_organism.catalog import StrategyStore

    listed = json.loads((data_dir / "evolution" / f"date={day}" / "strategy_configs.json").read_text())
    verdicts = json.loads((data_dir / "validation" / f"date={day}" / "verdicts.json").read_text())["verdicts"]
    assert [v["candidate_id"] for v in verdicts] == listed
    store = StrategyStore(data_dir / "strategies")
    live = {c.name: c for c in store.load_strategies()}
    archived = {c.name: c for c in store.load_archived()}
    for verdict in verdicts:
        name = verdict["candidate_id"]
        config = live.get(name) or archived[name]
        assert config.metrics["validation_passed"] is verdict["passed"]
        statuses = [e.status.value for e in config.deployment_history]
        if verdict["passed"]:
            assert "validated" in statuses and (config.deployment_status.value in ("deployed", "decaying") or
                                                 "not chosen" in config.deployment_history[-1].note)  # fmt: skip
        else:
            assert name in archived and "failed validation" in config.deployment_history[-1].note
    assert (data_dir / "validation" / f"date={day}" / "held_out_returns.parquet").exists()


def test_a_new_deployment_is_on_probation_and_paper_trading_says_so(data_dir, monkeypatch):
    """Default deployment: what the gate chose enters probation at its incubation capital (2% each,
    deployment/probation.py), so the next day's paper trading trades them at that size, lists them as on
    probation, and their books reproduce the backtest."""
    monkeypatch.setenv("QUANT_ORGANISM_COINS", COINS)
    definitions = project_definitions(data_dir)
    day, next_day = "2024-06-29", "2024-06-30"
    with dg.instance_for_test() as instance:
        ingest_coins(definitions, instance, COINS.split(","), "2024-04-30", next_day)
        deployed = _metadata(_evolve(definitions, instance, day, RELAXED), "deployment__deployed_configs")
        assert deployed["deployed"] >= 1
        folder = data_dir / "strategies" / "deployments"
        manifest = json.loads((folder / f"{deployed['version']}.json").read_text())
        names = sorted(s["name"] for s in manifest["strategies"])
        assert {(s["allocation"], s["stage"]) for s in manifest["strategies"]} == {(0.02, "probation")}
        for name in names:
            config = json.loads((data_dir / "strategies" / f"{name}.json").read_text())
            assert config["deployment_status"] == "deployed" and config["allocation"] == 0.02
        paper = definitions.resolve_job_def("paper_trade").execute_in_process(instance=instance, partition_key=next_day)
        assert paper.success
        meta = _metadata(paper, "runtime__paper_performance")
        assert meta["strategies"] == len(names) and sorted(meta["on_probation"]) == names  # traded at incubation size
        [parity] = paper.get_asset_check_evaluations()
        assert parity.passed and parity.metadata["books"].value >= len(names)


def test_the_nightly_assets_and_run_chain_decide_the_same_plan_on_the_same_inputs(data_dir, monkeypatch):
    """One decision function: the deployment asset and `run_chain` (what the retrospective and the benchmarks
    measure), both tiers on, reach the same plan on the same lake, the same incumbents, the same error ledger: on a night something passes
    and on a later night where nothing does (the probationers' records go on; none is kept or dropped by fiat)."""
    from quant_organism.catalog.manifest import deployment_error_budget, load_current_deployment
    from quant_organism.catalog.store import StrategyStore
    from quant_organism.defs.deployment.night_inputs import live_rules, retired
    from quant_organism.defs.validation.assets import ValidationRunConfig, incumbent_records, incumbent_since, retired_genomes
    from quant_organism.deployment.chain import ChainSettings, Incumbent, run_chain
    from quant_organism.deployment.error_budget import ErrorBudget
    from quant_organism.evolution.date_windows import evolution_windows
    from quant_organism.evolution.evolution_config import load_preset
    from quant_organism.market.frames import load_market_frames
    from quant_organism.market.lake import MarketLake
    from quant_organism.runtime.ledger import PaperLedger

    monkeypatch.setenv("QUANT_ORGANISM_COINS", COINS)
    definitions = project_definitions(data_dir)
    day, later = "2024-06-29", "2024-07-19"
    strict = {**RELAXED, "alpha": 1e-12, "min_trades": 10_000}  # nothing can pass
    store = StrategyStore(data_dir / "strategies")

    def chain_plan(night: str, validation: dict) -> dict:
        evolution = load_preset("test", executor="serial")
        windows = evolution_windows(pd.Timestamp(night).date(), evolution.lookback_days, evolution.split)
        frames = load_market_frames(
            MarketLake(data_dir / "lake"), COINS.split(","), windows.train.start, windows.walk_forward.end, "1h"
        ).frames
        paper = incumbent_records(store, windows.evolution_date)  # what the validation asset hands the decision
        live = {c.name: c for c in store.load_strategies()}
        incumbents = {n: Incumbent(live[n].genes, incumbent_since(live[n]), record) for n, record in paper.items()}
        rule_paper, rule_since = live_rules(store, PaperLedger(data_dir / "paper" / "ledger.duckdb"), windows.evolution_date)
        incumbents |= {n: Incumbent(None, rule_since[n], record) for n, record in rule_paper.items()}
        spec = ChainSettings(evolution=evolution, validation=ValidationRunConfig(**validation).settings())  # both tiers
        budget = deployment_error_budget(store)
        outcome = run_chain(frames, night, spec, incumbents=incumbents,
                            budget=ErrorBudget.from_dict(budget) if budget else None, retired=retired(store, retired_genomes(store)))  # fmt: skip
        return outcome.plan.to_dict()

    def asset_plan(night: str) -> dict:
        return json.loads((data_dir / "deployment" / f"date={night}" / "deployment.json").read_text())["plan"]

    def same(a: dict, b: dict) -> None:
        assert [(c["name"], c["stage"], round(c["allocation"], 12)) for c in a["chosen"]] == \
               [(c["name"], c["stage"], round(c["allocation"], 12)) for c in b["chosen"]]  # fmt: skip
        assert [c.get("probation") for c in a["chosen"]] == [c.get("probation") for c in b["chosen"]]
        assert sorted(r["name"] for r in a["rejected"]) == sorted(r["name"] for r in b["rejected"])
        assert a["error_budget"] == b["error_budget"] and a["probation_looks"] == b["probation_looks"]

    with dg.instance_for_test() as instance:
        ingest_coins(definitions, instance, COINS.split(","), "2024-04-30", later)
        expected_first = chain_plan(day, RELAXED)  # before the asset runs: nothing deployed yet, as the asset sees it
        first = _metadata(_evolve(definitions, instance, day, RELAXED), "deployment__deployed_configs")
        assert first["deployed"] >= 1
        same(asset_plan(day), expected_first)
        manifest = load_current_deployment(store)
        assert {s["stage"] for s in manifest["strategies"]} == {"probation"} and manifest["error_budget"]["spends"]

        expected_second = chain_plan(later, strict)
        looked = _metadata(_evolve(definitions, instance, later, strict), "deployment__deployed_configs")
        second = asset_plan(later)
        same(second, expected_second)
        assert looked["version"] != first["version"]  # a night where nothing passes still writes the night's plan
        assert set(second["probation_looks"]) == {s["name"] for s in manifest["strategies"]}
        assert all(look["probation_weeks"] >= 2 for look in second["probation_looks"].values())  # records carried on
    assert second["error_budget"] == manifest["error_budget"]  # nothing entered: no share spent
