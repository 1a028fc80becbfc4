"""From validation verdicts to a deployment plan, on the held-out returns validation stored: the
correlation filter and the Kelly sizing read the same evidence the gate judged (nothing is re-backtested).

The strategies still deployed (incumbents) compete with the new passing candidates, but none passes by fiat:
an incumbent's column holds its returns only on bars after the data that chose it
(validation/held_out.forward_returns: its forward record).
- Holding capital: it needs `min_forward_days` of forward record to be judged at all, then the same Kelly
  edge rule, correlation filter and composite score (scoring.py, where its paper record counts) decide on
  that forward record alone; it ranks before newcomers, so an unproven strategy never displaces it.
- On probation (deployment/probation.py): trading at the incubation allocation until its forward record spans
  `probation_days`, then one look decides: promoted (it competes for Kelly capital) or retired.
Newly chosen strategies enter probation at `probation_allocation` each (at most `max_pool` probationers at a time).
Who is on probation is the previous deployment's `stage`, never inferred from an allocation."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from quant_organism.deployment.allocation import allocate_from_kelly
from quant_organism.deployment.decision import (
    Candidate,
    ChosenStrategy,
    DecisionConfig,
    DecisionEngine,
    DeploymentPlan,
    RejectedStrategy,
)
from quant_organism.deployment.probation import ForwardTest, forward_test
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
    held-out returns are stored), ranked by the composite score, on the held-out per-bar returns; then
    probation: newcomers and incumbents not yet promoted hold only the incubation allocation."""
    paper = paper or {}
    # A live strategy the new search found again is still an incumbent: its new verdict was reached on windows
    # that overlap the ones that chose it, so only its forward record counts.
    candidates = [c for c in candidates_from_verdicts(verdicts) if c.name not in paper]
    passing = [c.name for c in candidates if c.passed]
    missing = [name for name in passing if name not in held_out_returns.columns]
    if missing:
        raise ValueError(f"held-out returns lack passing candidates {missing}: re-materialise validation")
    incumbents = [n for n in sorted(paper) if n in held_out_returns.columns]
    daily = daily_returns(held_out_returns.loc[:, incumbents]) if incumbents else pd.DataFrame()
    forward_days = daily.notna().sum() if incumbents else pd.Series(dtype=int)
    probation = config.probation_days > 0
    on_probation = [n for n in incumbents if probation and not paper[n].capital]
    waiting = [n for n in on_probation if forward_days[n] < config.probation_days]
    looks = {n: forward_test(daily[n], config.probation_alpha) for n in on_probation if n not in waiting}
    promoted = [n for n, look in looks.items() if look.promoted]
    holders = [n for n in incumbents if n not in on_probation]
    judged = [n for n in holders if forward_days[n] >= config.min_forward_days] + promoted
    pool = passing + judged
    unjudged = [
        Candidate(
            name,
            0.0,
            passed=False,
            validation={"incumbent": True, "judged_on": "nothing yet"},
            reasons=(
                f"incumbent with a forward record of {int(forward_days[name])} days (< {config.min_forward_days}): "
                "too short to judge, and its selection data cannot be reused",
            ),
        )
        for name in holders
        if name not in judged
    ]
    failed = [
        Candidate(name, 0.0, passed=False, validation={"incumbent": True, **_look(look)}, reasons=(look.describe(),))
        for name, look in looks.items()
        if not look.promoted
    ]
    if not pool:
        plan = DecisionEngine(config).select(candidates + unjudged + failed, held_out_returns.loc[:, []])
    else:
        composite = scores(daily_returns(held_out_returns.loc[:, pool]), paper)
        ranked = [
            replace(c, score=composite[c.name].total, validation={**c.validation, **_parts(composite[c.name])}) if c.passed else c
            for c in candidates
        ]
        ranked += [
            Candidate(name, composite[name].total, passed=True, priority=1,
                      validation={"incumbent": True, "judged_on": f"forward record: {int(forward_days[name])} days after its evolution data",
                                  **(_look(looks[name]) if name in looks else {}), **_parts(composite[name])})
            for name in judged
        ]  # fmt: skip
        ranked += unjudged + failed
        plan = DecisionEngine(config).select(ranked, held_out_returns.loc[:, pool])
    if not probation:
        return plan
    plan = replace(plan, looks={name: _look(look) for name, look in looks.items()})
    return _with_probation(plan, {c.name for c in candidates}, {n: int(forward_days[n]) for n in waiting}, promoted, config)


def _with_probation(
    plan: DeploymentPlan, newcomers: set[str], waiting: dict[str, int], promoted: list[str], config: DecisionConfig
) -> DeploymentPlan:
    """The plan with Kelly capital only for proven strategies: the engine's choice among newcomers enters
    probation at the incubation allocation (up to `max_pool` probationers in all), the waiting probationers
    stay there, and the capital holders are sized again among themselves on what incubation leaves."""
    holders = [c for c in plan.chosen if c.name not in newcomers]
    room = max(0, config.max_pool - len(waiting))
    entering = [c for c in plan.chosen if c.name in newcomers]
    entering, turned_away = entering[:room], entering[room:]
    incubation = config.probation_allocation
    sizing = allocate_from_kelly({c.name: c.kelly_raw for c in holders}, config.allocation)
    held = sum(sizing.weights.values())
    room_left = 1.0 - incubation * (len(entering) + len(waiting))
    scale = min(1.0, room_left / held) if held > 0 else 1.0  # holders shrink only when incubation needs the room
    chosen = [replace(c, allocation=sizing.weights[c.name] * scale) for c in holders]
    chosen += [replace(c, allocation=incubation, stage="probation") for c in entering]
    chosen += [
        ChosenStrategy(name, incubation, 0.0, 0.0, {"incumbent": True, "judged_on": f"on probation: {days} of "
                       f"{config.probation_days} forward days"}, stage="probation")
        for name, days in sorted(waiting.items())
    ]  # fmt: skip
    rejected = list(plan.rejected) + [
        RejectedStrategy(c.name, f"probation full ({len(waiting)} waiting, max_pool {config.max_pool})", c.score)
        for c in turned_away
    ]
    notes = list(plan.notes)
    if entering:
        notes.append(f"{len(entering)} newly chosen enter probation at {incubation:.1%} each until {config.probation_days} "
                     f"forward days pass a one-sided test at {config.probation_alpha:g}")  # fmt: skip
    if promoted:
        notes.append(f"promoted from probation on their forward record: {', '.join(sorted(promoted))}")
    cash = max(0.0, 1.0 - sum(c.allocation for c in chosen))
    return replace(plan, chosen=tuple(chosen), rejected=tuple(rejected), cash=cash, notes=tuple(notes))


def _look(look: ForwardTest) -> dict[str, float | int | bool]:
    return {"probation_days": look.days, "probation_t": look.t, "probation_pvalue": look.pvalue,
            "probation_promoted": look.promoted}  # fmt: skip


def _parts(score) -> dict[str, float]:
    return {f"deployment_score_{k}": v for k, v in score.to_dict().items()}
