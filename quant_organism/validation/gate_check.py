"""The gate as deployment reads it: the night's verdicts file, checked before a deployment may act on it.

Validation writes one verdict per candidate (`verdicts.json`); deployment plans from the passed ones and
loads their configs from the catalogue. In Dagster, this check is a blocking check on
`validation/validated_strategies`: when it fails, `deployment/deployed_configs` does not run, and the
deployment in force stays as it was. It fails when a verdict marked passed could not have passed the gate:
- a stage failed;
- the backtest stage did not hold the held-out superiority gate (SPA/StepM at the plan's error rate);
- the runtime replay was skipped;
- the catalogue does not hold the candidate as validated or live, so deployment cannot load it.
Nothing passing is not a failure. It is the usual night, and the deployment then keeps its incumbents,
judged on their forward records.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from quant_organism.validation.held_out import GATE_KEY

BACKTEST, REPLAY = "backtest", "replay"


def gate_problems(summary: Mapping, held: Collection[str]) -> list[str]:
    """Why deployment must not act on `summary` (the verdicts file as written); empty when it may. `held`: the
    candidates the catalogue holds as validated or live after the verdicts were recorded."""
    problems = []
    for verdict in summary.get("verdicts", []):
        if not verdict.get("passed"):
            continue
        name, stages = verdict["candidate_id"], verdict.get("stages", {})
        failed = sorted(n for n, s in stages.items() if s.get("status") == "failed")
        if failed:
            problems.append(f"{name} is marked passed with failed stage(s): {', '.join(failed)}")
        backtest = stages.get(BACKTEST) or {}
        gate = (backtest.get("metrics") or {}).get(GATE_KEY) or {}
        if backtest.get("status") != "passed" or gate.get("passed") is not True:
            problems.append(f"{name} is marked passed without holding the held-out superiority gate")
        if (stages.get(REPLAY) or {}).get("status") == "skipped":
            problems.append(f"{name} is marked passed without a replay through the runtime")
        if name not in held:
            problems.append(f"{name} is marked passed but the catalogue does not hold it as validated or live")
    return problems
