"""The organism's own track record: the production chain walked through history, each date on data before it.

For each evolution date D (monthly by default) the chain (deployment/chain.py: the production search, the
validation gates, the decision engine) runs on the bars strictly before D, exactly as the nightly run after
D-1 closes would. What it deploys is then paper-traded with the runtime (runtime/forward.py: the paper
asset's engine, sizing, risk controls and parity check) on the bars of [D, next date): data no part of the
chain saw. Beside it, over the same bars:
- cash (earns nothing);
- naive: "deploy the in-sample best", the individual with the best training score, traded through the same
  runtime at the largest weight the decision engine gives one strategy (`max_weight`), no validation;
- buy-and-hold: equal capital in every coin of the universe, held over the span;
- plain rule: the documented tier's time-series trend rule at its pre-registered default (strategies/portfolio.py,
  DEFAULT_RULE), always on, its weights from the daily closes up to each day: what the best-documented effect
  earned with no search and no gate.
The chain's documented tier (deployment/documented_capital.py) may choose pre-registered portfolio rules beside the search's
strategies; they trade as sleeves of the same capital, their daily net returns on the universe from the closes up
to each day (backtest/portfolio_returns.py) rather than through the per-coin paper books.
The strategies deployed at the previous date are incumbents at D: judged on their forward record only
(deployment/selection.py), kept when they still earn their place, retired otherwise. A newly chosen strategy
is deployed on probation at its incubation allocation (deployment/probation.py) until its forward record earns
it Kelly capital. On a history shorter than the preset's lookback a date's windows shrink alike, down to the
preset's minimum, as the nightly run's do (`date_lookback`); its row says the lookback it used.

Every figure here is a forward figure: computed on bars after the date whose data chose what it describes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from quant_organism.backtest import CostModel
from quant_organism.catalog import StrategyConfig
from quant_organism.catalog.death_reports import DeathReport, ForwardFigures
from quant_organism.core.artifacts import finite_or_none
from quant_organism.core.metrics import bars_per_year, max_drawdown, sharpe, total_return
from quant_organism.deployment import documented_capital as documented
from quant_organism.deployment.chain import ChainSettings, Incumbent, run_chain
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.probation import ProbationEntry
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import Retired
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.runtime.forward import ForwardRecord, buy_and_hold_record, flat_record, span_index, trade_forward
from quant_organism.runtime.risk import RiskLimits
from quant_organism.runtime.weekly_stop import WeeklyStop, flat_days
from quant_organism.strategies.genes import SeedGenes
from quant_organism.strategies.portfolio import DEFAULT_RULE
from quant_organism.validation.held_out import buy_and_hold_returns, daily_returns, window_figures

CURVES = ("organism", "cash", "naive", "buy_and_hold", "plain_rule")


@dataclass(frozen=True)
class RetrospectiveSettings:
    chain: ChainSettings
    costs: CostModel = field(default_factory=CostModel)
    risk: RiskLimits = field(default_factory=RiskLimits)


@dataclass
class LiveStrategy:
    """A strategy the organism holds after a date: what the next date needs to judge it as an incumbent."""

    genes: SeedGenes | None  # None: a documented rule, named by its key (deployment/documented_capital.py)
    allocation: float
    since: pd.Timestamp  # its forward record starts here (the date it was deployed on)
    stage: str = "capital"  # or "probation" (deployment/probation.py): incubation until it crosses its bound
    probation: dict | None = None  # its sequential record (deployment/probation.ProbationEntry.to_dict)
    paper: tuple[float, ...] = ()  # its per-bar paper returns since deployed: its paper record, as production keeps one

    def to_dict(self) -> dict:
        return {
            "genes": None if self.genes is None else self.genes.model_dump(mode="json"),
            "allocation": self.allocation,
            "since": self.since.isoformat(),
            "stage": self.stage,
            "probation": self.probation,
            "paper": list(self.paper),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> LiveStrategy:
        stage = data.get("stage") or ("capital" if float(data["allocation"]) > 0.0 else "probation")  # older files
        genes = None if data.get("genes") is None else SeedGenes.model_validate(data["genes"])
        paper = tuple(float(x) for x in data.get("paper") or ())
        return cls(genes, float(data["allocation"]), pd.Timestamp(data["since"]), stage, data.get("probation"), paper)

    @property
    def genome(self) -> str | None:
        """Its identity: the genes hash (None for a documented rule, whose name is its identity)."""
        if self.probation and self.probation.get("genome"):
            return str(self.probation["genome"])
        return None if self.genes is None else self.genes.genes_hash()


@dataclass
class DateOutcome:
    """One evolution date: what the chain decided on data before it, and what that earned until the next date."""

    date: pd.Timestamp
    until: pd.Timestamp
    deployed: list[dict]  # name, family, allocation, incumbent
    retired: list[str]
    candidates: int
    passed: int
    spa_pvalue: float | None
    naive: dict  # name, family
    records: dict[str, ForwardRecord]  # CURVES -> forward record
    bars_per_year: float
    seconds: float
    notes: list[str] = field(default_factory=list)
    live: dict[str, LiveStrategy] = field(default_factory=dict)
    looks: dict[str, float] = field(default_factory=dict)  # probation looks made at this date: name -> p-value
    lookback_days: int | None = None  # days of history the chain evolved and validated on
    detectable_sharpe: dict | None = None  # what the date's gate could have seen (validation/power.py)
    documented: dict = field(default_factory=dict)  # the documented tier's reading of the date (documented_summary)
    budget: ErrorBudget | None = None  # the probation entries' error ledger after this date
    retired_genomes: dict[str, Retired] = field(default_factory=dict)  # every genome retired so far: hash -> name, day
    deaths: tuple[DeathReport, ...] = ()  # the death reports so far (catalog/death_reports.py): the search reads them
    search: dict = field(default_factory=dict)  # the search's windows and its best genome's figures (search_summary)

    def row(self) -> dict:
        """The flat record of this date (the `retrospective` view's row; every figure is forward)."""
        organism = self.records["organism"]
        out = {
            "date": self.date.strftime("%Y-%m-%d"), "until": self.until.strftime("%Y-%m-%d"),
            "deployed": [d["name"] for d in self.deployed], "families": sorted({d["family"] for d in self.deployed}),
            "allocation": float(sum(d["allocation"] for d in self.deployed)),
            "incumbents_kept": [d["name"] for d in self.deployed if d["incumbent"]], "retired": self.retired,
            "on_probation": [d["name"] for d in self.deployed if d.get("stage") == "probation"],
            "promoted": [d["name"] for d in self.deployed if d.get("promoted")],
            "capital_families": sorted({d["family"] for d in self.deployed if d.get("stage", "capital") == "capital" and d["allocation"] > 0.0}),
            "candidates": self.candidates, "passed": self.passed, "spa_pvalue": self.spa_pvalue,
            "naive": self.naive.get("name"), "naive_family": self.naive.get("family"),
            "turnover": organism.turnover, "costs": organism.costs, "trades": organism.trades,
            "parity_ok": organism.parity_ok, "parity_books": organism.books_checked,
            "parity_problems": organism.parity_problems[:5], "bars": int(len(organism.returns)),
            "seconds": round(self.seconds, 3), "notes": self.notes, "span": "forward",
            "lookback_days": self.lookback_days,
            "detectable_sharpe_50": (self.detectable_sharpe or {}).get("detectable_sharpe_50"),
            "detectable_sharpe_80": (self.detectable_sharpe or {}).get("detectable_sharpe_80"),
            **self.documented, **self.search,
        }  # fmt: skip
        for curve, record in self.records.items():
            figures = window_figures(record.returns, self.bars_per_year)
            out[f"{curve}_return"] = float(record.total_return)
            out[f"{curve}_sharpe"] = finite_or_none(figures["sharpe"])
            out[f"{curve}_drawdown"] = float(record.max_drawdown)
        return out

    def curves(self) -> pd.DataFrame:
        """Per-bar forward returns of the four curves over [date, until)."""
        return pd.DataFrame({name: self.records[name].returns for name in CURVES}).fillna(0.0)


def plain_rule_record(
    frames: Mapping[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp, costs: CostModel, top_n: int | None = None
) -> ForwardRecord:
    """The documented trend rule at its default on [start, end), on the chain's point-in-time universe, from the
    coins' daily closes (and funding) up to each day; each day's return lands on that day's last bar, so the curve
    compounds with the per-bar ones."""
    index = span_index(frames, start, end)
    if len(index) == 0:
        return flat_record(index)
    name = documented.documented_name(DEFAULT_RULE.name)
    return ForwardRecord(documented.rule_bar_returns(frames, [name], index, top_n, costs)[name])


def evolution_dates(first: str | pd.Timestamp, last: str | pd.Timestamp, every_days: int | None = None) -> list[pd.Timestamp]:
    """The evolution dates in [first, last]: the first day of each month (every_days None), else every N days."""
    first, last = _day(first), _day(last)
    if first > last:
        return []
    if every_days is None:
        return list(pd.date_range(first + pd.offsets.MonthBegin(0), last, freq="MS"))
    if every_days < 1:
        raise ValueError(f"every_days must be at least 1; got {every_days}")
    return list(pd.date_range(first, last, freq=f"{int(every_days)}D"))


def judge_date(
    frames: Mapping[str, pd.DataFrame],
    date: str | pd.Timestamp,
    until: str | pd.Timestamp,
    spec: RetrospectiveSettings,
    holding: Mapping[str, LiveStrategy] | None = None,
    traded: Sequence[str] | None = None,
    budget: ErrorBudget | None = None,
    retired: Mapping[str, Retired] | None = None,
    deaths: Sequence[DeathReport] = (),
) -> DateOutcome:
    """The chain on bars before `date` (plus `holding`, the previous date's deployment, as incumbents, with the
    error ledger and the genomes retired so far), then its deployment, naive and buy-and-hold traded on
    [date, until). `frames` may reach past `until`: the chain is cut at `date` and the forward span at `until`,
    so nothing later is read."""
    started = time.perf_counter()
    date, until = _day(date), _day(until)
    if until <= date:
        raise ValueError(f"the forward span needs until > date; got {date.date()} .. {until.date()}")
    history = {coin: f.loc[f.index < date] for coin, f in frames.items()}
    history = {coin: f for coin, f in history.items() if len(f)}
    if not history:
        raise ValueError(f"no bars before {date.date()}: nothing to evolve on")
    every_frame = {coin: f.loc[f.index < until] for coin, f in frames.items()}  # the documented tier's universe
    forward_frames = {coin: f for coin, f in every_frame.items() if traded is None or coin in traded}
    if not forward_frames:
        raise ValueError(f"none of the coins to trade from {date.date()} ({list(traded or [])}) has bars")
    holding = dict(holding or {})
    per_year = bars_per_year(next(iter(history.values())).index)
    incumbents = {name: Incumbent(s.genes, s.since, _paper_record(s, date, per_year)) for name, s in holding.items()}
    evolution_day = (date - pd.Timedelta(days=1)).date()
    outcome = run_chain(history, evolution_day, spec.chain, incumbents=incumbents, budget=budget, retired=retired,
                        deaths=deaths)  # fmt: skip

    genes = {c.genes.seed_id: c.genes for c in outcome.candidates} | {n: s.genes for n, s in holding.items() if s.genes}
    deployed = []
    live: dict[str, LiveStrategy] = {}
    for chosen in outcome.plan.chosen:
        name, weight, kept = chosen.name, float(chosen.allocation), chosen.name in holding
        deployed.append(
            {
                "name": name,
                "family": _family(name, genes.get(name)),
                "allocation": weight,
                "incumbent": kept,
                "stage": chosen.stage,
                "promoted": kept and chosen.stage == "capital" and holding[name].stage == "probation",
            }
        )
        live[name] = LiveStrategy(genes.get(name), weight, holding[name].since if kept else date, chosen.stage,
                                  chosen.probation, holding[name].paper if kept else ())  # fmt: skip
    configs = [_config(name, s.genes, s.allocation) for name, s in live.items() if s.genes is not None]
    sleeve = {name: s.allocation for name, s in live.items() if s.genes is None}
    entered = {name: s.since for name, s in live.items() if s.genes is None}
    stops = {name: ProbationEntry.from_dict(s.probation).weekly_stop() for name, s in live.items() if s.probation}
    traded = trade_forward(configs, forward_frames, date, until, spec.costs, spec.risk, stops)
    records = {
        "organism": with_documented(traded, sleeve, every_frame, spec, entered, stops, forward_frames),
        "buy_and_hold": buy_and_hold_record(forward_frames, date, until),
    }
    traded_returns = records["organism"].strategy_returns
    for name, strategy in live.items():  # each one's paper record grows by what it earned on its sleeve
        if name in traded_returns.columns:
            earned = tuple(float(x) for x in traded_returns[name].dropna())
            live[name] = replace(strategy, paper=strategy.paper + earned)
    gone, died = dict(retired or {}), list(deaths)
    why = {r.name: r.reason for r in outcome.plan.rejected}
    for name in sorted(set(holding) - set(live)):
        gone[holding[name].genome or name] = Retired(name, evolution_day)
        died.append(_death_report(name, holding[name], evolution_day, why.get(name, "superseded: not chosen again"), per_year))
    records["cash"] = flat_record(records["buy_and_hold"].returns.index)
    records["plain_rule"] = plain_rule_record(every_frame, date, until, spec.costs, spec.chain.universe_top)
    naive = {}
    best = outcome.result.best(1)
    if best:
        naive_genes = best[0][0]
        naive = {"name": naive_genes.seed_id, "family": naive_genes.seed_type.value}
        naive_config = _config(naive_genes.seed_id, naive_genes, spec.chain.decision.max_weight)
        records["naive"] = trade_forward([naive_config], forward_frames, date, until, spec.costs, spec.risk)
    else:
        records["naive"] = flat_record(records["cash"].returns.index)
    test = outcome.validation.test
    none_valid = outcome.result.why_none_valid()  # then the naive has nothing to trade either: say why
    notes = ([none_valid] if none_valid else []) + list(outcome.plan.notes)
    if not records["organism"].parity_ok:
        notes.append("paper trading differs from the backtest: " + "; ".join(records["organism"].parity_problems[:3]))
    first = next(iter(history.values()))
    return DateOutcome(
        date=date, until=until, deployed=deployed, retired=sorted(set(holding) - set(live)),
        candidates=len(outcome.candidates), passed=len(outcome.validation.passed),
        spa_pvalue=None if test is None else finite_or_none(test.spa_pvalue), naive=naive, records=records,
        bars_per_year=bars_per_year(first.index), seconds=time.perf_counter() - started, notes=notes, live=live,
        looks={name: float(look["probation_forward_p"]) for name, look in outcome.plan.looks.items()},
        lookback_days=spec.chain.evolution.lookback_days,
        detectable_sharpe=None if outcome.validation.reach is None else outcome.validation.reach.to_dict(),
        documented=documented_summary(outcome.documented), budget=outcome.plan.budget, retired_genomes=gone,
        deaths=tuple(died), search=search_summary(outcome),
    )  # fmt: skip


def date_lookback(date: str | pd.Timestamp, history_first: str | pd.Timestamp, evolution: EvolutionConfig) -> int:
    """Days of history the chain of `date` runs on (the bars strictly before it), as the nightly run fits them
    (EvolutionConfig.for_history): every whole day from `history_first` when shorter than the preset's lookback
    (the windows shrunk alike), grown up to `max_lookback_days` when longer; below the preset's minimum a
    ValueError says what is missing."""
    evolution_day = (_day(date) - pd.Timedelta(days=1)).date()
    available = (evolution_day - _day(history_first).date()).days + 1
    return evolution.for_history(available, f"from {_day(history_first).date()} to {evolution_day}").lookback_days


def with_lookback(spec: RetrospectiveSettings, days: int) -> RetrospectiveSettings:
    """`spec` with its search fitted to `days` of history (shrunk alike, or grown with the growth held-out)."""
    if days == spec.chain.evolution.lookback_days:
        return spec
    evolution = spec.chain.evolution.for_history(int(days))
    return replace(spec, chain=replace(spec.chain, evolution=evolution))


def chained(rows: list[dict], curves: pd.DataFrame) -> dict:
    """The whole track record: each curve's returns compounded over every date, and counts."""
    summary: dict = {"dates": len(rows)}
    if rows:
        summary["first"], summary["last_until"] = rows[0]["date"], rows[-1]["until"]
    for name in CURVES:
        values = curves[name].to_numpy() if name in curves else np.zeros(0)
        summary[f"{name}_return"] = total_return(values)
        summary[f"{name}_drawdown"] = max_drawdown(values)
    summary["dates_deploying"] = sum(1 for r in rows if r["deployed"])
    summary["dates_with_capital"] = sum(1 for r in rows if r.get("capital_families"))  # Kelly capital, not incubation
    summary["parity_ok"] = all(r["parity_ok"] for r in rows)
    summary["organism_costs"] = float(sum(r["costs"] for r in rows))
    summary["span"] = "forward: every figure is on bars after the date whose data chose what it describes"
    return summary


def documented_summary(verdict) -> dict:
    """The documented tier's reading of a date in flat fields: what passed, the trend family's p-value and what its
    test could see (on every day before the date: held-out for rules never fitted)."""
    if verdict is None:
        return {}
    trend = next((f for f in verdict.families if f.family == "ts_trend"), None)
    tested = trend is not None and trend.tested
    return {
        "documented_passed": list(verdict.passed),
        "documented_evidence_days": int(verdict.n_days),
        "documented_trend_p": finite_or_none(trend.pvalue) if tested else None,
        "documented_detectable_50": finite_or_none(trend.power.at_50) if tested and trend.power else None,
        "documented_not_judged": {f.family: f.reason for f in verdict.families if not f.tested},
    }


def with_documented(
    record: ForwardRecord,
    sleeve: Mapping[str, float],
    frames: Mapping[str, pd.DataFrame],
    spec: RetrospectiveSettings,
    since: Mapping[str, pd.Timestamp] | None = None,
    stops: Mapping[str, WeeklyStop] | None = None,
    market_frames: Mapping[str, pd.DataFrame] | None = None,
) -> ForwardRecord:
    """The organism's forward record with its documented rules added: each rule's per-bar return times its allocation
    (its sleeve is held at that share of the capital, rebalanced daily), its trading costs already in its returns.
    `since`: where each rule's book began, flat before (its entry paid), as its paper book trades it
    (runtime/rule_book.py). `stops`: a rule on probation is flat for the rest of a week that reached its weekly
    stop (runtime/weekly_stop.flat_days, against the equal-weight market of `market_frames`)."""
    if not sleeve:
        return record
    index = record.returns.index
    ruled = documented.rule_bar_returns(frames, sleeve, index, spec.chain.universe_top, spec.costs, since)
    for name in [n for n in ruled.columns if stops and n in stops]:
        market = daily_returns(buy_and_hold_returns(market_frames or frames, index).to_frame("m"))["m"]
        daily = daily_returns(ruled[[name]])[name].dropna()
        flat = {pd.Timestamp(d, tz="UTC") for d in flat_days(daily, market, stops[name])}
        ruled.loc[index.floor("D").isin(flat), name] = 0.0
    strategies = ruled if record.strategy_returns.empty else record.strategy_returns.join(ruled, how="outer")
    return replace(record, returns=record.returns + ruled.mul(pd.Series(sleeve), axis=1).sum(axis=1), strategy_returns=strategies)


def search_summary(outcome) -> dict:
    """What the date's search trained on and found: its train window, its best genome's in-sample (train) Sharpe, and
    that genome's Sharpe on the held-out span the gate judged (None when it was not among the candidates)."""
    train = outcome.result.windows.train
    out = {"train_start": train.start.strftime("%Y-%m-%d"), "train_end": train.end.strftime("%Y-%m-%d"),
           "best_train_sharpe": None, "best_held_out_sharpe": None}  # fmt: skip
    out |= portfolio_summary(outcome.searched)
    best = outcome.result.best(1)
    if not best:
        return out
    out["best_train_sharpe"] = finite_or_none(best[0].row.get("sharpe"))
    evidence = outcome.validation.evidence
    name = best[0].genes.seed_id
    if evidence is not None and name in evidence.daily_returns.columns:
        daily = evidence.daily_returns[name].dropna()
        out["best_held_out_sharpe"] = finite_or_none(sharpe(daily.to_numpy(), 365.0)) if len(daily) > 1 else None
    return out


def portfolio_summary(verdict) -> dict:
    """The date's portfolio search beside the seed search's figures: its train window, the genomes it tried and the
    effective trials they were worth, its first candidate's train and held-out excess Sharpe, its gate's SPA p."""
    if verdict is None:
        return {}
    best = verdict.best
    return {
        "portfolio_train_start": verdict.train.start.strftime("%Y-%m-%d"),
        "portfolio_train_end": verdict.train.end.strftime("%Y-%m-%d"),
        "portfolio_tried": verdict.tried,
        "portfolio_effective_trials": finite_or_none(verdict.effective_trials),
        "portfolio_best_train_sharpe": finite_or_none(best.train_excess_sharpe) if best else None,
        "portfolio_best_held_out_sharpe": finite_or_none(best.held_out_excess_sharpe) if best else None,
        "portfolio_spa_pvalue": finite_or_none(verdict.spa_pvalue) if not verdict.reason else None,
        "portfolio_passed": len(verdict.passed),
    }


def _death_report(name: str, strategy: LiveStrategy, day, why: str, per_year: float) -> DeathReport:
    """The death report of a strategy the date retired: its family and its forward record, its paper returns since it
    was deployed (per bar, turned into days and a mean daily return at the history's bar rate)."""
    paper = np.asarray(strategy.paper, dtype=np.float64)
    per_day = per_year / 365.0
    forward = ForwardFigures(int(len(paper) / per_day), float(paper.mean() * per_day) if len(paper) else None)
    return DeathReport(name, _family(name, strategy.genes), day.isoformat(), why, forward, strategy.genome)


def _family(name: str, genes: SeedGenes | None) -> str:
    return genes.seed_type.value if genes is not None else documented.rule_family(name)


def _paper_record(strategy: LiveStrategy, date: pd.Timestamp, per_year: float) -> PaperRecord:
    """The incumbent's paper record as production keeps one (runtime/decay.py from the paper ledger): its age in
    forward days, the Sharpe and drawdown of its per-bar paper returns, its stage and sequential record."""
    measured = window_figures(pd.Series(strategy.paper, dtype=float), per_year)
    return PaperRecord(
        days=max(0, (date - strategy.since).days),
        sharpe=finite_or_none(measured["sharpe"]),
        max_drawdown=finite_or_none(measured["max_drawdown"]),
        capital=strategy.stage == "capital",
        probation=strategy.probation,
        allocation=strategy.allocation,
    )


def _config(name: str, genes: SeedGenes, allocation: float) -> StrategyConfig:
    config = StrategyConfig.from_genes(genes, fitness_score=0.0, backtest_sharpe=0.0, name=name)
    return config.model_copy(update={"allocation": float(allocation)})


def _day(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.normalize()
