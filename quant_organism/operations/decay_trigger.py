"""When the deployed set's paper record calls for a re-evolution: at most once per cooldown, so a
market that stays bad cannot make the organism loop. Thresholds are the runtime's `DecayRules`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from quant_organism.catalog.config import is_live
from quant_organism.core.timeutil import utc
from quant_organism.operations.cursors import DecayCursor
from quant_organism.operations.days import check_day
from quant_organism.runtime.decay import DecayRules


class PaperRecord(Protocol):
    """What the decay decision reads of a stored strategy (StrategyConfig has these fields)."""

    name: str
    paper_trading_days: int
    paper_sharpe: float | None
    max_drawdown: float | None
    allocation: float | None

    @property
    def deployment_status(self) -> Any: ...


@dataclass(frozen=True)
class DecayTrigger:
    """When the deployed set's paper record calls for a re-evolution, and how often at most.

    The thresholds are the runtime's `DecayRules` (one definition): `min_sharpe` applies to the set's
    allocation-weighted paper Sharpe over strategies with at least `min_days` paper days; `max_drawdown`
    (a positive fraction) to each strategy at any age. `cooldown` spaces requests.
    """

    rules: DecayRules = field(default_factory=DecayRules)
    cooldown: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.cooldown < timedelta(0):
            raise ValueError(f"cooldown must not be negative, got {self.cooldown}")

    @property
    def min_paper_days(self) -> int:
        return self.rules.min_days

    @property
    def min_sharpe(self) -> float:
        return self.rules.min_sharpe

    @property
    def max_drawdown(self) -> float:
        return self.rules.max_drawdown


def _status(record: PaperRecord) -> str:
    status = record.deployment_status
    return str(getattr(status, "value", status))


def set_paper_sharpe(records: Sequence[PaperRecord], min_paper_days: int) -> tuple[float, int] | None:
    """(allocation-weighted paper Sharpe, strategies counted) over those with enough paper days, or None.

    Equal weights unless every counted strategy holds a positive allocation.
    """
    seasoned = [r for r in records if r.paper_sharpe is not None and r.paper_trading_days >= min_paper_days]
    if not seasoned:
        return None
    weights = [r.allocation or 0.0 for r in seasoned]
    if not all(w > 0 for w in weights):
        weights = [1.0] * len(seasoned)
    sharpe = sum(w * float(r.paper_sharpe) for w, r in zip(weights, seasoned)) / sum(weights)
    return sharpe, len(seasoned)


def decay_reasons(records: Iterable[PaperRecord], trigger: DecayTrigger = DecayTrigger()) -> list[str]:
    """Why the deployed set needs a re-evolution (empty when it is healthy). Only deployed/decaying count."""
    active = sorted((r for r in records if is_live(_status(r))), key=lambda r: r.name)
    reasons = [f"{r.name} is decaying" for r in active if _status(r) == "decaying"]
    reasons += [
        f"{r.name} paper drawdown {r.max_drawdown:.1%} > {trigger.max_drawdown:.1%}"
        for r in active
        if r.max_drawdown is not None and r.max_drawdown > trigger.max_drawdown
    ]
    aggregate = set_paper_sharpe(active, trigger.min_paper_days)
    if aggregate is not None and aggregate[0] < trigger.min_sharpe:
        sharpe, counted = aggregate
        reasons.append(
            f"deployed set paper Sharpe {sharpe:.2f} < {trigger.min_sharpe:g} "
            f"(weighted over {counted} strategies with >= {trigger.min_paper_days} paper days)"
        )
    return reasons


@dataclass(frozen=True)
class DecayDecision:
    request: bool
    message: str
    reasons: tuple[str, ...] = ()
    cursor: DecayCursor = field(default_factory=DecayCursor)


def decide_decay(
    records: Sequence[PaperRecord],
    cursor: DecayCursor,
    now: datetime,
    latest_complete_day: Callable[[], str | None],
    trigger: DecayTrigger = DecayTrigger(),
) -> DecayDecision:
    """Whether to request a re-evolution now; the returned cursor is the one to store.

    `latest_complete_day` is only called when a request is otherwise due (it reads the market data).
    """
    now = utc(now)
    active = [r for r in records if is_live(_status(r))]
    if not active:
        return DecayDecision(False, "no deployed or decaying strategies in the store", (), cursor)
    reasons = tuple(decay_reasons(active, trigger))
    if not reasons:
        aggregate = set_paper_sharpe(active, trigger.min_paper_days)
        figure = f"paper Sharpe {aggregate[0]:.2f} over {aggregate[1]}" if aggregate else "no strategy seasoned yet"
        return DecayDecision(False, f"deployed set healthy ({len(active)} strategies; {figure})", (), cursor)
    why = "; ".join(reasons)
    if cursor.last_requested_at is not None and now < cursor.last_requested_at + trigger.cooldown:
        until = cursor.last_requested_at + trigger.cooldown
        return DecayDecision(
            False,
            f"decay ({why}) but a re-evolution was requested at {cursor.last_requested_at.isoformat()}; "
            f"cooling down until {until.isoformat()}",
            reasons,
            cursor,
        )
    day = latest_complete_day()
    if day is None:
        message = f"decay ({why}) but no recent day has complete, passing market data to evolve on"
        return DecayDecision(False, message, reasons, cursor)
    return DecayDecision(True, f"re-evolving on {day}: {why}", reasons, DecayCursor(now, check_day(day)))
