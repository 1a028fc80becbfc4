"""Decay rules: which deployed strategies' paper results have faded, and marking them `decaying` in the store.

A strategy is judged on its paper record (ledger.py) once it has traded `min_days` days: its Sharpe
below `min_sharpe` marks it decaying. A drawdown deeper than `max_drawdown` marks it at any age, since
losing that much needs no further evidence. Only `deployed` strategies move (to `decaying`); ones
already decaying just get their figures refreshed, and retiring is left to the deployment policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from quant_organism.catalog import DeploymentStatus, StrategyStore

from .ledger import PaperLedger, PaperMetrics


class DecayRules(BaseModel):
    """Thresholds of the decay rules (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_days: int = Field(7, ge=1, description="paper days before the Sharpe rule applies")
    min_sharpe: float = Field(0.0, description="annualised paper Sharpe below this (after min_days) is decay")
    max_drawdown: float = Field(0.25, gt=0.0, le=1.0, description="paper drawdown above this is decay at any age")


@dataclass(frozen=True)
class DecayVerdict:
    strategy: str
    reasons: tuple[str, ...]


def decaying_strategies(metrics: Iterable[PaperMetrics], rules: DecayRules = DecayRules()) -> list[DecayVerdict]:
    """The strategies whose paper metrics break a rule, with the rules they break (sorted by name)."""
    verdicts = []
    for m in metrics:
        reasons = []
        if m.days >= rules.min_days and m.sharpe < rules.min_sharpe:
            reasons.append(f"paper Sharpe {m.sharpe:.2f} < {rules.min_sharpe:g} after {m.days} days")
        if m.max_drawdown > rules.max_drawdown:
            reasons.append(f"paper drawdown {m.max_drawdown:.1%} > {rules.max_drawdown:.1%}")
        if reasons:
            verdicts.append(DecayVerdict(m.strategy, tuple(reasons)))
    return sorted(verdicts, key=lambda v: v.strategy)


def mark_decaying(
    loader: StrategyStore,
    ledger: PaperLedger,
    rules: DecayRules = DecayRules(),
    bars_per_year: float | None = None,
    untrusted: Iterable[str] = (),
) -> tuple[dict[str, PaperMetrics], list[DecayVerdict]]:
    """Write each traded strategy's paper figures to the store, and move decaying deployed ones to `decaying`.

    Returns the metrics of every deployed/decaying strategy with a paper record, and the verdicts of
    those that broke a rule (including ones already decaying, which are not moved again). Strategies in
    `untrusted` (their paper record failed the parity check with the backtest) are left out: decay is
    decided only on paper figures that are the strategy's own.
    """
    skip = set(untrusted)
    configs = [
        c for c in loader.load_strategies(status=[DeploymentStatus.DEPLOYED, DeploymentStatus.DECAYING]) if c.name not in skip
    ]
    recorded = set(ledger.strategies())
    metrics: Mapping[str, PaperMetrics] = {c.name: ledger.metrics(c.name, bars_per_year) for c in configs if c.name in recorded}
    for name, m in metrics.items():
        loader.update_strategy_performance(
            name,
            paper_trading_days=m.days,
            paper_sharpe=float(m.sharpe),
            max_drawdown=float(m.max_drawdown),
            paper_total_return=float(m.total_return),
            paper_trade_count=m.trade_count,
        )
    verdicts = decaying_strategies(metrics.values(), rules)
    status = {c.name: c.deployment_status for c in configs}
    for verdict in verdicts:
        if status[verdict.strategy] is DeploymentStatus.DEPLOYED:
            loader.transition_strategy(verdict.strategy, DeploymentStatus.DECAYING, "; ".join(verdict.reasons))
    return dict(metrics), verdicts
