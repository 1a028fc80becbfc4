"""The documented tier on the nightly path: it judges the night's frames (the population's coins and lookback), its
passing rule is deployed by the nightly decision as a versioned manifest entry, paper-traded one closed day at a
time with parity against its own backtest, and shown by `status`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd

from quant_organism.market.ingest import ingest_candle_days, ingest_funding_days
from quant_organism.market.lake import MarketLake
from quant_organism.market.sources.planted import PlantedMarket, PlantedSource

COINS = ("BTC", "ETH", "SOL")
START = pd.Timestamp("2023-01-01", tz="UTC")
NIGHT, PAPER_DAYS = "2024-12-01", ("2024-12-02", "2024-12-03")  # 701 days: 180 of the rules' warm-up, 520 of evidence
LOOKBACK = 700


def _materialized(result, node: str) -> dict:
    (event,) = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", getattr(v, "data", v)) for k, v in event.metadata.items()}


def test_a_passing_rule_is_deployed_nightly_and_paper_traded_with_parity(data_dir, monkeypatch):
    """The lake is written by the domain's ingest (the ingest asset's path is test_market_assets'), daily bars of a
    planted trend market on which the trend family passes, so that 300 days take seconds."""
    from quant_organism_tests.support.chain import project_definitions

    monkeypatch.setenv("QUANT_ORGANISM_INTERVAL", "1d")  # the tier reads days
    monkeypatch.setenv("QUANT_ORGANISM_COINS", ",".join(COINS))
    source = PlantedSource(PlantedMarket(kind="trend", strength=0.15, seed=3, coins=COINS, start=START,
                                         end=START + pd.Timedelta(days=730)))  # fmt: skip
    lake = MarketLake(data_dir / "lake")
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(START, pd.Timestamp(PAPER_DAYS[-1], tz="UTC"))]
    for coin in COINS:
        ingest_candle_days(source, lake, coin, days, "1d")
        ingest_funding_days(source, lake, coin, days)
    definitions = project_definitions(data_dir)
    night = {"ops": {"evolution__population": {"config": {"preset": "test", "lookback_days": LOOKBACK}}}}
    with dg.instance_for_test() as instance:
        evolved = definitions.resolve_job_def("evolve").execute_in_process(
            instance=instance, partition_key=NIGHT, run_config=night
        )
        assert evolved.success
        tier = _materialized(evolved, "validation__documented_tier")
        assert tier["evidence_days"] == 520 and tier["passed"], tier["summary"]  # the planted trend passes
        families = {record.data["family"]: record.data for record in tier["families"].records}  # a row a family
        assert set(families) == {"ts_trend", "xs_momentum", "funding_carry"}
        assert families["ts_trend"]["passed"] and families["ts_trend"]["reason"].startswith("passed: anytime p")
        assert all(row["reason"] for row in families.values())
        assert tier["detectable_sharpe_50"] > 3.0  # 74 weeks cannot see much with a valid test, and it says so
        assert "data:image/png;base64," in tier["excess_plot"]
        rows = {record.data["rule"]: record.data for record in tier["rules"].records}  # a row and a reason per rule
        assert len(rows) == 12 and all(row["reason"] for row in rows.values())
        assert {name for name, row in rows.items() if row["passed"]} == set(tier["passed"])
        assert all(
            row["reason"].startswith("passed its family's closed e-test at 1.50%") for row in rows.values() if row["passed"]
        )
        deployed = _materialized(evolved, "deployment__deployed_configs")
        decisions = [record.data for record in deployed["decisions"].records]  # the decision table, a row a strategy
        assert decisions and all(row["outcome"] and row["reason"] for row in decisions)
        manifest = json.loads((data_dir / "strategies" / "deployments" / f"{deployed['version']}.json").read_text())
        rules = manifest["rules"]
        tiered = [name for name in rules if name.startswith("documented.")]  # beside them the portfolio search's passers
        assert tiered and all(name.startswith("documented.ts_trend") for name in tiered)
        assert all(name.startswith(("documented.", "searched.")) for name in rules)
        for name, entry in rules.items():
            assert entry["since"] == PAPER_DAYS[0] and entry["rule"]["name"] == name.removeprefix("documented.")
            (chosen,) = [s for s in manifest["strategies"] if s["name"] == name]
            assert chosen["stage"] == "probation" and chosen["allocation"] == 0.02  # incubation, like any newcomer
            assert chosen["probation"]["alpha"] > 0.0  # its share of the year's error budget is spent
            (row,) = [row for row in decisions if row["strategy"] == name]
            assert row["outcome"] == "entered probation" and row["allocation_pct"] == 2.0
        for day in PAPER_DAYS:
            paper = definitions.resolve_job_def("paper_trade").execute_in_process(instance=instance, partition_key=day)
            assert paper.success
            meta = _materialized(paper, "runtime__paper_performance")
            assert sorted(meta["documented_rules"]) == sorted(rules)
            [parity] = paper.get_asset_check_evaluations()
            assert parity.passed
            books = parity.metadata["rule_books"].data
            assert {b["strategy"] for b in books} == set(rules) and all(b["days"] == days_in for b in books for days_in in
                                                                          [PAPER_DAYS.index(day) + 1])  # fmt: skip
        # The next night: the live rule is an incumbent on its forward record and its paper record, and the nightly
        # decision equals run_chain's on the same lake, incumbents, paper records and probation ledger.
        expected = _chain_plan(data_dir, PAPER_DAYS[-1])
        later = definitions.resolve_job_def("evolve").execute_in_process(
            instance=instance, partition_key=PAPER_DAYS[-1], run_config=night
        )
        assert later.success
        plan = json.loads((data_dir / "deployment" / f"date={PAPER_DAYS[-1]}" / "deployment.json").read_text())["plan"]
        assert _decisions(plan) == _decisions(expected)
        assert set(rules) <= set(plan["probation_looks"])  # each live rule looked at on its forward record
        assert plan["error_budget"] == expected["error_budget"]
    status = subprocess.run([sys.executable, "-m", "quant_organism", "status"], capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "QUANT_ORGANISM_DATA_DIR": str(data_dir)})  # fmt: skip
    for name in rules:
        assert name in status.stdout and f"since {PAPER_DAYS[0]}" in status.stdout
    saved = json.loads(Path(tier["path"]).read_text())
    assert saved["span"]["end"].startswith(NIGHT) and saved["span"]["days"] == 520 and saved["candidates"]


def _decisions(plan: dict) -> list:
    """What a plan decided: each chosen strategy's name, stage, allocation and probation record, the rejected names,
    the ledger and the looks."""
    return [
        [(c["name"], c["stage"], round(c["allocation"], 12), c.get("probation")) for c in plan["chosen"]],
        sorted(r["name"] for r in plan["rejected"]),
        plan["error_budget"],
        plan["probation_looks"],
    ]


def _chain_plan(data_dir: Path, night: str) -> dict:
    """`run_chain`'s plan for `night` on the lake and the store as the nightly assets would find them."""
    from quant_organism.catalog.manifest import deployment_error_budget
    from quant_organism.catalog.store import StrategyStore
    from quant_organism.defs.deployment.night_inputs import live_rules, retired
    from quant_organism.defs.validation.assets import ValidationRunConfig, incumbent_records, incumbent_since, retired_genomes
    from quant_organism.deployment.chain import ChainSettings, Incumbent, run_chain
    from quant_organism.deployment.error_budget import ErrorBudget
    from quant_organism.evolution.date_windows import evolution_windows
    from quant_organism.evolution.evolution_config import load_preset
    from quant_organism.market.frames import load_market_frames
    from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger

    store = StrategyStore(data_dir / "strategies")
    evolution = load_preset("test", executor="serial", lookback_days=LOOKBACK)
    windows = evolution_windows(pd.Timestamp(night).date(), evolution.lookback_days, evolution.split)
    frames = load_market_frames(MarketLake(data_dir / "lake"), COINS, windows.train.start, windows.walk_forward.end, "1d").frames
    live = {c.name: c for c in store.load_strategies()}
    incumbents = {
        n: Incumbent(live[n].genes, incumbent_since(live[n]), r)
        for n, r in incumbent_records(store, windows.evolution_date).items()
    }
    paper, since = live_rules(store, PaperLedger(data_dir / LEDGER_FILE), windows.evolution_date)
    incumbents |= {n: Incumbent(None, since[n], record) for n, record in paper.items()}
    budget = deployment_error_budget(store)
    spec = ChainSettings(evolution=evolution, validation=ValidationRunConfig().settings())
    outcome = run_chain(frames, night, spec, incumbents=incumbents, budget=ErrorBudget.from_dict(budget) if budget else None,
                        retired=retired(store, retired_genomes(store)))  # fmt: skip
    return outcome.plan.to_dict()
