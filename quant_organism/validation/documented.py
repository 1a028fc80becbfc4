"""The documented tier of the gate: pre-registered portfolio rules judged on every day before the date.

A pre-registered rule (strategies/portfolio.py) was fixed before the data was seen and is never fitted, so
every day of the history after its warm-up is out-of-sample evidence for it; that, and a grid of a few rules,
is where this tier's power comes from. The evidence span is the same for every rule of a night: from the
panel's first day plus the longest warm-up (WARMUP_DAYS) to the date, optionally capped to the last
`max_days` days.

**Against the market, not cash.** Each rule's daily return r is matched to the universe's equal-weight
market m with its own beta over the span (OLS with an intercept), and the gate tests the excess r - beta m,
whose mean is Jensen's alpha. A long-only rule in a bull run has beta but no alpha and does not pass; a rule
that times the market has alpha whatever the drift. Jensen's alpha was chosen over a fixed benchmark (cash,
or the market at beta 1) because it is the one question a beta-matched market answers: what the rule earns
beyond the market exposure it carries, which any holder could buy for the cost of the market.

**Every night, one test.** A rule is a fixed hypothesis on a growing record, judged again each night: each
rule's record is an e-process from a fixed origin (validation/always_valid.py), valid however often it is looked
at and for any weekly excess bounded below by the runtime's weekly stop (skewed carry records included). Its
beta is re-estimated before each week from the days before it. A rule retired earlier is judged only on its
record since retirement (`origins`).

**Multiplicity.** Each family is judged at its own fixed level (validation/tiers.py) by closed testing with the
average e-value over its rules: rules that move together pass together at about one rule's price, a lone rule
pays about Bonferroni's. The levels add up to the tier's share by the union bound, and since each level holds
over all nights, the tier's error is bounded for the product's whole life, not per night.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import equal_weight_market, portfolio_returns
from quant_organism.core.artifacts import finite_or_none
from quant_organism.core.beta import beta_matched_excess
from quant_organism.core.metrics import sharpe
from quant_organism.market.panel import DailyPanel
from quant_organism.strategies.portfolio import DOCUMENTED_RULES, WARMUP_DAYS, PortfolioRule
from quant_organism.strategies.portfolio_genome import PortfolioGenome
from quant_organism.validation.always_valid import closed_passes, detectable_sharpe, family_pvalue, log_e_value, weekly_excess
from quant_organism.validation.power import DetectableSharpe, effective_number
from quant_organism.validation.sequential import BLOCK_DAYS
from quant_organism.validation.tiers import DOCUMENTED_FAMILY_LEVELS

DAYS_PER_YEAR = 365.0
MIN_EVIDENCE_DAYS = 60  # below this a family is not judged: its test would have no power worth its error


@dataclass(frozen=True)
class RuleEvidence:
    """One rule's figures on the evidence span (held-out for it: it was never fitted)."""

    name: str
    family: str
    sharpe: float  # annual, of its net daily returns
    alpha: float  # annual Jensen's alpha against the equal-weight market
    beta: float
    excess_sharpe: float  # annual Sharpe of r - beta m
    t_stat: float  # mean / standard error of the daily excess (ranks the passers; not the test)
    superior: bool
    log_e: float = 0.0  # ln of its e-value tonight (from its origin)
    weeks: int = 0  # weeks in its e-process

    def to_dict(self) -> dict[str, Any]:
        return {k: finite_or_none(v) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class FamilyVerdict:
    family: str
    level: float
    rules: tuple[str, ...]
    tested: bool
    reason: str = ""
    pvalue: float = 1.0  # anytime p-value of "no rule of the family has an edge" (1 / the mean e-value tonight)
    superior: tuple[str, ...] = ()
    power: DetectableSharpe | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "level": self.level,
            "rules": list(self.rules),
            "tested": self.tested,
            "reason": self.reason,
            "pvalue": finite_or_none(self.pvalue),
            "superior": list(self.superior),
            "power": None if self.power is None else self.power.to_dict(),
        }


@dataclass(frozen=True)
class DocumentedVerdict:
    """The documented tier's verdict on one date: per family and per rule, on the span [start, end]."""

    date: pd.Timestamp
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    n_days: int
    families: tuple[FamilyVerdict, ...]
    rules: dict[str, RuleEvidence] = field(compare=False)
    market_sharpe: float = math.nan

    @property
    def passed(self) -> tuple[str, ...]:
        return tuple(name for family in self.families for name in family.superior)

    def best(self) -> str | None:
        """The passing rule with the largest t (the one the tier would put forward), or None."""
        passed = self.passed
        return max(passed, key=lambda name: self.rules[name].t_stat) if passed else None

    def summary(self) -> str:
        parts = []
        for family in self.families:
            if not family.tested:
                parts.append(f"{family.family}: not judged ({family.reason})")
                continue
            reach = (
                f"; could see Sharpe >= {family.power.at_50:.2f} (50%), {family.power.at_80:.2f} (80%)" if family.power else ""
            )
            verdict = f"passed {', '.join(family.superior)}" if family.superior else "nothing passed"
            parts.append(f"{family.family} at {family.level:.2%}: {verdict} (anytime p {family.pvalue:.3f}{reach})")
        span = f"{self.n_days} days {self.start.date()}..{self.end.date()}" if self.start is not None else "no evidence"
        return f"documented tier on {self.date.date()} over {span}: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "span": {
                "start": None if self.start is None else self.start.isoformat(),
                "end": None if self.end is None else self.end.isoformat(),
                "days": self.n_days,
            },  # fmt: skip
            "families": [f.to_dict() for f in self.families],
            "rules": {name: r.to_dict() for name, r in self.rules.items()},
            "passed": list(self.passed),
            "market_sharpe": finite_or_none(self.market_sharpe),
        }


def missing_inputs(family: str, panel: DailyPanel, days: pd.DatetimeIndex | None = None) -> str | None:
    """Why `family` cannot be judged or traded on `panel` (over `days`, default all of them), or None when it can.

    The carry family ranks coins by their funding; spot candles (or a perpetual's history before its funding was
    recorded) have none. Such a family is skipped with this reason, and its share of the tier's error is left
    unspent: the levels are fixed per family (validation/tiers.py), never moved to another family."""
    if family != "funding_carry":
        return None
    funding = panel.funding
    if funding is None or (funding.reindex(days) if days is not None else funding).notna().sum().sum() == 0:
        level = DOCUMENTED_FAMILY_LEVELS[family]
        return f"the data have no funding rates (spot candles?): {family} ranks coins by funding; its {level:.2%} is left unspent"
    return None


def runnable_rules(rules: tuple[PortfolioRule, ...], panel: DailyPanel) -> tuple[tuple[PortfolioRule, ...], dict[str, str]]:
    """(the rules whose inputs the panel has, {skipped family: why}): `missing_inputs` over the whole panel."""
    skipped = {r.family: why for r in rules if (why := missing_inputs(r.family, panel))}
    return tuple(r for r in rules if r.family not in skipped), skipped


def rule_returns(
    panel: DailyPanel,
    rules: tuple[PortfolioRule | PortfolioGenome, ...],
    members: pd.DataFrame | None = None,
    costs: CostModel | None = None,
) -> pd.DataFrame:
    """Net daily returns of each rule (pre-registered, or a searched genome) over the whole panel (days x names)."""
    columns = {}
    for rule in rules:
        weights = rule.weights(panel.closes, members, panel.funding)
        columns[rule.name] = portfolio_returns(weights, panel.closes, costs, panel.funding)
    return pd.DataFrame(columns, index=panel.closes.index)


def evidence_span(index: pd.DatetimeIndex, date: pd.Timestamp, max_days: int | None = None) -> pd.DatetimeIndex:
    """The days that judge the tier on `date`: after the warm-up, up to the date, the last `max_days` of them."""
    if len(index) == 0:
        return index
    usable = index[(index >= index[0] + pd.Timedelta(days=WARMUP_DAYS)) & (index <= date)]
    return usable[-max_days:] if max_days else usable


def judge_documented(
    panel: DailyPanel,
    date: str | pd.Timestamp,
    members: pd.DataFrame | None = None,
    costs: CostModel | None = None,
    max_days: int | None = None,
    families: dict[str, tuple[PortfolioRule, ...]] | None = None,
    origins: Mapping[str, pd.Timestamp] | None = None,
) -> DocumentedVerdict:
    """Judge every documented family on the history up to `date` (nothing after it is read). `origins`: rule name ->
    the first day of its record (a rule retired earlier: the day after its retirement)."""
    day = _utc_day(date)
    panel = panel.until(day)
    members = None if members is None else members.loc[members.index <= day]
    families = DOCUMENTED_RULES if families is None else families
    origins = dict(origins or {})
    market_all = equal_weight_market(panel.closes, members)
    span = evidence_span(panel.closes.index, day, max_days)
    market = market_all.reindex(span)
    verdicts, evidence = [], {}
    for family, rules in families.items():
        level = DOCUMENTED_FAMILY_LEVELS[family]
        names = tuple(rule.name for rule in rules)
        if why := missing_inputs(family, panel, span if len(span) else None):
            verdicts.append(FamilyVerdict(family, level, names, False, why))
            continue
        if len(span) < MIN_EVIDENCE_DAYS:
            verdicts.append(
                FamilyVerdict(
                    family, level, names, False, f"{len(span)} days of evidence after the warm-up; needs {MIN_EVIDENCE_DAYS}"
                )
            )
            continue
        returns = rule_returns(panel, rules, members, costs).reindex(span)
        excess, alphas, betas = beta_matched_excess(returns, market)
        log_e, weeks = {}, {}
        for name in names:
            record, bounds, _ = weekly_excess(returns[name], market, origins.get(name))
            log_e[name], weeks[name] = log_e_value(record, bounds), len(record)
        passed = closed_passes(log_e, level)
        for name in names:
            values = excess[name].to_numpy()
            evidence[name] = RuleEvidence(
                name=name,
                family=family,
                sharpe=sharpe(returns[name].to_numpy(), DAYS_PER_YEAR),
                alpha=float(alphas[name]),
                beta=float(betas[name]),
                excess_sharpe=sharpe(values, DAYS_PER_YEAR),
                t_stat=sharpe(values, 1.0) * math.sqrt(len(values)),
                superior=name in passed,
                log_e=float(log_e[name]),
                weeks=int(weeks[name]),
            )
        verdicts.append(
            FamilyVerdict(
                family,
                level,
                names,
                True,
                "",
                family_pvalue(log_e),
                passed,
                _reach(excess.to_numpy(), max(weeks.values(), default=0), level),
            )  # fmt: skip
        )
    return DocumentedVerdict(
        date=day,
        start=span[0] if len(span) else None,
        end=span[-1] if len(span) else None,
        n_days=len(span),
        families=tuple(verdicts),
        rules=evidence,
        market_sharpe=sharpe(market.to_numpy(), DAYS_PER_YEAR) if len(span) > 1 else math.nan,
    )


def _reach(excess, weeks: int, level: float) -> DetectableSharpe:
    """What the family's e-processes could see tonight: the annual Sharpe one rule reaches its share of the level at
    (the family's effective number of independent rules) with 50% and 80% power."""
    n_effective = effective_number(excess) if excess.shape[1] else 1.0
    share = level / max(n_effective, 1.0)
    return DetectableSharpe(weeks * BLOCK_DAYS / DAYS_PER_YEAR, int(excess.shape[1]), n_effective, level,
                            detectable_sharpe(weeks, share, 0.5), detectable_sharpe(weeks, share, 0.8))  # fmt: skip


def _utc_day(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.normalize()
