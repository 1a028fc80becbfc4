"""The search learns from deaths: a seed family whose strategies keep failing forward is sampled less.

Why: the search re-breeds families blind to what happened to their last winners. Seed 002 asks that post-mortems
feed back into the search. A death report (catalog/death_reports.py) says whether a retired strategy lost forward,
on data after the date that chose it. Each such failure within `WINDOW_DAYS` before the evolution date halves its
family's share of the random initial population, down to `FLOOR` of its configured weight: a family that failed
can still be found again, and its weight returns as its failures age out of the window.

Only `DeathReport.family`, `.retired_on` and `.forward` are read, never `.held_out`: the held-out windows are the
ones later gates judge again, so learning from them would let the search choose with its gate's evidence.
Deaths on or after the evolution date are not seen (no lookahead). The weights change which genomes are drawn,
never how a candidate is judged: the gate and its multiple-testing count are untouched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from quant_organism.catalog.death_reports import DeathReport
from quant_organism.strategies.genes import SeedType

WINDOW_DAYS = 365  # failures older than this no longer weigh
DISCOUNT = 0.5  # each forward failure in the window halves the family's sampling weight ...
FLOOR = 0.125  # ... down to this share of its configured weight
MIN_FORWARD_DAYS = 28  # a forward record shorter than four weeks says nothing either way


@dataclass(frozen=True)
class FamilyFeedback:
    """The sampling weights after the deaths, and the forward failures that moved them (family -> count)."""

    weights: dict[SeedType, float]
    failures: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.failures:
            return "no family failed forward within the window: sampling weights as configured"
        parts = [f"{family} x{count}" for family, count in sorted(self.failures.items())]
        return f"forward failures within {WINDOW_DAYS} days ({', '.join(parts)}): those families sampled less"


def forward_failures(reports: Iterable[DeathReport], day: date) -> Counter[str]:
    """Per family, the deaths before `day` (within `WINDOW_DAYS`) whose forward record of at least
    `MIN_FORWARD_DAYS` lost."""
    since = day - timedelta(days=WINDOW_DAYS)
    return Counter(r.family for r in reports if since <= r.day < day and r.forward.days >= MIN_FORWARD_DAYS and r.forward.failed)


def family_weights(base: Mapping[SeedType, float], reports: Iterable[DeathReport], day: date) -> FamilyFeedback:
    """`base` (seed type -> sampling weight) discounted by each family's forward failures before `day`."""
    failures = forward_failures(reports, day)
    weights = {seed: float(w) * max(FLOOR, DISCOUNT ** failures.get(seed.value, 0)) for seed, w in base.items()}
    return FamilyFeedback(weights, {f: n for f, n in failures.items() if any(s.value == f for s in base)})
