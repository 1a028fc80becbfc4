"""From validation verdicts to a deployment plan, on the held-out returns validation stored: the
correlation filter and the Kelly sizing read the same evidence the gate judged (nothing is re-backtested)."""

from __future__ import annotations

import pandas as pd

from quant_organism.deployment.decision import Candidate, DecisionConfig, DecisionEngine, DeploymentPlan


def candidates_from_verdicts(verdicts: list[dict]) -> list[Candidate]:
    """Decision candidates from verdict dicts (as in verdicts.json)."""
    return [
        Candidate(
            name=v["candidate_id"],
            score=float(v["score"] or 0.0),
            passed=bool(v["passed"]),
            validation={"validation_score": v["score"], "validation_mode": v["mode"], "validation_passed": v["passed"]},
            reasons=tuple(v["reasons"]),
        )
        for v in verdicts
    ]


def plan_from_verdicts(
    verdicts: list[dict], held_out_returns: pd.DataFrame, config: DecisionConfig = DecisionConfig()
) -> DeploymentPlan:
    """The decision engine's plan over the verdicts and the candidates' held-out per-bar returns."""
    candidates = candidates_from_verdicts(verdicts)
    passing = [c.name for c in candidates if c.passed]
    missing = [name for name in passing if name not in held_out_returns.columns]
    if missing:
        raise ValueError(f"held-out returns lack passing candidates {missing}: re-materialise validation")
    return DecisionEngine(config).select(candidates, held_out_returns.loc[:, passing])
