"""The error budgets in one table: what each allows, over what span, who spends it, and what is spent.

Two budgets with different jobs, linked in one place so that no figure reads alone:
- **each night**, the gate's family-wise error is 2.5% (validation/tiers.py): the two searches' held-out gates
  at 0.25% each and the documented tier at 2.0%, split in fixed shares between its families. A false pass there
  costs only a probation seat at the incubation allocation, never Kelly capital;
- **any 365 days**, probation's sequential test spends 5% (deployment/error_budget.py): each entry's share of it,
  counted over its whole life, bounds the chance that any strategy without an edge reaches Kelly capital.
The documented families' levels are spent once over the product's life by their e-processes, not per night.
"""

from __future__ import annotations

from datetime import date

from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.validation.tiers import (
    DOCUMENTED_FAMILY_LEVELS,
    DOCUMENTED_LEVEL,
    FAMILY_WISE_ERROR,
    GENOME_SEARCH_LEVEL,
    PORTFOLIO_SEARCH_LEVEL,
)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("budget", "string"),
    ("level_pct", "float"),
    ("over", "string"),
    ("spent_by", "string"),
    ("spent", "string"),
)

ASSETS = {
    "seed": "validation/validated_strategies",
    "portfolio": "validation/portfolio_search",
    "documented": "validation/documented_tier",
    "probation": "deployment/deployed_configs",
}


def _pct(level: float) -> float:
    return round(100.0 * level, 3)


def budget_rows(ledger: ErrorBudget | None = None, day: date | None = None) -> list[dict]:
    """One row per budget and share; the probation row says what `ledger` has spent in the 365 days to `day`."""
    rows = [
        {"budget": "a night's gate (family-wise, all tiers)", "level_pct": _pct(FAMILY_WISE_ERROR), "over": "each night",
         "spent_by": "the three rows below together (union bound: whatever their dependence)", "spent": "renewed nightly"},
        {"budget": "  seed search gate", "level_pct": _pct(GENOME_SEARCH_LEVEL), "over": "each night",
         "spent_by": f"SPA/StepM on the held-out windows ({ASSETS['seed']})", "spent": "renewed nightly"},
        {"budget": "  portfolio search gate", "level_pct": _pct(PORTFOLIO_SEARCH_LEVEL), "over": "each night",
         "spent_by": f"SPA/StepM on the held-out days ({ASSETS['portfolio']})", "spent": "renewed nightly"},
        {"budget": "  documented tier", "level_pct": _pct(DOCUMENTED_LEVEL), "over": "the product's life",
         "spent_by": f"its families' e-processes, closed-tested ({ASSETS['documented']})",
         "spent": "once, as evidence accrues"},
    ]  # fmt: skip
    rows += [
        {"budget": f"    {family}", "level_pct": _pct(level), "over": "the product's life",
         "spent_by": "its rules' average e-value against 1 / level", "spent": "once, as evidence accrues"}
        for family, level in DOCUMENTED_FAMILY_LEVELS.items()
    ]  # fmt: skip
    spent = f"shown on {ASSETS['probation']}" if ledger is None else "no entries yet"
    ledger = ledger or ErrorBudget()
    if day is not None and ledger.spends:
        alive = ledger.overlapping(day)
        spent = (f"{100 * ledger.spent(day):.2f}% by {len(alive)} entries in the 365 days to {day.isoformat()}; "
                 f"the next entry's share {100 * ledger.next_alpha(day):.2f}%")  # fmt: skip
    rows.append(
        {"budget": "probation to Kelly capital", "level_pct": _pct(ledger.yearly), "over": "any 365 days",
         "spent_by": f"each entry 6/(pi^2 j^2) of it, j its order among overlapping entries ({ASSETS['probation']})",
         "spent": spent}
    )  # fmt: skip
    return rows


def budget_sentence() -> str:
    """The budgets in one line, for an asset page's summary."""
    families = ", ".join(f"{f} {100 * level:.1f}%" for f, level in DOCUMENTED_FAMILY_LEVELS.items())
    return (
        f"each night {100 * FAMILY_WISE_ERROR:.1f}% family-wise: seed search {100 * GENOME_SEARCH_LEVEL:.2f}%, portfolio "
        f"search {100 * PORTFOLIO_SEARCH_LEVEL:.2f}%, documented tier {100 * DOCUMENTED_LEVEL:.1f}% ({families}, each "
        f"spent once over the product's life); then probation, {100 * ErrorBudget().yearly:.0f}% in any 365 days, "
        "before any Kelly capital"
    )
