"""From validation verdicts to a deployment plan, on the held-out returns validation stored: the
correlation filter and the Kelly sizing read the same evidence the gate judged (nothing is re-backtested).
The nightly asset and `deployment/chain.run_chain` both call `plan_from_verdicts`, and deploy what it returns.

The strategies still deployed (incumbents) compete with the new passing candidates, but none passes by fiat:
an incumbent's column holds its returns only on bars after the data that chose it
(validation/held_out.forward_returns: its forward record).
- Identity is the genome (`genomes`: name -> genes hash), not the name: a candidate whose genome is live is that
  incumbent found again and continues its record; a genome retired earlier (`retired`) returns only when its
  forward record since retirement (its column then holds only those days) spans `MIN_BLOCKS` weeks with a
  positive mean, and then as a new entry spending a new share of the budget.
- Holding capital: it needs `min_forward_days` of forward record to be judged at all (until then it keeps its
  allocation: not judged is not failed), then the same Kelly
  edge rule, correlation filter and composite score (scoring.py, where its paper record counts) decide on
  that forward record alone; it ranks before newcomers, so an unproven strategy never displaces it. Its Kelly
  input is capped by the lower confidence bound of its forward mean: capital ramps with the evidence.
- On probation (deployment/probation.py): trading at the incubation allocation while its sequential record
  grows; promoted when its forward e-process crosses its level, retired when futile.
Newly chosen strategies enter probation at `probation_allocation` each (at most `max_pool` probationers at a
time), each spending its share of the error budget (deployment/error_budget.py: 5% per 365 days).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from quant_organism.deployment.allocation import allocate_from_kelly
from quant_organism.deployment.decision import (
    Candidate,
    ChosenStrategy,
    DecisionConfig,
    DecisionEngine,
    DeploymentPlan,
    RejectedStrategy,
)
from quant_organism.deployment.error_budget import LIFE_DAYS, ErrorBudget
from quant_organism.deployment.probation import MIN_BLOCKS, ProbationEntry, bonferroni_p
from quant_organism.deployment.scoring import PaperRecord, scores
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.held_out import GATE_KEY, daily_returns
from quant_organism.validation.held_out import STAGE as GATE_STAGE
from quant_organism.validation.sequential import BLOCK_DAYS


@dataclass(frozen=True)
class Retired:
    """A genome that held a place in a deployment and was retired: under which name, on which day."""

    name: str
    day: date

    @property
    def since(self) -> pd.Timestamp:
        """Where its record since retirement begins: the day after."""
        return pd.Timestamp(self.day).tz_localize("UTC") + pd.Timedelta(days=1)


def returning_genomes(
    candidates: Mapping[str, SeedGenes], genomes: Mapping[str, str], retired: Mapping[str, Retired], live: Iterable[str]
) -> dict[str, tuple[SeedGenes, pd.Timestamp]]:
    """Candidates (name -> genes) whose genome was retired earlier and is not live, with where their record since
    retirement begins: that record, not their held-out one, is the only evidence that may bring them back."""
    live_genomes = {genomes.get(n, n) for n in live}
    return {
        name: (genes, retired[genomes[name]].since)
        for name, genes in candidates.items()
        if genomes[name] in retired and genomes[name] not in live_genomes
    }


def candidates_from_verdicts(verdicts: list[dict]) -> list[Candidate]:
    """Decision candidates from verdict dicts (as in verdicts.json)."""
    return [
        Candidate(
            name=v["candidate_id"],
            score=float(v["score"] or 0.0),
            passed=bool(v["passed"]),
            validation={"validation_score": v["score"], "validation_mode": v["mode"], "validation_passed": v["passed"]},
            reasons=tuple(v["reasons"]),
        )
        for v in verdicts
    ]


def gate_evidence(verdict: Mapping) -> tuple[float, float]:
    """(family-wise adjusted p-value, beta to the market) of a passing verdict: a documented rule states both; a
    searched genome's come from its held-out gate (Bonferroni over the candidates judged)."""
    if "gate_pvalue" in verdict:
        return float(verdict["gate_pvalue"]), float(verdict.get("beta") or 0.0)
    gate = ((verdict.get("stages") or {}).get(GATE_STAGE) or {}).get("metrics", {}).get(GATE_KEY, {})
    return bonferroni_p(gate.get("t_stat"), gate.get("candidates_judged")), float(gate.get("beta") or 0.0)


def plan_from_verdicts(
    verdicts: list[dict],
    held_out_returns: pd.DataFrame,
    config: DecisionConfig = DecisionConfig(),
    paper: dict[str, PaperRecord] | None = None,
    *,
    day: date | None = None,
    market: pd.Series | None = None,
    budget: ErrorBudget | None = None,
    genomes: Mapping[str, str] | None = None,
    retired: Mapping[str, Retired] | None = None,
) -> DeploymentPlan:
    """The night's plan: the decision engine over the passing candidates and the judged incumbents (names in
    `paper` whose returns are stored), ranked by the composite score, then probation.

    `day`: the evolution date (default: the last day of the returns); `market`: the equal-weight market's per-bar
    returns on the same index (probation tests the excess over it); `budget`: the error ledger so far."""
    paper = paper or {}
    genomes = dict(genomes or {})
    retired = dict(retired or {})
    probation = config.probation_days > 0
    day = day or _last_day(held_out_returns)
    budget, notes = _ledger(budget, config)
    verdict_of = {v["candidate_id"]: v for v in verdicts}
    incumbents = [n for n in sorted(paper) if n in held_out_returns.columns]
    candidates, refound, returning, barred = _sort_newcomers(verdicts, paper, genomes, retired, held_out_returns)
    if refound:
        notes.append(f"found again, continuing their records: {', '.join(sorted(refound))}")
    passing = [c.name for c in candidates if c.passed]
    missing = [name for name in passing if name not in held_out_returns.columns]
    if missing:
        raise ValueError(f"held-out returns lack passing candidates {missing}: re-materialise validation")
    daily = daily_returns(held_out_returns.loc[:, incumbents]) if incumbents else pd.DataFrame()
    market_daily = _daily(market) if market is not None else None
    forward_days = daily.notna().sum() if incumbents else pd.Series(dtype=int)

    entries: dict[str, ProbationEntry] = {}
    if probation:
        for name in incumbents:
            entry = _entry(paper[name])
            if entry is None and not paper[name].capital:  # a probationer from before sequential records
                budget, alpha = budget.spend(name, _genome(name, paper[name], genomes), day)
                entry = ProbationEntry.open(_first_forward_day(daily[name]) or day, alpha, 1.0, 0.0, pd.Series(dtype=float),
                                            _genome(name, paper[name], genomes))  # fmt: skip
            if entry is not None:
                entries[name] = entry.update(daily[name], market_daily, day)
    on_probation = [n for n in incumbents if probation and (not paper[n].capital or (n in entries and entries[n].demoted))]
    demoted = [n for n in on_probation if paper[n].capital]
    promoted = [n for n in on_probation if entries[n].ready]
    futile = {n: why for n in on_probation if n not in promoted and (why := entries[n].futile(day, config.probation_days))}
    waiting = [n for n in on_probation if n not in promoted and n not in futile]
    for name in [*promoted, *futile]:
        budget = budget.end(entries[name].genome, day)  # its error is spent or not: it no longer counts after tonight
    for name in promoted:
        if entries[name].promoted_on is None:
            entries[name] = entries[name].promote(day)
    if demoted:
        notes.append(f"demoted to incubation, their forward mean having fallen from the one they were promoted on: "
                     f"{', '.join(sorted(demoted))}")  # fmt: skip
    holders = [n for n in incumbents if n not in on_probation]
    judged = [n for n in holders if forward_days[n] >= config.min_forward_days] + promoted
    pool = passing + judged
    unjudged = {n: paper[n] for n in holders if n not in judged}  # too young to judge: kept as deployed
    failed = [
        Candidate(name, 0.0, passed=False, validation={"incumbent": True, **entries[name].summary()},
                  reasons=(f"{why} ({entries[name].describe()})",))
        for name, why in futile.items()
    ]  # fmt: skip
    if not pool:
        plan = DecisionEngine(config).select(candidates + failed + barred, held_out_returns.loc[:, []])
    else:
        composite = scores(daily_returns(held_out_returns.loc[:, pool]), paper)
        ranked = [
            replace(c, score=composite[c.name].total, validation={**c.validation, **_parts(composite[c.name])}) if c.passed else c
            for c in candidates
        ]
        ranked += [
            Candidate(name, composite[name].total, passed=True, priority=1,
                      validation={"incumbent": True, "judged_on": f"forward record: {int(forward_days[name])} days after its evolution data",
                                  **(entries[name].summary() if name in entries else {}), **_parts(composite[name])})
            for name in judged
        ]  # fmt: skip
        ranked += failed + barred
        plan = DecisionEngine(config).select(ranked, held_out_returns.loc[:, pool])
    plan = replace(plan, notes=(*plan.notes, *notes), budget=budget)  # the ledger is carried whatever the settings
    if probation:
        plan = replace(plan, looks={name: entries[name].summary() for name in on_probation})
        fresh = {c.name for c in candidates}
        plan = _with_probation(plan, fresh, waiting, promoted, entries, config,
                               _Entry(day, budget, verdict_of, held_out_returns, market_daily, genomes, returning))  # fmt: skip
    kept = {n: (r, int(forward_days[n]), entries.get(n)) for n, r in unjudged.items()}
    return _keep_unjudged(plan, kept, config) if kept else plan


def _ledger(budget: ErrorBudget | None, config: DecisionConfig) -> tuple[ErrorBudget, list[str]]:
    """The error ledger the night spends from, and a note when a saved one disagrees with the configuration: a
    ledger's budget cannot change during the lives it is spent over without breaking its bound, so it is kept,
    and the disagreement is said, never silently preferred."""
    if budget is None:
        return ErrorBudget(config.probation_budget, life_days=config.probation_days or LIFE_DAYS), []
    if math.isclose(budget.yearly, config.probation_budget):
        return budget, []
    return budget, [
        f"the saved error ledger spends {budget.yearly:g} per 365 days, the configuration says "
        f"{config.probation_budget:g}: the ledger's is kept, since its entries' shares were fixed by it"
    ]


def _sort_newcomers(verdicts, paper, genomes, retired, held_out_returns) -> tuple[list, list, list, list]:
    """(candidates, found again, returning after retirement, barred from returning) among the night's verdicts."""
    live_genomes = {_genome(n, paper[n], genomes): n for n in paper}
    candidates, refound, returning, barred = [], [], [], []
    for c in candidates_from_verdicts(verdicts):
        genome = genomes.get(c.name, c.name)
        if c.name in paper or genome in live_genomes:
            refound.append(c.name)  # found again: its record continues under its live name, forward only
        elif genome in retired and c.passed:
            if not _earned(held_out_returns, c.name):
                barred.append(_barred(c, retired[genome]))
            else:
                returning.append(c.name)
                candidates.append(c)
        else:
            candidates.append(c)
    return candidates, refound, returning, barred


def _keep_unjudged(
    plan: DeploymentPlan, kept: Mapping[str, tuple[PaperRecord, int, ProbationEntry | None]], config: DecisionConfig
) -> DeploymentPlan:
    """The plan with the capital holders too young to judge kept at their allocation: not judged is not failed. The
    rest of the plan shrinks when it needs the room."""
    held = {n: min(float(r.allocation or 0.0), config.max_weight) for n, (r, _, _) in kept.items()}
    room = max(0.0, 1.0 - sum(held.values()))
    planned = sum(c.allocation for c in plan.chosen)
    scale = min(1.0, room / planned) if planned > 0 else 1.0
    chosen = [replace(c, allocation=c.allocation * scale) for c in plan.chosen]
    chosen += [
        ChosenStrategy(name, held[name], 0.0, 0.0, {"incumbent": True, "judged_on": f"kept as deployed: a forward record of "
                       f"{days} days (< {config.min_forward_days}) is too short to judge"},
                       probation=None if entry is None else entry.to_dict())
        for name, (_, days, entry) in sorted(kept.items())
    ]  # fmt: skip
    cash = max(0.0, 1.0 - sum(c.allocation for c in chosen))
    return replace(plan, chosen=tuple(chosen), cash=cash)


@dataclass(frozen=True)
class _Entry:
    """What opening a newcomer's probation needs: the night, the ledger and the newcomer's held-out evidence."""

    day: date
    budget: ErrorBudget
    verdicts: Mapping[str, Mapping]
    returns: pd.DataFrame
    market: pd.Series | None
    genomes: Mapping[str, str]
    returning: list[str]

    def open(self, name: str, budget: ErrorBudget) -> tuple[ErrorBudget, ProbationEntry]:
        genome = self.genomes.get(name, name)
        budget, alpha = budget.spend(name, genome, self.day)
        verdict = self.verdicts.get(name, {})
        gate_p, beta = gate_evidence(verdict)
        returning = name in self.returning
        if returning:  # its old gate evidence does not count; its beta and prior come from its record since retirement
            gate_p = 1.0
        held_out = daily_returns(self.returns[[name]])[name].dropna()
        first = pd.Timestamp(self.day) + pd.Timedelta(days=1)
        return budget, ProbationEntry.open(first.date(), alpha, gate_p, beta, held_out, genome, self.market, returning)


def _with_probation(
    plan: DeploymentPlan,
    newcomers: set[str],
    waiting: list[str],
    promoted: list[str],
    entries: dict[str, ProbationEntry],
    config: DecisionConfig,
    opening: _Entry,
) -> DeploymentPlan:
    """The plan with Kelly capital only for proven strategies: the engine's choice among newcomers enters
    probation at the incubation allocation (up to `max_pool` probationers in all), each with its share of the
    budget; the waiting probationers stay there; the capital holders are sized again among themselves on the lower
    bound of their forward mean, on what incubation leaves."""
    holders = [c for c in plan.chosen if c.name not in newcomers]
    room = max(0, config.max_pool - len(waiting))
    entering = [c for c in plan.chosen if c.name in newcomers]
    entering, turned_away = entering[:room], entering[room:]
    budget = opening.budget
    for chosen in entering:
        budget, entries[chosen.name] = opening.open(chosen.name, budget)
    incubation = config.probation_allocation
    floor = incubation / config.kelly_fraction  # a promoted strategy never holds less than it did on probation
    sizing = allocate_from_kelly({c.name: _ramped(c, entries.get(c.name), floor) for c in holders}, config.allocation)
    held = sum(sizing.weights.values())
    room_left = 1.0 - incubation * (len(entering) + len(waiting))
    scale = min(1.0, room_left / held) if held > 0 else 1.0  # holders shrink only when incubation needs the room
    chosen = [replace(c, allocation=sizing.weights[c.name] * scale, probation=_state(entries, c.name)) for c in holders]
    chosen += [replace(c, allocation=incubation, stage="probation", probation=_state(entries, c.name)) for c in entering]
    chosen += [
        ChosenStrategy(name, incubation, 0.0, 0.0, {"incumbent": True, "judged_on": f"on probation: {entries[name].describe()}",
                       **entries[name].summary()}, stage="probation", probation=entries[name].to_dict())
        for name in sorted(waiting)
    ]  # fmt: skip
    rejected = list(plan.rejected) + [
        RejectedStrategy(c.name, f"probation full ({len(waiting)} waiting, max_pool {config.max_pool})", c.score)
        for c in turned_away
    ]
    notes = list(plan.notes)
    if entering:
        levels = ", ".join(f"{c.name} {entries[c.name].alpha:.3%}" for c in entering)
        notes.append(f"{len(entering)} newly chosen enter probation at {incubation:.1%} each, at levels from the "
                     f"error budget ({budget.spent(opening.day):.2%} of {budget.yearly:.0%} per 365 days spent): {levels}")  # fmt: skip
    if promoted:
        notes.append(f"promoted from probation on their forward record: {', '.join(sorted(promoted))}")
    cash = max(0.0, 1.0 - sum(c.allocation for c in chosen))
    return replace(plan, chosen=tuple(chosen), rejected=tuple(rejected), cash=cash, notes=tuple(notes), budget=budget)


def _ramped(chosen: ChosenStrategy, entry: ProbationEntry | None, floor: float) -> float:
    """The Kelly input of a capital holder: its forward f* capped by the f* of its mean's lower confidence bound,
    not below `floor` (its incubation): capital grows from incubation as the bound rises."""
    if entry is None:
        return chosen.kelly_raw
    lower, variance = entry.daily_lower_bound(), entry.daily_variance()
    ramp = lower / variance if math.isfinite(lower) and math.isfinite(variance) and variance > 0.0 else 0.0
    return min(chosen.kelly_raw, max(floor, ramp))


def _state(entries: Mapping[str, ProbationEntry], name: str) -> dict | None:
    return entries[name].to_dict() if name in entries else None


def _entry(record: PaperRecord) -> ProbationEntry | None:
    return ProbationEntry.from_dict(record.probation) if record.probation else None


def _genome(name: str, record: PaperRecord, genomes: Mapping[str, str]) -> str:
    if record.probation and record.probation.get("genome"):
        return str(record.probation["genome"])
    return genomes.get(name, name)


def _earned(returns: pd.DataFrame, name: str) -> bool:
    """Whether a retired genome's record since retirement (its column) spans `MIN_BLOCKS` weeks with a positive mean."""
    if name not in returns.columns:
        return False
    daily = daily_returns(returns[[name]])[name].dropna()
    return len(daily) >= MIN_BLOCKS * BLOCK_DAYS and bool(daily.mean() > 0.0)


def _barred(candidate: Candidate, retired: Retired) -> Candidate:
    why = (f"genome retired as {retired.name} on {retired.day.isoformat()}: its forward record since then does not "
           f"span {MIN_BLOCKS} weeks with a positive mean")  # fmt: skip
    return replace(candidate, passed=False, reasons=(why,))


def _first_forward_day(daily: pd.Series) -> date | None:
    days = daily.dropna().index
    return pd.Timestamp(days[0]).date() if len(days) else None


def _daily(bar_returns: pd.Series) -> pd.Series:
    return daily_returns(bar_returns.to_frame("market"))["market"]


def _last_day(returns: pd.DataFrame) -> date:
    if len(returns.index):
        return pd.Timestamp(returns.index.max()).date()
    return pd.Timestamp.now(tz="UTC").date()


def _parts(score) -> dict[str, float]:
    return {f"deployment_score_{k}": v for k, v in score.to_dict().items()}
