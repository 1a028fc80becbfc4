"""The organism's decision chain in one call, without writing anything: evolve -> list candidates ->
validate -> judge the documented tier -> plan the deployment. The Dagster assets run the same steps one asset
each (writing what each produced for the next); benchmarks run them here, in memory, many times over.

The night's family-wise error is shared by tier (validation/tiers.py): the search's held-out gate spends the
exploratory share, the documented tier its own; the rules the documented tier passes compete for capital beside
the search's passers in one decision engine (deployment/documented.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from quant_organism.core.windows import Window
from quant_organism.deployment import documented
from quant_organism.deployment.decision import DecisionConfig, DeploymentPlan
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import Retired, plan_from_verdicts, returning_genomes
from quant_organism.evolution.config import EvolutionConfig
from quant_organism.evolution.engine import ProgressCallback, run_evolution
from quant_organism.evolution.result import Candidate, EvolutionResult, select_candidates
from quant_organism.runtime.forward import span_index
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.documented import DocumentedVerdict
from quant_organism.validation.held_out import buy_and_hold_returns, forward_returns
from quant_organism.validation.run import ValidationOutcome, ValidationSettings, validate


@dataclass(frozen=True)
class ChainSettings:
    """Everything one pass of the chain needs besides the market: the search, the gates, the decision."""

    evolution: EvolutionConfig
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    top_share: float = 0.2
    max_candidates: int = 50
    documented: bool = True  # the documented tier's passers compete for capital (its share of the error is spent)
    universe_top: int | None = None  # the documented tier's point-in-time universe: top N by volume (None: every coin)


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
    candidates: list[Candidate]
    validation: ValidationOutcome
    plan: DeploymentPlan
    seconds: dict[str, float]
    documented: DocumentedVerdict | None = None

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
) -> ChainOutcome:
    """One evolution date through the chain; `frames` must cover the whole lookback (train + validation).

    `incumbents`: the strategies trading now; they compete with the new passers, judged on their forward
    record only (deployment/selection.py). `budget`: the probation entries' error ledger so far; `retired`: the
    genomes retired earlier (genes hash -> name and day). The plan carries the ledger after this date."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    result = run_evolution(frames, spec.evolution, on_progress, evolution_date=evolution_date)
    seconds["evolution"] = time.perf_counter() - started

    started = time.perf_counter()
    candidates = select_candidates(result, spec.top_share, spec.max_candidates)
    windows = result.windows
    outcome = validate([c.genes for c in candidates], frames, windows.out_of_sample, windows.walk_forward, spec.validation)
    seconds["validation"] = time.perf_counter() - started

    started = time.perf_counter()
    verdict = (
        documented.judge(frames, evolution_date, spec.universe_top, spec.validation.held_out.costs) if spec.documented else None
    )
    seconds["documented"] = time.perf_counter() - started

    started = time.perf_counter()
    incumbents = dict(incumbents or {})
    retired = dict(retired or {})
    span = Window(windows.out_of_sample.start, windows.walk_forward.end, "held_out")
    genomes = {c.genes.seed_id: c.genes.genes_hash() for c in candidates}
    genomes |= {n: (i.genes.genes_hash() if i.genes is not None else n) for n, i in incumbents.items()}
    searched = {n: (i.genes, i.since) for n, i in incumbents.items() if i.genes is not None}
    searched |= returning_genomes({c.genes.seed_id: c.genes for c in candidates}, genomes, retired, incumbents)
    forward = forward_returns(searched, frames, span)
    returns = outcome.evidence.bar_returns if outcome.evidence is not None else pd.DataFrame(index=forward.index)
    if len(forward.columns):  # an incumbent found again by the search is judged on its forward record only
        returns = returns.drop(columns=[c for c in forward.columns if c in returns.columns]).join(forward, how="outer")
    verdicts = [v.to_dict() for v in outcome.verdicts]
    rules = {n: i.since for n, i in incumbents.items() if i.genes is None}
    new_rules = [v for v in documented.candidate_verdicts(verdict) if v["candidate_id"] not in rules] if verdict else []
    if rules or new_rules:
        index = returns.index if len(returns.index) else span_index(frames, span.start, span.end)
        names = list(rules) + [v["candidate_id"] for v in new_rules]
        ruled = documented.rule_bar_returns(frames, names, index, spec.universe_top, spec.validation.held_out.costs)
        for name, since in rules.items():  # a live rule is judged on its forward record only, as any incumbent
            ruled.loc[ruled.index < since, name] = float("nan")
        returns = returns.reindex(index).join(ruled)
        verdicts += new_rules
    plan = plan_from_verdicts(
        verdicts,
        returns,
        spec.decision,
        paper={n: i.paper for n, i in incumbents.items()},
        day=windows.evolution_date,
        market=buy_and_hold_returns(frames, returns.index) if len(returns.index) else None,
        budget=budget,
        genomes=genomes,
        retired=retired,
    )
    seconds["decision"] = time.perf_counter() - started
    return ChainOutcome(result, candidates, outcome, plan, seconds, verdict)
