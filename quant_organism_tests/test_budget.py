"""Budgets (issue 13): a time budget split into phase shares stops evolution cleanly at its share (a valid,
smaller population), bounds validation, and a cost estimate beyond the limit refuses the run before any work."""

from __future__ import annotations

import logging
import os
import time

import pytest

from quant_organism.core.budget import (
    CostLimitExceeded,
    RunBudget,
    check_cost,
    cost_usd,
    estimate_cpu_seconds,
    planned_evaluations,
)
from quant_organism.evolution import load_preset, run_evolution, warm_up
from quant_organism.evolution.date_windows import evolution_windows
from quant_organism.reporting.report import budget_line, budget_summary
from quant_organism_tests.support.markets import planted_market


def test_shares_end_at_cumulative_points_of_the_run_clock():
    budget = RunBudget(60.0, started_at=1000.0)
    assert budget.deadline("evolution") == 1030.0
    assert budget.deadline("validation") == pytest.approx(1052.5)
    assert budget.deadline("reporting") == pytest.approx(1060.0)
    assert RunBudget(None).deadline("evolution") is None
    with pytest.raises(ValueError):
        RunBudget(60.0, shares={"evolution": 0.9, "validation": 0.9})
    with pytest.raises(ValueError):
        RunBudget(-1.0)


def test_cost_estimate_is_capped_by_the_budget_and_checked_against_the_limit():
    planned = planned_evaluations(500, 20, 0.3)
    assert planned == 500 * (1 + 20 * 0.7)
    unbounded = estimate_cpu_seconds(planned, 5, 5184, workers=2)
    capped = estimate_cpu_seconds(planned, 5, 5184, workers=2, budget=RunBudget(10.0))
    assert capped == 20.0 < unbounded
    assert cost_usd(3600.0, 0.05) == pytest.approx(0.05)
    check_cost(0.01, 0.02)
    check_cost(5.0, None)
    with pytest.raises(CostLimitExceeded, match="above the cost limit"):
        check_cost(0.03, 0.02)


def test_evolution_stops_cleanly_at_its_deadline_with_a_valid_smaller_population():
    frames = planted_market(days=130)
    day = "2024-05-09"
    # 200 generations: about 20x what a 1.5 s deadline allows here, so it binds on a machine many times faster too
    config = load_preset("full", executor="serial", lookback_days=120, generations=200)
    warm_up([s for s, _ in config.seed_type_weights()])  # a fresh clone compiles the kernels once: not the deadline's
    started = time.time()
    result = run_evolution(frames, config, evolution_date=day, deadline=started + 1.5)
    wall = time.time() - started
    statuses = result.batches["status"].value_counts().to_dict()
    assert statuses.get("budget", 0) >= 1 and set(statuses) <= {"ok", "budget"}
    assert result.stopped_by_budget == statuses["budget"]
    assert len(result.failed_batches) == 0  # a budget stop is not a failure
    assert 0 < result.evaluations < planned_evaluations(config.total_strategies, config.generations, config.elite_ratio)
    assert result.population["valid"].any()  # what was evaluated is kept and usable
    assert wall < 1.5 + 3.0  # the deadline plus at most about one generation (stated margin: 3 s here)
    windows = evolution_windows(day, 120, config.split)
    assert result.windows == windows


def test_a_budget_over_before_any_island_starts_leaves_an_empty_population_that_lists_no_candidates(tmp_path):
    from quant_organism.evolution.result import select_candidates, to_strategy_configs
    from quant_organism.evolution.run_store import load_evolution, save_evolution

    frames = planted_market(days=70)
    config = load_preset("test", lookback_days=60)
    result = run_evolution(frames, config, evolution_date="2024-03-09", deadline=time.time() - 1.0)
    assert result.evaluations == 0 and result.stopped_by_budget == len(result.batches)
    save_evolution(result, tmp_path)
    again = load_evolution("2024-03-09", tmp_path)  # Parquet gives the empty columns back as objects
    assert len(again.population) == 0 and select_candidates(again, 0.3, 10) == []
    assert to_strategy_configs(again, 0) == []


def test_validation_replays_nothing_after_its_deadline():
    from quant_organism.evolution.date_windows import evolution_windows
    from quant_organism.validation.held_out import HeldOutConfig
    from quant_organism.validation.run import ValidationSettings, validate

    frames = planted_market(days=70)
    day = "2024-03-09"
    config = load_preset("test", lookback_days=60, min_trades=1)
    result = run_evolution(frames, config, evolution_date=day)
    genes = [c.genes for c in result.best(8)]
    windows = evolution_windows(day, 60, config.split)
    gate = HeldOutConfig(alpha=0.99, min_trades=1, require_positive_walk_forward=False, reps=200)
    late = validate(
        genes,
        frames,
        windows.out_of_sample,
        windows.walk_forward,
        ValidationSettings(mode="fast", held_out=gate, deadline=time.time() - 1),
    )
    on_time = validate(genes, frames, windows.out_of_sample, windows.walk_forward, ValidationSettings(mode="fast", held_out=gate))
    held_out_passers = [v.candidate_id for v in on_time.verdicts if v.stages["backtest"].status.value == "passed"]
    assert held_out_passers and sorted(late.cut_by_budget) == sorted(held_out_passers[:10])
    assert not late.passed  # a candidate not replayed cannot pass
    assert all(
        "validation budget ran out" in v.stages["replay"].reasons[0]
        for v in late.verdicts
        if v.candidate_id in late.cut_by_budget
    )


def test_report_states_budget_time_and_cost():
    evolution = {
        "total_s": 60.0,
        "shares": {"evolution": 0.5},
        "evolution_used_s": 30.4,
        "evolution_cpu_s": 55.0,
        "stopped_by_budget": 7,
        "planned_evaluations": 7500,
        "estimated_cpu_s": 120.0,
        "estimated_cost_usd": 0.0017,
        "cost_limit": 0.01,
        "cpu_hour_price": 0.05,
    }
    summary = budget_summary(evolution, {"cpu_s": 10.0, "cut_by_budget": 3, "used_s": 52.0}, 58.5, 1.0)
    assert summary["within_budget"] is True and summary["cpu_s"] == 66.0
    line = budget_line(summary, 2100)
    assert "Budget: 60 s; used 58.5 s (within budget)" in line
    assert "7 islands cut, 2100 of 7500 planned evaluations (a smaller population)" in line
    assert "3 candidates not replayed" in line and "66 CPU-s" in line and "limit $0.01" in line
    over = budget_summary(evolution, {}, 70.0, 0.0)
    assert "over budget by 10.0 s" in budget_line(over, 2100)


BINDING_S = 2.0  # a budget the full preset on 2 coins x 130 days cannot finish evolving in
GENERATIONS = 200  # 10x the preset's 20: evolving them takes about 30 s here, so the budget binds on any machine
MARGIN_S = 20.0  # stated margin over the budget for a whole chain: one generation, the held-out gate, the report


@pytest.fixture(scope="module")
def lake_130_days(tmp_path_factory):
    import dagster as dg

    from quant_organism_tests.support.chain import ingest_coins, project_definitions

    data_dir = tmp_path_factory.mktemp("budget")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
        definitions = project_definitions(data_dir)
        with dg.instance_for_test() as instance:
            ingest_coins(definitions, instance, ("BTC", "ETH"), "2024-02-21", "2024-06-29")
            yield data_dir, definitions, instance


def _full_chain(definitions, instance, budget: dict):
    config = {
        "ops": {"evolution__population": {"config": {"preset": "full", "executor": "serial", "generations": GENERATIONS}}},
        "resources": {"budget": {"config": budget}},
    }
    job = definitions.resolve_job_def("evolve_full")
    return job.execute_in_process(instance=instance, partition_key="2024-06-29", run_config=config, raise_on_error=False)


@pytest.mark.serial  # its wall time is held to the budget: alone, nothing beside it eats into that
def test_full_preset_under_a_budget_stops_within_it_and_the_report_says_so(lake_130_days):
    import json

    data_dir, definitions, instance = lake_130_days
    # the kernels compiled (or loaded from numba's cache) before the clock starts, as in a warm nightly process:
    # in a fresh one, loading them alone took evolution's whole 1 s share, and no island started
    warm_up([s for s, _ in load_preset("full").seed_type_weights()])
    started = time.time()
    # 2 s: evolution's share (1 s) is a small part of what GENERATIONS need (about 30 s on 2 cores), so it binds
    result = _full_chain(definitions, instance, {"total_s": BINDING_S})
    assert result.success
    wall = time.time() - started
    report = json.loads((data_dir / "reports" / "date=2024-06-29" / "report.json").read_text())
    budget = report["budget"]
    assert budget["total_s"] == BINDING_S and budget["evolution_stopped_by_budget"] >= 1
    assert report["counts"]["generated"] < budget["planned_evaluations"]
    assert budget["used_s"] <= BINDING_S + MARGIN_S and wall <= BINDING_S + MARGIN_S + 10  # + overheads outside the run
    assert budget["cpu_s"] > 0 and budget["cost_usd"] > 0
    markdown = (data_dir / "reports" / "date=2024-06-29" / "report.md").read_text()
    assert f"Budget: {BINDING_S:g} s" in markdown and "islands cut" in markdown and "a smaller population" in markdown


@pytest.mark.serial  # shares the module's 130-day lake with the test above, built once in the serial pass
def test_a_run_beyond_the_cost_limit_is_refused_before_any_work(lake_130_days):
    data_dir, definitions, instance = lake_130_days
    before = sorted(p.name for p in (data_dir / "history" / "runs").glob("*/*")) if (data_dir / "history").exists() else []
    result = _full_chain(definitions, instance, {"cost_limit": 1e-9})
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "above the cost limit" in str(failure.event_specific_data.error)
    after = sorted(p.name for p in (data_dir / "history" / "runs").glob("*/*")) if (data_dir / "history").exists() else []
    assert after == before


def test_plan_flags_map_onto_the_launchpad_run_config():
    from quant_organism.cli.launch import run_overrides

    ops, resources = run_overrides("full", strategies=120, generations=3, hours=0.5, validation_mode="minimal", cost_limit=0.2)
    assert ops == {
        "evolution__population": {"config": {"preset": "full", "total_strategies": 120, "batch_size": 40, "generations": 3}},
        "validation__validated_strategies": {"config": {"mode": "minimal"}},
    }
    assert resources == {"budget": {"config": {"total_s": 1800.0, "cost_limit": 0.2}}}
    assert run_overrides("test") == ({"evolution__population": {"config": {"preset": "test"}}}, {})
    with pytest.raises(ValueError) as refused:  # in the flags' words, without pydantic's links
        run_overrides("test", strategies=0, generations=-1)
    said = str(refused.value)
    assert "--strategies 0: input should be greater than or equal to 2" in said
    assert "--generations -1: input should be greater than or equal to 0" in said and "pydantic.dev" not in said


def test_the_executor_flag_reaches_the_evolution_the_asset_runs():
    """`run --executor serial` (the 50-coin run in one process, the least memory) overrides the preset's Ray."""
    from quant_organism.cli.launch import run_overrides
    from quant_organism.cli.main import build_parser
    from quant_organism.defs.evolution.assets import EvolutionRunConfig

    args = build_parser().parse_args(["run", "--executor", "serial"])
    ops, _ = run_overrides("full", executor=args.executor)
    config = EvolutionRunConfig(**ops["evolution__population"]["config"]).evolution_config()
    assert (config.executor, config.total_strategies) == (
        "serial",
        EvolutionRunConfig(preset="full").evolution_config().total_strategies,
    )
    assert EvolutionRunConfig(preset="full").evolution_config().executor == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--executor", "threads"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategies", "1"], "--strategies 1: input should be greater than or equal to 2"),
        (["--hours", "-1"], "--hours must be > 0"),
        (["--cost-limit", "-2"], "--cost-limit must be >= 0"),
        (["--generations", "-1"], "--generations -1: input should be greater than or equal to 0"),
    ],
)
def test_bad_plan_flags_fail_before_any_work(argv, message, tmp_path, monkeypatch, capsys):
    from quant_organism.cli.main import main

    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QUANT_ORGANISM_PROGRESS", raising=False)
    root = logging.getLogger()
    handlers, levels = list(root.handlers), (root.level, logging.getLogger("quant_organism").level)
    assert main(["run", "--end", "2024-06-29", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "data" / "lake").exists()
    # the run's log file and console handlers go with it: a later test's records must not land in this test's folder
    assert root.handlers == handlers and (root.level, logging.getLogger("quant_organism").level) == levels
    assert "QUANT_ORGANISM_PROGRESS" not in os.environ  # nor its progress-bar switch
