"""From validation verdicts to a deployment plan, on the held-out returns validation stored: the
correlation filter and the Kelly sizing read the same evidence the gate judged (nothing is re-backtested).

The strategies still trading (incumbents: deployed or decaying) compete with the new passing candidates, but
none passes by fiat: an incumbent's column holds its returns only on bars after the data that chose it
(validation/held_out.forward_returns: its forward record), it needs `min_forward_days` of them to be judged
at all, and then the same Kelly edge rule, correlation filter and composite score (scoring.py, where its
paper record counts) decide on that forward record alone."""

from __future__ import annotations

import pandas as pd

from dataclasses import replace

from quant_organism.deployment.decision import Candidate, DecisionConfig, DecisionEngine, DeploymentPlan
from quant_organism.deployment.scoring import PaperRecord, scores
from quant_organism.validation.held_out import daily_returns


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
    verdicts: list[dict],
    held_out_returns: pd.DataFrame,
    config: DecisionConfig = DecisionConfig(),
    paper: dict[str, PaperRecord] | None = None,
) -> DeploymentPlan:
    """The decision engine's plan over the passing candidates and the incumbents (names in `paper` whose
    held-out returns are stored), ranked by the composite score, on the held-out per-bar returns."""
    paper = paper or {}
    # A live strategy the new search found again is still an incumbent: its new verdict was reached on windows
    # that overlap the ones that chose it, so only its forward record counts.
    candidates = [c for c in candidates_from_verdicts(verdicts) if c.name not in paper]
    passing = [c.name for c in candidates if c.passed]
    missing = [name for name in passing if name not in held_out_returns.columns]
    if missing:
        raise ValueError(f"held-out returns lack passing candidates {missing}: re-materialise validation")
    incumbents = [n for n in sorted(paper) if n in held_out_returns.columns]
    forward_days = daily_returns(held_out_returns.loc[:, incumbents]).notna().sum() if incumbents else pd.Series(dtype=int)
    judged = [n for n in incumbents if forward_days[n] >= config.min_forward_days]
    pool = passing + judged
    unjudged = [
        Candidate(name, 0.0, passed=False, validation={"incumbent": True, "judged_on": "nothing yet"},
                  reasons=(f"incumbent with a forward record of {int(forward_days[name])} days (< {config.min_forward_days}): "
                           "too short to judge, and its selection data cannot be reused",))
        for name in incumbents if name not in judged
    ]
    if not pool:
        return DecisionEngine(config).select(candidates + unjudged, held_out_returns.loc[:, []])
    composite = scores(daily_returns(held_out_returns.loc[:, pool]), paper)
    ranked = [
        replace(c, score=composite[c.name].total, validation={**c.validation, **_parts(composite[c.name])}) if c.passed else c
        for c in candidates
    ]
    ranked += [
        Candidate(name, composite[name].total, passed=True,
                  validation={"incumbent": True, "judged_on": f"forward record: {int(forward_days[name])} days after its evolution data",
                              **_parts(composite[name])})
        for name in judged
    ]
    ranked += unjudged
    return DecisionEngine(config).select(ranked, held_out_returns.loc[:, pool])


def _parts(score) -> dict[str, float]:
    return {f"deployment_score_{k}": v for k, v in score.to_dict().items()}
