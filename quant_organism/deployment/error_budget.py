"""The error budget of probation: every entry into probation spends a share of 5% per 365 days, counted over
each probation's whole life, so the chance that any strategy without an edge reaches Kelly capital within any
365 days stays within 5% whatever the cadence of nights, however many strategies enter, and across New Year.

**The share.** An entry on day d whose life may reach `life_days` gets yearly * 6 / (pi^2 j^2), with j = 1 + the
number of earlier probations whose life overlaps the 365 days before d (still running, or ended within them).
Why that is enough: take any 365-day window W and the probations alive at some point in it, in order of entry.
Each earlier one overlaps W and began before the k-th did, so it overlaps the 365 days before the k-th's entry:
the k-th counted at least k - 1 of them, its share is at most the k-th term, and the shares of all of them sum
below 6 / pi^2 * sum 1/j^2 * yearly = yearly (the union bound over entries, each tested at its share). A
probation ends when it is promoted (its error is spent or not) or retired; one whose end was never recorded
counts as alive until `life_days` after its entry.

Front-loaded on purpose: 3.0%, 0.76%, 0.34%, ... a slot freed by a probation's end is taken by the next passer,
so the first entries are the ones a stable edge makes, and entries that come in bursts are the ones most often
chasing noise. The sequence is fixed in code; it is not tuned on any data.

The ledger is part of every deployment whatever the night's settings: a night with probation switched off
carries it unchanged, so the next night never starts a fresh one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

YEARLY_BUDGET = 0.05
WINDOW_DAYS = 365
LIFE_DAYS = 730  # the longest a probation runs (DecisionConfig.probation_days): an unended entry counts this long


@dataclass(frozen=True)
class Spend:
    """One entry into probation: who, which genome, on which day, at what level, and when it ended."""

    name: str
    genome: str
    day: date
    alpha: float
    ended: date | None = None

    def last_day(self, life_days: int) -> date:
        return self.ended if self.ended is not None else self.day + timedelta(days=life_days)

    def to_dict(self) -> dict:
        return {"name": self.name, "genome": self.genome, "day": self.day.isoformat(), "alpha": self.alpha,
                "ended": None if self.ended is None else self.ended.isoformat()}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping) -> Spend:
        ended = data.get("ended")
        return cls(str(data["name"]), str(data["genome"]), date.fromisoformat(str(data["day"])), float(data["alpha"]),
                   None if ended is None else date.fromisoformat(str(ended)))  # fmt: skip


@dataclass(frozen=True)
class ErrorBudget:
    """The ledger of a deployment's probation entries; immutable, each `spend` returns the next ledger."""

    yearly: float = YEARLY_BUDGET
    spends: tuple[Spend, ...] = field(default_factory=tuple)
    life_days: int = LIFE_DAYS

    def __post_init__(self) -> None:
        if not 0.0 < self.yearly < 1.0:
            raise ValueError(f"the yearly error budget must be in (0, 1); got {self.yearly!r}")
        if self.life_days < 1:
            raise ValueError(f"a probation's life must be at least a day; got {self.life_days!r}")

    def share(self, entry: int) -> float:
        """The level of the `entry`-th probation counted (1-based)."""
        if entry < 1:
            raise ValueError(f"entries count from 1; got {entry}")
        return self.yearly * 6.0 / (math.pi**2 * entry * entry)

    def overlapping(self, day: date) -> list[Spend]:
        """The probations whose life overlaps the `WINDOW_DAYS` days up to `day`."""
        since = day - timedelta(days=WINDOW_DAYS)
        return [s for s in self.spends if s.day <= day and s.last_day(self.life_days) >= since]

    def spent(self, day: date) -> float:
        """The levels of the probations alive at some point in the `WINDOW_DAYS` days up to `day`."""
        return math.fsum(s.alpha for s in self.overlapping(day))

    def next_alpha(self, day: date) -> float:
        return self.share(len(self.overlapping(day)) + 1)

    def spend(self, name: str, genome: str, day: date) -> tuple[ErrorBudget, float]:
        """The ledger after one more entry on `day`, and that entry's level. The same genome entering again on the
        same day (a rerun of that date) is the same entry: nothing is spent twice."""
        again = next((s for s in self.spends if s.genome == genome and s.day == day), None)
        if again is not None:
            return self, again.alpha
        alpha = self.next_alpha(day)
        horizon = day - timedelta(days=2 * WINDOW_DAYS)  # the past two years stay readable
        kept = tuple(s for s in self.spends if s.last_day(self.life_days) >= horizon)
        return replace(self, spends=(*kept, Spend(name, genome, day, alpha))), alpha

    def end(self, genome: str, day: date) -> ErrorBudget:
        """The ledger with the running probation of `genome` ended on `day` (promoted or retired)."""
        spends = tuple(
            replace(s, ended=day) if s.genome == genome and s.ended is None and s.day <= day else s for s in self.spends
        )
        return self if spends == self.spends else replace(self, spends=spends)

    def to_dict(self) -> dict:
        return {"yearly": self.yearly, "life_days": self.life_days, "spends": [s.to_dict() for s in self.spends]}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> ErrorBudget:
        if not data:
            return cls()
        return cls(float(data.get("yearly", YEARLY_BUDGET)), tuple(Spend.from_dict(s) for s in data.get("spends", ())),
                   int(data.get("life_days", LIFE_DAYS)))  # fmt: skip
