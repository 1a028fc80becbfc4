"""The gate as a blocking check: what makes a verdicts file unfit for deployment, and, through Dagster's harness,
that a failed check holds `deployment/deployed_configs` back while the verdicts are still written."""

from __future__ import annotations

import json

import dagster as dg

from quant_organism.validation.gate_check import gate_problems
from quant_organism_tests.support.chain import ingest_coins, project_definitions


def _verdict(name: str, passed: bool = True, gate: bool = True, replay: str = "passed", other: str = "passed") -> dict:
    return {
        "candidate_id": name,
        "passed": passed,
        "stages": {
            "backtest": {"status": "passed" if gate else "failed", "metrics": {"superiority": {"passed": gate}}},
            "replay": {"status": replay, "metrics": {}},
            "robustness": {"status": other, "metrics": {}},
        },
    }


def test_a_verdict_marked_passed_must_have_passed_every_part_of_the_gate():
    clean = {"verdicts": [_verdict("a"), _verdict("b", passed=False, gate=False)]}
    assert gate_problems(clean, held={"a"}) == []
    assert gate_problems({"verdicts": [_verdict("b", passed=False, gate=False)]}, held=set()) == []  # nothing passed: fine
    [failed_stage] = gate_problems({"verdicts": [_verdict("a", other="failed")]}, held={"a"})
    assert "failed stage(s): robustness" in failed_stage
    [no_gate] = gate_problems({"verdicts": [_verdict("a", gate=False)]}, held={"a"})[1:]  # the backtest failed, too
    assert "superiority gate" in no_gate
    [no_replay] = gate_problems({"verdicts": [_verdict("a", replay="skipped")]}, held={"a"})
    assert "replay" in no_replay
    [not_held] = gate_problems({"verdicts": [_verdict("a")]}, held=set())
    assert "catalogue does not hold it" in not_held


def test_a_failed_gate_check_holds_the_deployment_back_and_keeps_the_verdicts(data_dir, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
    definitions = project_definitions(data_dir)
    day = "2024-06-29"
    from quant_organism.defs.validation import assets as validation_assets

    monkeypatch.setattr(validation_assets, "gate_problems", lambda summary, held: ["x is marked passed without holding it"])
    with dg.instance_for_test() as instance:
        ingest_coins(definitions, instance, ["BTC", "ETH"], "2024-04-30", day)
        result = definitions.resolve_job_def("evolve").execute_in_process(
            instance=instance, partition_key=day, raise_on_error=False
        )
    assert not result.success
    [gate] = [c for c in result.get_asset_check_evaluations() if c.check_name == "gate_decides_deployment"]
    assert not gate.passed and gate.metadata["problems"].value == ["x is marked passed without holding it"]
    assert result.asset_materializations_for_node("validation__validated_strategies")  # the verdicts are written ...
    assert json.loads((data_dir / "validation" / f"date={day}" / "verdicts.json").read_text())["verdicts"]
    assert not result.asset_materializations_for_node("deployment__deployed_configs")  # ... and nothing is deployed
    assert not (data_dir / "strategies" / "deployments" / "current.json").exists()
