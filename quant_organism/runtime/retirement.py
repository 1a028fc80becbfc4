"""Retirement: a strategy decaying for `after_days` paper days is retired to the archive with a post-mortem.

The post-mortem (`strategies/post_mortems/{name}__{day}.json`) says why it died (the decay reasons
recorded when it turned decaying), its paper record (days, return, Sharpe, drawdown, trades), the risk
controls that acted on it, and what validation had said. They sit beside the deployment's death reports
(catalog/death_reports.py reads both): the evolution report lists them (`load_post_mortems`) and the next search
samples less from a family that keeps failing forward (evolution/death_feedback.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from quant_organism.catalog import DeploymentStatus, StrategyStore
from quant_organism.catalog.death_reports import read_reports
from quant_organism.core.durable import replace_text

from .ledger import PaperLedger

POST_MORTEMS = "post_mortems"


@dataclass(frozen=True)
class PostMortem:
    strategy: str
    path: Path
    record: dict[str, Any]


def _decaying_since(config) -> pd.Timestamp | None:
    """When the strategy last turned decaying (None if its latest status change was to something else)."""
    decaying = [e for e in config.deployment_history if e.status is DeploymentStatus.DECAYING]
    return pd.Timestamp(decaying[-1].timestamp) if decaying else None


def retire_decayed(store: StrategyStore, ledger: PaperLedger, day: str, after_days: int) -> list[PostMortem]:
    """Archive every strategy decaying for at least `after_days` days as of `day`, each with a post-mortem."""
    today = pd.Timestamp(day, tz="UTC")
    due = []
    for config in store.load_strategies(status=[DeploymentStatus.DECAYING]):
        since = _decaying_since(config)
        if since is not None and (today.normalize() - since.tz_convert("UTC").normalize()).days >= after_days:
            due.append((config, since))
    if not due:
        return []
    events = ledger.risk_events()
    out = []
    folder = store.directory / POST_MORTEMS
    folder.mkdir(parents=True, exist_ok=True)
    for config, since in due:
        metrics = ledger.metrics(config.name) if config.name in set(ledger.strategies()) else None
        own = events[(events["strategy"] == config.name) | (events["strategy"] == "*")] if len(events) else events
        record = {
            "strategy": config.name,
            "seed_type": config.seed_type.value,
            "genes": config.genes.gene_values(),
            "retired_on": day,
            "decaying_since": since.isoformat(),
            "why": next((e.note for e in reversed(config.deployment_history) if e.status is DeploymentStatus.DECAYING), ""),
            "paper": None
            if metrics is None
            else {
                "days": metrics.days,
                "total_return": metrics.total_return,
                "sharpe": metrics.sharpe,
                "max_drawdown": metrics.max_drawdown,
                "trades": metrics.trade_count,
            },
            "risk_events": [
                {"time": str(t), "kind": k, "coin": c, "detail": d}
                for t, k, c, d in own[["bar_time", "kind", "coin", "detail"]].itertuples(index=False)
            ][:50]
            if len(own)
            else [],
            "validation": {k: v for k, v in config.metrics.items() if str(k).startswith(("validation", "held_out", "spa", "wf"))},
            "evolution_date": str(config.evolution_date) if config.evolution_date else None,
        }
        path = folder / f"{config.name}__{day}.json"
        replace_text(path, json.dumps(record, indent=2, default=str))
        store.archive_strategy(
            config.name, f"retired after {after_days}+ days decaying: {record['why']} (post-mortem {path.name})"
        )
        out.append(PostMortem(config.name, path, record))
    return out


def load_post_mortems(store_dir: Path, limit: int = 50) -> list[dict[str, Any]]:
    """The newest death reports (newest first), decay post-mortems and the deployment's retirements alike
    (catalog/death_reports.read_reports), in the evolution report's terms: family, why, forward days and Sharpe."""
    reports, _ = read_reports(Path(store_dir))
    return [
        {"strategy": r.strategy, "seed_type": r.family, "retired_on": r.retired_on, "why": r.why,
         "paper": {"days": r.forward.days, "sharpe": r.forward.sharpe}}
        for r in reversed(reports)
    ][:limit]  # fmt: skip
