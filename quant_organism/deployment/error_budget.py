"""The yearly error budget of probation: every entry into probation spends a share of 5% a calendar year, so
the chance that any strategy without an edge reaches Kelly capital in a year stays within 5% whatever the
cadence of nights and however many strategies enter (the union bound over entries, each tested at its share).

The j-th entry of a year gets yearly * 6 / (pi^2 j^2): 3.0%, 0.76%, 0.34%, 0.19%, ... whose sum never reaches the
budget. Front-loaded on purpose: a slot freed by a probation's end is taken by the next passer, so the first
entries of a year are the ones a stable edge makes, and entries that come in bursts are the ones most often
chasing noise. The sequence is fixed in code; it is not tuned on any data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

YEARLY_BUDGET = 0.05


@dataclass(frozen=True)
class Spend:
    """One entry into probation: who, which genome, on which day, at what level."""

    name: str
    genome: str
    day: date
    alpha: float

    def to_dict(self) -> dict:
        return {"name": self.name, "genome": self.genome, "day": self.day.isoformat(), "alpha": self.alpha}

    @classmethod
    def from_dict(cls, data: Mapping) -> Spend:
        return cls(str(data["name"]), str(data["genome"]), date.fromisoformat(str(data["day"])), float(data["alpha"]))


@dataclass(frozen=True)
class ErrorBudget:
    """The ledger of a deployment's probation entries; immutable, each `spend` returns the next ledger."""

    yearly: float = YEARLY_BUDGET
    spends: tuple[Spend, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 0.0 < self.yearly < 1.0:
            raise ValueError(f"the yearly error budget must be in (0, 1); got {self.yearly!r}")

    def share(self, entry: int) -> float:
        """The level of the year's `entry`-th probation (1-based)."""
        if entry < 1:
            raise ValueError(f"entries count from 1; got {entry}")
        return self.yearly * 6.0 / (math.pi**2 * entry * entry)

    def entries(self, year: int) -> list[Spend]:
        return [s for s in self.spends if s.day.year == year]

    def spent(self, year: int) -> float:
        return math.fsum(s.alpha for s in self.entries(year))

    def next_alpha(self, day: date) -> float:
        return self.share(len(self.entries(day.year)) + 1)

    def spend(self, name: str, genome: str, day: date) -> tuple[ErrorBudget, float]:
        """The ledger after one more entry on `day`, and that entry's level. The same genome entering again on the
        same day (a rerun of that date) is the same entry: nothing is spent twice."""
        again = next((s for s in self.spends if s.genome == genome and s.day == day), None)
        if again is not None:
            return self, again.alpha
        alpha = self.next_alpha(day)
        kept = tuple(s for s in self.spends if s.day.year >= day.year - 1)  # the past year stays readable
        return ErrorBudget(self.yearly, (*kept, Spend(name, genome, day, alpha))), alpha

    def to_dict(self) -> dict:
        return {"yearly": self.yearly, "spends": [s.to_dict() for s in self.spends]}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> ErrorBudget:
        if not data:
            return cls()
        return cls(float(data.get("yearly", YEARLY_BUDGET)), tuple(Spend.from_dict(s) for s in data.get("spends", ())))
