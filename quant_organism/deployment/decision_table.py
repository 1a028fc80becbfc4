"""The night's decision as one row per strategy it weighed: what happened to it and why, in words.

The plan (deployment/decision.py) keeps the chosen and the rejected apart, each reason beside its name; the night
(deployment/night.py) knows which of them traded already and what each new one's gate said. An operator wants one
table: every candidate and incumbent, its tier, its outcome (deployed with capital, entered probation, carried over
from the day it entered, retired, rejected) and the reason (the gate's p and level, the correlation with which
strategy, Kelly <= 0, a full pool, a failed forward record). The deployment asset shows it as Dagster table metadata.
"""

from __future__ import annotations

from collections.abc import Mapping

from quant_organism.deployment.decision import DeploymentPlan
from quant_organism.deployment.documented_capital import is_documented
from quant_organism.deployment.night import Night
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.strategies.portfolio_genome import PREFIX as SEARCHED_PREFIX

COLUMNS: tuple[tuple[str, str], ...] = (  # the name, then what happened and why: what a narrow page shows first
    ("strategy", "string"),
    ("outcome", "string"),
    ("reason", "string"),
    ("allocation_pct", "float"),
    ("tier", "string"),
)


def tier_of(name: str) -> str:
    """Which tier brought a strategy: the documented rules, the portfolio search or the seed search."""
    if is_documented(name):
        return "documented rule"
    return "portfolio search" if name.startswith(SEARCHED_PREFIX) else "seed search"


def decision_rows(plan: DeploymentPlan, night: Night) -> list[dict]:
    """One row per strategy the night weighed, chosen first (by the plan's order), then the rejected."""
    verdicts: dict[str, Mapping] = {v["candidate_id"]: v for v in [*night.verdicts, *night.documented]}
    rows = []
    for chosen in plan.chosen:
        entered = (chosen.probation or {}).get("entered")
        if chosen.name in night.paper:
            outcome = f"carried over from {entered}" if entered else "carried over"
            reason = _incumbent_reason(chosen.stage, night.paper[chosen.name])
        else:
            outcome = "deployed with capital" if chosen.stage == "capital" else "entered probation"
            reason = _gate_reason(verdicts.get(chosen.name))
        rows.append(_row(chosen.name, outcome, chosen.allocation, reason))
    for rejected in plan.rejected:
        outcome = "retired" if rejected.name in night.paper else "rejected"
        rows.append(_row(rejected.name, outcome, 0.0, rejected.reason))
    return rows


def _row(name: str, outcome: str, allocation: float, reason: str) -> dict:
    return {"strategy": name, "tier": tier_of(name), "outcome": outcome, "allocation_pct": round(100.0 * allocation, 2),
            "reason": reason}  # fmt: skip


def _gate_reason(verdict: Mapping | None) -> str:
    if verdict is None:
        return "a candidate of the night (no verdict recorded)"
    reasons = [str(r) for r in verdict.get("reasons") or []]
    p = verdict.get("gate_pvalue")
    head = f"passed its gate (p {float(p):.4f})" if p is not None else "passed its gate"
    return "; ".join([head, *reasons]) if reasons else head


def _incumbent_reason(stage: str, paper: PaperRecord) -> str:
    record = f"{paper.days} forward days" + (f", annual Sharpe {paper.sharpe:.2f}" if paper.sharpe is not None else "")
    if stage == "capital":
        return f"kept with capital on its forward record ({record})"
    return f"kept on probation: its forward record ({record}) has not yet earned capital nor failed"
