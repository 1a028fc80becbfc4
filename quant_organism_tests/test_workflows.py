"""Research workflows (issue 13): checked before any work, run from the CLI as a Dagster job with a step per
phase, winners inherited, results kept per correlation id, and a phase killed mid-run resumed by Dagster's
re-execution without recomputing the finished phases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from quant_organism.evolution.workflow_spec import (
    WorkflowError,
    evolution_overrides,
    load_workflow,
    packaged_workflows,
    parse_workflow,
)

DAY = "2024-06-29"
GOOD = """workflow:
  type: multi_phase_optimization
  phases:
    - name: discover
      type: optimization
      strategies: [{type: momentum}, {type: rsi_filter, genes: {fast_period: [5, 20]}}]
      optimization: {objective: sharpe_ratio, generations: 2}
    - name: refine
      type: optimization
      inherit_best_from: discover
    - name: check
      type: backtest
      inherit_best_from: refine
"""


def _error(text: str) -> str:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, source="w.yaml")
    return str(caught.value)


def test_packaged_workflows_parse_and_have_three_phases():
    specs = {name: load_workflow(path) for name, path in packaged_workflows().items()}
    assert "discovery_refinement" in specs
    spec = specs["discovery_refinement"]
    assert [p.name for p in spec.order()] == ["strategy_discovery", "refinement", "risk_check"]
    assert [p.type for p in spec.order()] == ["optimization", "optimization", "backtest"]


def test_families_and_gene_ranges_become_the_evolution_config():
    spec = parse_workflow(GOOD)
    overrides = evolution_overrides(spec, spec.phases[0])
    assert overrides["objective"] == "sharpe" and overrides["generations"] == 2
    assert {s.value for s in overrides["seed_types"]} == {
        "ema_crossover",
        "sma_trend",
        "donchian_breakout",
        "ichimoku",
        "rsi_filter",
    }
    assert {s.value: r for s, r in overrides["gene_ranges"].items()} == {"rsi_filter": {"fast_period": (5.0, 20.0)}}


@pytest.mark.parametrize(
    "edit, field, line",
    [
        (
            ("inherit_best_from: discover", "inherit_best_from: nowhere"),
            "phases[1].inherit_best_from: unknown phase 'nowhere'",
            10,
        ),
        (
            ("{type: momentum}", "{type: astrology}"),
            "phases[0].strategies[0].type: unknown strategy family or seed type 'astrology'",
            6,
        ),
        (("type: backtest", "type: backtset"), "phases[2].type: Input should be", 12),
        (("fast_period: [5, 20]", "fast_period: [5, 9000]"), "phases[0].strategies[1].genes.fast_period: range [5, 9000]", 6),
        (
            (
                "    - name: check\n      type: backtest\n      inherit_best_from: refine",
                "    - name: check\n      type: backtest\n      inherit_best_from: again\n    - name: again\n      type: backtest\n"
                "      inherit_best_from: check",
            ),
            "inheritance cycle: check -> again -> check",
            13,
        ),
        (("objective: sharpe_ratio", "objective: vibes"), "phases[0].optimization.objective: unknown objective 'vibes'", 7),
        (
            ("      inherit_best_from: discover\n", "      inherit_best_from: discover\n      colour: red\n"),
            "phases[1].colour: Extra inputs",
            11,
        ),
    ],
)
def test_malformed_workflows_name_the_field_and_line(edit, field, line):
    old, new = edit
    assert old in GOOD
    message = _error(GOOD.replace(old, new, 1))
    assert field in message, message
    assert f"w.yaml:line {line}:" in message, message


LEAKY_TAIL = {
    "validation": "    - name: gate\n      type: validation\n      inherit_best_from: check\n",
    "optimization then validation": (
        "    - name: again\n      type: optimization\n      inherit_best_from: check\n"
        "    - name: gate\n      type: validation\n      inherit_best_from: again\n"
    ),
}


@pytest.mark.parametrize("tail, phase, line", [("validation", "gate", 16), ("optimization then validation", "again", 16)])
def test_winners_filtered_on_the_held_out_windows_cannot_be_judged_on_them_again(tail, phase, line):
    message = _error(GOOD + LEAKY_TAIL[tail])
    assert f"phase {phase!r} inherits" in message and "phase 'check' kept for doing well on the held-out windows" in message
    assert f"w.yaml:line {line}:" in message, message
    parse_workflow(GOOD)  # the same phases without a phase after the held-out one are fine


def test_not_yaml_or_not_a_workflow():
    assert "not valid YAML" in _error("workflow: [unclosed")
    assert "under the key 'workflow'" in _error("phases: []")


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    env = {
        "QUANT_ORGANISM_DATA_DIR": str(tmp_path / "data"),
        "QUANT_ORGANISM_COINS": "BTC,ETH",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("QUANT_ORGANISM_FAULT", raising=False)
    return {**os.environ, **env}


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quant_organism_tests.support.faults", "run", *args],  # the CLI, its fault point armed
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[1],
    )


def test_malformed_workflow_fails_from_the_cli_before_any_work(cli_env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("inherit_best_from: discover", "inherit_best_from: nowhere"))
    done = _cli(cli_env, "--workflow", str(bad), "--end", DAY)
    assert done.returncode == 2, done.stderr
    assert "line 10" in done.stderr and "inherit_best_from: unknown phase 'nowhere'" in done.stderr
    assert not (tmp_path / "data" / "lake").exists()  # nothing ingested, no run started
    assert "Traceback" not in done.stderr


def test_packaged_workflow_runs_from_the_cli_and_a_killed_phase_resumes(cli_env, tmp_path):
    data = tmp_path / "data"
    killed = _cli({**cli_env, "QUANT_ORGANISM_FAULT": "workflow:refinement"}, "--workflow", "discovery_refinement", "--end", DAY)
    assert killed.returncode != 0  # SIGKILL in the middle of the refinement phase (its work done, not yet kept)
    [run_dir] = (data / "workflows" / "discovery_refinement").iterdir()
    kept = sorted(p.name for p in run_dir.iterdir())
    assert kept == ["strategy_discovery.json"]
    first_phase_mtime = (run_dir / "strategy_discovery.json").stat().st_mtime_ns
    run_id = run_dir.name.removeprefix("run_id=")

    resumed = _cli(cli_env, "--workflow", "discovery_refinement", "--resume", run_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "marked failed" in resumed.stdout  # the killed run was found and marked as orphaned first
    assert "[3/3] risk_check (backtest" in resumed.stdout
    assert sorted(p.name for p in run_dir.iterdir()) == ["refinement.json", "risk_check.json", "strategy_discovery.json"]
    assert (run_dir / "strategy_discovery.json").stat().st_mtime_ns == first_phase_mtime

    from quant_organism.cli.launch import persistent_instance

    with persistent_instance() as instance:  # the CLI's instance (DAGSTER_HOME derived from the data root)
        [child] = [r for r in instance.get_runs() if r.parent_run_id == run_id]
        executed = {s.step_key for s in instance.get_run_step_stats(child.run_id)}
        assert executed == {"refinement", "risk_check"}  # plan and strategy_discovery were not recomputed
        assert child.root_run_id == run_id

    refinement = json.loads((run_dir / "refinement.json").read_text())
    discovery = json.loads((run_dir / "strategy_discovery.json").read_text())
    assert refinement["summary"]["inherited"] == len(discovery["winners"]) == 10
    assert refinement["summary"]["objective"] == "sharpe"
    risk = json.loads((run_dir / "risk_check.json").read_text())
    assert {row["position_pct"] for row in risk["table"]} == {5.0}
    assert {row["window"] for row in risk["table"]} == {"out_of_sample", "walk_forward"}

    from quant_organism.reporting.memory import open_memory

    with open_memory(data) as con:
        phases = dict(con.execute("SELECT phase, count(*) FROM populations WHERE run_id = ? GROUP BY phase", [run_id]).fetchall())
    assert set(phases) == {"strategy_discovery", "refinement"} and all(n > 0 for n in phases.values())
