"""Validation's verdicts recorded in the catalog, so every later stage reads the status, not a file.

A candidate that passed moves evolved -> validated with its verdict's figures in `metrics`; one that
failed is retired with the first reasons (it moves to the store's archive, so the live store holds only
what could still be deployed). A candidate already past `evolved` (a re-run for a day already deployed)
keeps its status and only gets the figures. A strategy trading now (deployed or decaying) is left as it is: a
new verdict on it was reached on windows overlapping those that chose it, and its forward record is what
judges it now. All in one store transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from quant_organism.catalog.config import LIVE_STATUSES, DeploymentStatus, MetricValue
from quant_organism.catalog.store import StrategyStore
from quant_organism.validation.verdict import CandidateVerdict


@dataclass
class RecordedVerdicts:
    validated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # already past evolved: figures only
    missing: list[str] = field(default_factory=list)  # not in the live store
    live: list[str] = field(default_factory=list)  # trading now: its verdict is left as it was (its forward record counts)


def verdict_figures(verdict: CandidateVerdict) -> dict[str, MetricValue]:
    """Flat JSON scalars a StrategyConfig keeps of its verdict (held-out Sharpe and returns, the gate)."""
    out: dict[str, MetricValue] = {
        "validation_passed": bool(verdict.passed),
        "validation_mode": verdict.mode.value,
        "validation_score": None if verdict.score is None else float(verdict.score),
    }
    backtest = verdict.stages.get("backtest")
    if backtest is not None:
        metrics = backtest.metrics
        for window in ("held_out", "out_of_sample", "walk_forward"):
            for name in ("sharpe", "total_return", "max_drawdown"):
                value = metrics.get(window, {}).get(name)
                out[f"{window}_{name}"] = float(value) if isinstance(value, (int, float)) else None
        gate = metrics.get("superiority", {})
        out["held_out_t_stat"] = gate.get("t_stat")
        out["held_out_spa_pvalue"] = gate.get("spa_pvalue")
    for stage, result in verdict.stages.items():
        out[f"validation_{stage}_status"] = result.status.value
    return out


def record_verdicts(
    store: StrategyStore, verdicts: Sequence[CandidateVerdict], note: str, when: datetime, evolution_date: date | None = None
) -> RecordedVerdicts:
    """Write each verdict into its config (see the module docstring); returns what moved where. `evolution_date`:
    the run's date; a live strategy that date chose (a rerun of it) gets its verdict recorded again."""
    recorded = RecordedVerdicts()
    with store.transaction() as tx:
        for verdict in verdicts:
            name = verdict.candidate_id
            config = tx.current(name)
            if config is None:
                recorded.missing.append(name)
                continue
            if config.deployment_status in LIVE_STATUSES and not _chosen_by(config, evolution_date):
                recorded.live.append(name)  # judged on its forward record, not on windows overlapping those that chose it
                continue
            config = config.with_performance(metrics=verdict_figures(verdict), at=when)
            if config.deployment_status is not DeploymentStatus.EVOLVED:
                tx.save(config)
                recorded.updated.append(name)
            elif verdict.passed:
                tx.save(config.transition(DeploymentStatus.VALIDATED, f"{note}: passed", at=when))
                recorded.validated.append(name)
            else:
                tx.save(config)
                why = "; ".join(verdict.reasons[:2]) or "verdict did not pass"
                tx.archive(name, f"{note}: failed validation: {why}"[:500])
                recorded.retired.append(name)
    return recorded


def _chosen_by(config, evolution_date: date | None) -> bool:
    return evolution_date is not None and config.evolution_date is not None and config.evolution_date == evolution_date
