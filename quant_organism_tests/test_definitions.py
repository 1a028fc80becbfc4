"""The whole Definitions load, and the asset graph's keys and dependencies match the snapshot.

A change in lineage must show up here in review: update SNAPSHOT deliberately when the graph changes.
"""

from __future__ import annotations

import sys

import dagster as dg

from quant_organism import settings
from quant_organism.definitions import load_definitions

defs = load_definitions()

SNAPSHOT: dict[str, list[str]] = {
    "market/candles": [],
    "market/funding_rates": [],
    "market/sentiment": [],
    "market/regime": ["market/candles", "market/sentiment"],
    "evolution/population": ["market/candles", "market/funding_rates", "market/regime"],
    "evolution/strategy_configs": ["evolution/population"],
    "validation/validated_strategies": ["evolution/strategy_configs"],
    "validation/documented_tier": ["evolution/population"],  # the night's frames: the population's coins and lookback
    "validation/portfolio_search": ["evolution/population"],  # the same frames and windows
    "deployment/deployed_configs": [  # every tier
        "validation/documented_tier",
        "validation/portfolio_search",
        "validation/validated_strategies",
    ],
    "deployment/evolution_report": ["deployment/deployed_configs"],
    "runtime/paper_performance": ["deployment/deployed_configs", "deployment/evolution_report", "market/candles"],
    "runtime/paper_bars": ["deployment/deployed_configs"],  # each closed hour, into the same ledger
    # each date starts from the previous date's deployment, on the lake's history before it
    "organism/retrospective": ["market/candles", "market/funding_rates", "market/regime", "organism/retrospective"],
    "operations/health": [],
    "runtime/live_feed": [],  # observed from the live process's health record (python -m quant_organism live)
    "reporting/research_memory": ["deployment/evolution_report"],
}


def _graph() -> dict[str, list[str]]:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    return {
        key.to_user_string(): sorted(parent.to_user_string() for parent in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    for job in ("ingest_market_data", "evolve", "evolve_full", "paper_trade"):
        assert defs.resolve_job_def(job) is not None


def test_asset_keys_and_dependencies_match_snapshot():
    assert _graph() == SNAPSHOT


def test_market_assets_are_partitioned_daily_by_coin_with_blocking_quality_checks():
    repo = defs.get_repository_def()
    for key in ("market/candles", "market/funding_rates"):
        node = repo.asset_graph.get(dg.AssetKey.from_user_string(key))
        dims = {d.name: d.partitions_def for d in node.partitions_def.partitions_defs}
        assert isinstance(dims["date"], dg.DailyPartitionsDefinition)
        assert set(dims["coin"].get_partition_keys()) == {"BTC", "ETH", "SOL", "DOGE", "XRP"}
    from quant_organism.defs.market.assets import CANDLES, FUNDING

    candles, funding_rates = defs.get_assets_def(CANDLES), defs.get_assets_def(FUNDING)

    for asset in (candles, funding_rates):
        specs = {spec.name: spec for spec in asset.check_specs}
        assert specs["quality_score"].blocking
        assert not any(spec.blocking for name, spec in specs.items() if name != "quality_score")
    assert {spec.name for spec in candles.check_specs} >= {
        "schema_and_types",
        "unique_increasing_timestamps",
        "expected_bar_count",
        "ohlc_consistency",
        "non_negative_volume",
        "plausible_jumps",
    }


def test_code_location_loads_as_the_ui_loads_it(tmp_path):
    """`dg check defs` loads the code location pyproject.toml's [tool.dg.project] names, in a fresh process, as `dg dev`
    (what `make ui` runs) does: the one place the Dagster project is configured."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    dg_cli = Path(sys.executable).with_name("dg")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "QUANT_ORGANISM_DATA_DIR": str(tmp_path / "data"),
           "VIRTUAL_ENV": str(Path(sys.executable).parents[1])}  # fmt: skip
    done = subprocess.run(
        [str(dg_cli), "check", "defs", "--use-active-venv"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr
    assert not (root / "workspace.yaml").exists()  # no second place configures the project


def test_workflow_jobs_show_a_step_per_phase_with_inheritance_as_lineage():
    """Each packaged workflow is a job: `plan`, then one step per phase, wired by inherit_best_from."""
    from quant_organism.definitions import load_definitions

    job = load_definitions().resolve_job_def("workflow_discovery_refinement")
    deps = {node.name: {name: dep.node for name, dep in inputs.items()} for node, inputs in job.graph.dependencies.items()}
    assert deps == {
        "plan": {},
        "strategy_discovery": {"plan": "plan"},
        "refinement": {"plan": "plan", "inherited": "strategy_discovery"},
        "risk_check": {"plan": "plan", "inherited": "refinement"},
    }
    assert load_definitions().resolve_job_def("research_workflow") is not None


def _upstream_keys(graph, child: dg.AssetKey, parent: dg.AssetKey, keys: list[str]) -> list[str]:
    """The partitions of `parent` that partitions `keys` of `child` read, through the graph's mapping."""
    child_def, parent_def = graph.get(child).partitions_def, graph.get(parent).partitions_def
    mapping = graph.get_partition_mapping(child, parent)
    mapped = mapping.get_upstream_mapped_partitions_result_for_partitions(
        child_def.subset_with_partition_keys(keys), child_def, parent_def
    )
    return list(mapped.partitions_subset.get_partition_keys())


def test_a_days_population_depends_on_its_whole_lookback_of_candles():
    """Population D reads a lookback fitted to the history, up to 2,190 days (the full preset's cap); the graph
    declares the longest (from the partitions' first day), and the UI's snapshot of the graph carries the mapping
    (only Dagster's built-in mappings reach the UI)."""
    from dagster._core.remote_representation.external_data import RepositorySnap

    from quant_organism.defs.evolution.assets import LOOKBACK_EDGE_DAYS, POPULATION
    from quant_organism.defs.market.assets import CANDLES
    from quant_organism.defs.market.regime_assets import REGIME

    graph = defs.get_repository_def().asset_graph
    day = "2025-07-14"
    regime_days = _upstream_keys(graph, POPULATION, REGIME, [day])
    assert LOOKBACK_EDGE_DAYS == 2190 and len(regime_days) == 561  # D - 2189 .. D, from the partitions' first day
    assert (regime_days[0], regime_days[-1]) == ("2024-01-01", day)
    candles = _upstream_keys(graph, REGIME, CANDLES, regime_days)
    candle_days = {key.split("|")[1] for key in candles}  # date x coin keys read 'coin|date'
    assert len(candle_days) >= 500 and len(candles) == 561 * 5
    # a candle partition of an old day leads to the population, through the regime of its day
    assert "2024-02-01" in candle_days

    snap = RepositorySnap.from_def(defs.get_repository_def())
    node = next(n for n in snap.asset_nodes if n.asset_key == POPULATION)
    edge = next(e for e in node.parent_edges if e.parent_asset_key == REGIME)
    assert isinstance(edge.partition_mapping, dg.TimeWindowPartitionMapping)
    assert edge.partition_mapping.start_offset == -2189


def test_partitions_follow_the_environment_of_each_load(monkeypatch):
    """The partitions are built from the settings of each load (`build_definitions`), not at import: a later load
    under another universe or first day gets its own, and no module is imported again."""

    def market_partitions() -> tuple[list[str], str]:
        spec = load_definitions().get_assets_def(dg.AssetKey(["market", "candles"])).partitions_def
        coin = spec.get_partitions_def_for_dimension("coin")
        return coin.get_partition_keys(), spec.get_partitions_def_for_dimension("date").start.strftime("%Y-%m-%d")

    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC")
    monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2024-03-01")
    assert market_partitions() == (["BTC"], "2024-03-01")
    first = load_definitions().get_assets_def(dg.AssetKey(["market", "candles"]))
    assert load_definitions().get_assets_def(dg.AssetKey(["market", "candles"])) is first  # same environment: not rebuilt
    imported = {name: module for name, module in sys.modules.items() if name.startswith("quant_organism.defs")}
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
    assert market_partitions() == (["BTC", "ETH"], "2024-03-01")
    monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2024-06-01")
    assert market_partitions() == (["BTC", "ETH"], "2024-06-01")
    hourly = load_definitions().get_assets_def(dg.AssetKey(["runtime", "paper_bars"])).partitions_def
    assert hourly.start.strftime("%Y-%m-%d") == "2024-06-01"
    monkeypatch.undo()
    assert market_partitions()[0] == list(settings.coins())  # the default universe again
    assert all(sys.modules[name] is module for name, module in imported.items())  # no module imported twice


def test_the_gate_is_a_blocking_check_before_deployment_and_market_data_has_freshness_policies():
    graph = defs.get_repository_def().asset_graph
    gate = graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey(["validation", "validated_strategies"]), "gate_decides_deployment"))
    assert gate.blocking
    deployed = dg.AssetKey(["deployment", "deployed_configs"])
    assert dg.AssetKey(["validation", "validated_strategies"]) in graph.get(deployed).parent_keys
    for key in (["market", "candles"], ["market", "funding_rates"]):
        assert graph.get(dg.AssetKey(key)).freshness_policy is not None
