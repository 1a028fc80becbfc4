"""The night as the nightly assets stored it, gathered for the one decision function (deployment/night.decide).

Validation stored the search's verdicts, its held-out table (with the searched incumbents' forward records) and
the market; the documented tier its passers and its rules' daily returns; the portfolio search its passers and the
daily returns of those and of the searched rules trading now; the store and its manifest hold the
strategies trading now (genomes as configs, documented rules as manifest entries), the probation ledger and what
was retired; the paper ledger holds what each live rule earned. `run_chain` builds the same `Night` in memory.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from quant_organism.catalog.manifest import deployed_rules, deployment_error_budget, retired_rules
from quant_organism.catalog.store import StrategyStore
from quant_organism.core import artifacts as artifact_files
from quant_organism.defs.shared.resources import ArtifactsResource
from quant_organism.defs.validation.assets import (
    HELD_OUT_RETURNS_FILE,
    INCUMBENTS_FILE,
    read_decision_inputs,
    read_held_out_returns,
)
from quant_organism.defs.validation.documented_tier import read_documented
from quant_organism.defs.validation.portfolio_search_asset import read_portfolio_search
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.night import Night
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import Retired
from quant_organism.runtime.ledger import PaperLedger
from quant_organism.runtime.rule_ledger import rule_figures


def live_rules(
    store: StrategyStore, ledger: PaperLedger | None, evolution_date: date
) -> tuple[dict[str, PaperRecord], dict[str, pd.Timestamp]]:
    """The rule books (documented rules, searched genomes) trading now that an earlier night chose: (their paper records, where their forward
    records begin). Their paper figures come from their books in the paper ledger (runtime/rule_ledger.py)."""
    paper, since = {}, {}
    for name, entry in deployed_rules(store).items():
        start = pd.Timestamp(entry["since"], tz="UTC")
        if start.date() > evolution_date:  # chosen by this night itself (a rerun): a candidate again, not an incumbent
            continue
        days, sharpe, drawdown = rule_figures(ledger, name) if ledger is not None else (0, None, None)
        paper[name] = PaperRecord(
            days=days, sharpe=sharpe, max_drawdown=drawdown, capital=entry.get("stage") == "capital",
            probation=entry.get("probation"), allocation=entry.get("allocation"),
        )  # fmt: skip
        since[name] = start
    return paper, since


def retired(store: StrategyStore, genomes: dict[str, Retired]) -> dict[str, Retired]:
    """The genomes retired so far and every documented rule a deployment retired (a rule's identity is its name)."""
    return dict(genomes) | {name: Retired(name, date.fromisoformat(day)) for name, day in retired_rules(store).items()}


def stored_night(
    artifacts: ArtifactsResource, store: StrategyStore, ledger: PaperLedger | None, day: str, evolution_date: date
) -> Night:
    """The `Night` of `day` from what the nightly assets stored (see the module docstring)."""
    folder = artifacts.phase_dir("validation", day)
    verdicts = artifact_files.read_json(folder / "verdicts.json")["verdicts"]
    returns, market = (
        read_held_out_returns(artifacts, day) if (folder / HELD_OUT_RETURNS_FILE).exists() else (pd.DataFrame(), None)
    )
    paper = (
        {n: PaperRecord(**r) for n, r in artifact_files.read_json(folder / INCUMBENTS_FILE).items()}
        if (folder / INCUMBENTS_FILE).exists()
        else {}
    )
    rule_paper, rule_since = live_rules(store, ledger, evolution_date)
    tier, rule_daily = read_documented(artifacts, day)
    searched, searched_daily = read_portfolio_search(artifacts, day)
    if len(searched_daily.columns):
        rule_daily = searched_daily if rule_daily.empty else rule_daily.join(searched_daily, how="outer")
    genomes, gone = read_decision_inputs(artifacts, day)
    ledger_of_budget = deployment_error_budget(store)
    return Night(
        day=evolution_date,
        verdicts=verdicts,
        held_out=returns,
        market=market if market is not None and len(market) else None,
        documented=(tier or {}).get("candidates", []) + searched,
        rule_daily=rule_daily,
        paper=paper | rule_paper,
        rule_since=rule_since,
        budget=ErrorBudget.from_dict(ledger_of_budget) if ledger_of_budget else None,
        genomes=genomes,
        retired=retired(store, gone),
    )
