"""The organism's decision chain in one call, without writing anything: evolve -> list candidates ->
validate -> judge the documented tier -> search portfolio genomes and gate them -> plan the deployment. The Dagster
assets run the same steps one asset each (writing what each produced for the next); benchmarks run them here, in
memory, many times over.

The night's family-wise error is shared by tier (validation/tiers.py): each search's held-out gate spends half the
exploratory share, the documented tier its own; the rules the documented tier and the portfolio search pass compete
for capital beside the seed search's passers in the night's one decision function (deployment/night.decide), which
the deployment asset calls too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from quant_organism.catalog.death_reports import DeathReport
from quant_organism.core.windows import Window
from quant_organism.deployment import documented_capital as documented
from quant_organism.deployment.decision import DecisionConfig, DeploymentPlan
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.night import Night, decide, held_out_table
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import Retired, returning_genomes
from quant_organism.evolution.death_feedback import family_weights
from quant_organism.evolution.evolution_config import EvolutionConfig, date_seed
from quant_organism.evolution.evolve import ProgressCallback, run_evolution
from quant_organism.evolution.portfolio_search import PortfolioSearchSettings
from quant_organism.evolution.result import EvolutionResult, Finalist, select_candidates
from quant_organism.runtime.forward import span_index
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.documented import DocumentedVerdict
from quant_organism.validation.held_out import buy_and_hold_returns, forward_returns
from quant_organism.validation.run import ValidationOutcome, ValidationSettings, validate
from quant_organism.validation.searched_rules import SearchedVerdict, held_out_only, search_and_judge
from quant_organism.validation.searched_rules import candidate_verdicts as searched_verdicts


@dataclass(frozen=True)
class ChainSettings:
    """Everything one pass of the chain needs besides the market: the search, the gates, the decision."""

    evolution: EvolutionConfig
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    top_share: float = 0.2
    max_candidates: int = 50
    documented: bool = True  # the documented tier's passers compete for capital (its share of the error is spent)
    universe_top: int | None = None  # the rule books' point-in-time universe: top N by volume (None: every coin)
    portfolio: PortfolioSearchSettings | None = field(default_factory=PortfolioSearchSettings)  # None: no portfolio search


@dataclass(frozen=True)
class Incumbent:
    """A strategy trading when the chain runs: its genome (None for a documented rule, whose name says which),
    where its forward record begins (the day after its evolution date) and its paper record so far."""

    genes: SeedGenes | None
    since: pd.Timestamp
    paper: PaperRecord


@dataclass
class ChainOutcome:
    result: EvolutionResult
    candidates: list[Finalist]
    validation: ValidationOutcome
    plan: DeploymentPlan
    seconds: dict[str, float]
    documented: DocumentedVerdict | None = None
    searched: SearchedVerdict | None = None  # the portfolio search and its gate

    @property
    def deployed(self) -> list[str]:
        return list(self.plan.names)


def run_chain(
    frames: Mapping[str, pd.DataFrame],
    evolution_date: date | str,
    spec: ChainSettings,
    on_progress: ProgressCallback | None = None,
    incumbents: Mapping[str, Incumbent] | None = None,
    budget: ErrorBudget | None = None,
    retired: Mapping[str, Retired] | None = None,
    deaths: Sequence[DeathReport] = (),
) -> ChainOutcome:
    """One evolution date through the chain; `frames` must cover the whole lookback (train + validation).

    `incumbents`: the strategies trading now; they compete with the new passers, judged on their forward
    record only (deployment/selection.py). `budget`: the probation entries' error ledger so far; `retired`: the
    genomes retired earlier (genes hash -> name and day); `deaths`: their death reports, which lower the sampling
    weight of families that failed forward (evolution/death_feedback.py), as the nightly evolution reads them. The
    plan carries the ledger after this date."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    day = date.fromisoformat(str(evolution_date)[:10])
    feedback = family_weights(spec.evolution.seed_types, deaths, day + timedelta(days=1))
    evolution = spec.evolution.model_copy(update={"seed_types": feedback.weights})
    result = run_evolution(frames, evolution, on_progress, evolution_date=evolution_date)
    seconds["evolution"] = time.perf_counter() - started

    started = time.perf_counter()
    candidates = select_candidates(result, spec.top_share, spec.max_candidates)
    windows = result.windows
    outcome = validate([c.genes for c in candidates], frames, windows.out_of_sample, windows.walk_forward, spec.validation)
    seconds["validation"] = time.perf_counter() - started

    started = time.perf_counter()
    verdict = (
        documented.judge(
            frames,
            evolution_date,
            spec.universe_top,
            spec.validation.held_out.costs,
            {n: r.day for n, r in (retired or {}).items()},
        )
        if spec.documented
        else None
    )
    seconds["documented"] = time.perf_counter() - started

    started = time.perf_counter()
    portfolio = portfolio_search(frames, windows, spec) if spec.portfolio is not None else None
    seconds["portfolio_search"] = time.perf_counter() - started

    started = time.perf_counter()
    incumbents = dict(incumbents or {})
    retired = dict(retired or {})
    span = Window(windows.out_of_sample.start, windows.walk_forward.end, "held_out")
    genomes = {c.genes.seed_id: c.genes.genes_hash() for c in candidates}
    genomes |= {n: i.genes.genes_hash() for n, i in incumbents.items() if i.genes is not None}
    searched = {n: (i.genes, i.since) for n, i in incumbents.items() if i.genes is not None}
    searched |= returning_genomes({c.genes.seed_id: c.genes for c in candidates}, genomes, retired, incumbents)
    evidence = outcome.evidence.bar_returns if outcome.evidence is not None else None
    returns = held_out_table(evidence, forward_returns(searched, frames, span), span_index(frames, span.start, span.end))
    rules = {n: i.since for n, i in incumbents.items() if i.genes is None}
    passed = [documented.documented_name(rule) for rule in verdict.passed] if verdict is not None else []
    found = portfolio.passed if portfolio is not None else []
    costs = spec.validation.held_out.costs
    rule_daily = documented.rule_daily_returns(frames, list(rules) + passed + found, spec.universe_top, costs)
    if portfolio is not None:  # a new portfolio passer's record in the decision is its held-out days only
        rule_daily = held_out_only(rule_daily, {name: portfolio.held_out.start for name in found if name not in rules})
    night = Night(
        day=windows.evolution_date,
        verdicts=[v.to_dict() for v in outcome.verdicts],
        held_out=returns,
        market=buy_and_hold_returns(frames, returns.index) if len(returns.index) else None,
        documented=(documented.candidate_verdicts(verdict) if verdict is not None else [])
        + (searched_verdicts(portfolio) if portfolio is not None else []),
        rule_daily=rule_daily,
        paper={n: i.paper for n, i in incumbents.items()},
        rule_since=rules,
        budget=budget,
        genomes=genomes,
        retired=retired,
    )
    plan = decide(night, spec.decision)
    seconds["decision"] = time.perf_counter() - started
    return ChainOutcome(result, candidates, outcome, plan, seconds, verdict, portfolio)


def portfolio_search(frames: Mapping[str, pd.DataFrame], windows, spec: ChainSettings) -> SearchedVerdict:
    """The night's portfolio search on its train window and its gate on the days after it, on the chain's
    point-in-time universe; its random stream is the evolution date's, as the seed search's is."""
    panel = documented.frames_panel(frames)
    day = pd.Timestamp(windows.evolution_date, tz="UTC")
    evolution = spec.evolution  # a population's own config has its date's seed already drawn (seed_per_date off)
    seed = date_seed(evolution.random_seed, windows.evolution_date) if evolution.seed_per_date else evolution.random_seed
    train = spec.portfolio.train_window(windows.train, day)
    members = documented.universe(panel, spec.universe_top)
    return search_and_judge(panel, members, train, day, spec.portfolio, seed, spec.validation.held_out.costs)
