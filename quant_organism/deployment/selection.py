"""From validation verdicts to a deployment plan: the validated candidates' returns on the validation
windows (equal-weighted across coins) feed the correlation filter and the Kelly sizing."""

from __future__ import annotations

import pandas as pd

from quant_organism.deployment.decision import Candidate, DecisionConfig, DecisionEngine, DeploymentPlan
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.windowed import Window, run_window


def validation_returns(genes: list[SeedGenes], frames: dict[str, pd.DataFrame], window: Window) -> pd.DataFrame:
    """Per-bar returns of each genome on `window`, averaged over coins (one column per genome)."""
    if not genes:
        return pd.DataFrame()
    per_coin = [run.returns for frame in frames.values() if (run := run_window(genes, frame, window)) is not None]
    if not per_coin:
        return pd.DataFrame(columns=[g.seed_id for g in genes])
    return pd.concat(per_coin).groupby(level=0).mean().sort_index()


def plan_from_verdicts(
    verdicts: list[dict], genes_by_name: dict[str, SeedGenes], frames: dict[str, pd.DataFrame], window: Window,
    config: DecisionConfig = DecisionConfig(),
) -> tuple[DeploymentPlan, pd.DataFrame]:
    """The decision engine's plan over the stored verdicts (dicts from verdicts.json) and their returns."""
    candidates = [
        Candidate(
            name=v["candidate_id"],
            score=float(v["score"] or 0.0),
            passed=bool(v["passed"]),
            validation={"validation_score": v["score"], "validation_mode": v["mode"], "validation_passed": v["passed"]},
            reasons=tuple(v["reasons"]),
        )
        for v in verdicts
    ]
    passing = [genes_by_name[c.name] for c in candidates if c.passed]
    returns = validation_returns(passing, frames, window)
    return DecisionEngine(config).select(candidates, returns), returns
