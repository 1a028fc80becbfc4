"""The deployment decision: which validated candidates to trade, and with how much capital.

`DecisionEngine(config).select(candidates, returns)` walks the candidates best score first (ties by
name, so the plan is deterministic) and for each one, in this order:
1. a candidate whose verdict did not pass is rejected (it should not have been offered);
2. one without a positive edge on the validation windows (raw Kelly f* <= 0, see allocation.py) is
   rejected: it would get no capital, so it must not take a pool slot;
3. one whose returns correlate above `max_correlation` (default 0.7, Pearson on the bars both have
   finite) with a strategy already chosen is rejected, naming that strategy: it adds risk, not
   diversification. A correlation that cannot be measured (too few common bars, a flat series) does
   not reject; the plan notes it;
4. once `max_pool` (10) are chosen, the rest are rejected as "pool full".
The chosen are then sized with fractional Kelly (allocation.py). Fewer than `min_pool` (5) chosen is
deployed as is, zero included (an honest result), and the plan's notes say so.

`returns` holds each candidate's per-bar returns on the validation windows, one column per candidate
name, rows aligned on the same bars (e.g. `BacktestResult.returns` of `run_window`, concatenated over
windows). Only bars inside those windows may be used: this module looks at nothing else.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quant_organism.deployment.allocation import (
    DEFAULT_KELLY_FRACTION,
    DEFAULT_MAX_WEIGHT,
    AllocationConfig,
    allocate_from_kelly,
    kelly_fractions,
)
from quant_organism.deployment.error_budget import YEARLY_BUDGET, ErrorBudget

if TYPE_CHECKING:  # imported lazily: validation pulls in the backtest engine, deployment must stay light
    from quant_organism.validation.verdict import CandidateVerdict

MetricValue = float | int | str | bool | None


@dataclass(frozen=True)
class DecisionConfig:
    """Pool size, correlation filter and sizing; defaults are the plan's (5-10 strategies, rho <= 0.7)."""

    min_pool: int = 5
    max_pool: int = 10
    max_correlation: float = 0.7
    min_overlap: int = 20  # common finite bars needed to measure a correlation
    kelly_fraction: float = DEFAULT_KELLY_FRACTION
    max_weight: float = DEFAULT_MAX_WEIGHT
    min_forward_days: int = 7  # an incumbent is judged on its forward record once it has this many days
    # Probation (deployment/probation.py): a newly chosen strategy trades at `probation_allocation` (incubation
    # capital) until its forward record, with the gate's evidence, crosses an always-valid bound at its share of the
    # `probation_budget` per 365 days; futile after `probation_days` without crossing. Only then is it sized by Kelly.
    # 0 days turns probation off; an allocation of 0 makes probation paper-only.
    probation_days: int = 730  # two years: what a valid test can confirm at Sharpe 2 (docs/validation.md)
    probation_budget: float = YEARLY_BUDGET  # set once, in error_budget.py
    probation_allocation: float = 0.02

    def __post_init__(self) -> None:
        for name in ("min_pool", "max_pool", "min_overlap", "min_forward_days", "probation_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
        if self.max_pool < 1 or self.min_pool > self.max_pool:
            raise ValueError(f"need 1 <= max_pool and min_pool <= max_pool; got min {self.min_pool}, max {self.max_pool}")
        if self.min_overlap < 3:
            raise ValueError(f"min_overlap must be at least 3 bars to measure a correlation; got {self.min_overlap}")
        rho = self.max_correlation
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not -1.0 <= rho <= 1.0:
            raise ValueError(f"max_correlation must be a number in [-1, 1]; got {rho!r}")
        budget = self.probation_budget
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0.0 < budget < 1.0:
            raise ValueError(f"probation_budget must be a yearly level in (0, 1); got {budget!r}")
        incubation = self.probation_allocation
        if (
            isinstance(incubation, bool)
            or not isinstance(incubation, (int, float))
            or not 0.0 <= incubation <= self.max_weight
            or incubation * self.max_pool > 0.5
        ):
            raise ValueError(
                f"probation_allocation must be in [0, max_weight] with max_pool of them at most half the capital; "
                f"got {incubation!r} x {self.max_pool}"
            )
        _ = self.allocation  # validates kelly_fraction and max_weight (hard cap) now, not at select time

    @property
    def allocation(self) -> AllocationConfig:
        return AllocationConfig(kelly_fraction=self.kelly_fraction, max_weight=self.max_weight)


@dataclass(frozen=True)
class Candidate:
    """A validated strategy offered for deployment: its store name, overall score and verdict summary.

    `validation` holds flat JSON scalars (score, mode, per-stage status and score) that deployment
    records in the config's metrics when it moves the strategy to `validated`.
    """

    name: str
    score: float
    passed: bool = True
    validation: Mapping[str, MetricValue] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()  # why the verdict did not pass
    priority: int = 0  # ranks before score: a strategy holding capital on its forward record outranks newcomers

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a candidate needs a non-empty name; got {self.name!r}")
        score = self.score
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"candidate {self.name!r}: score must be a finite number; got {score!r}")

    @classmethod
    def from_verdict(cls, verdict: CandidateVerdict, name: str | None = None) -> Candidate:
        """A candidate from a validation verdict; `name` is the store name (default: the candidate_id)."""
        from quant_organism.validation.verdict import CandidateVerdict

        if not isinstance(verdict, CandidateVerdict):
            raise TypeError(f"expected a CandidateVerdict, got {type(verdict).__name__}")
        score = verdict.score if verdict.score is not None else 0.0
        return cls(
            name=name or verdict.candidate_id,
            score=float(score),
            passed=bool(verdict.passed),
            validation=verdict_metrics(verdict),
            reasons=tuple(verdict.reasons),
        )


def verdict_metrics(verdict: CandidateVerdict) -> dict[str, MetricValue]:
    """The verdict as flat `validation_*` metrics a StrategyConfig can store."""
    out: dict[str, MetricValue] = {
        "validation_score": None if verdict.score is None else float(verdict.score),
        "validation_mode": verdict.mode.value,
        "validation_passed": bool(verdict.passed),
    }
    for stage, result in verdict.stages.items():
        out[f"validation_{stage}_status"] = result.status.value
        out[f"validation_{stage}_score"] = None if result.score is None else float(result.score)
    return out


@dataclass(frozen=True)
class ChosenStrategy:
    name: str
    allocation: float
    score: float
    kelly_raw: float  # f* = mean / variance of its validation returns, before the safety factor and caps
    validation: Mapping[str, MetricValue] = field(default_factory=dict)
    stage: str = "capital"  # "probation": trading at the incubation allocation until its forward record promotes it
    probation: Mapping[str, Any] | None = None  # its sequential record (deployment/probation.ProbationEntry.to_dict)

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "allocation": self.allocation,
            "score": self.score,
            "kelly_raw": self.kelly_raw,
            "stage": self.stage,
        }
        if self.probation is not None:
            out["probation"] = dict(self.probation)
        return out


@dataclass(frozen=True)
class RejectedStrategy:
    name: str
    reason: str
    score: float
    correlated_with: str | None = None
    correlation: float | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "reason": self.reason,
            "score": self.score,
            "correlated_with": self.correlated_with,
            "correlation": self.correlation,
        }


@dataclass(frozen=True)
class DeploymentPlan:
    """What to deploy: the chosen (best score first) with allocations, the rejected with reasons, cash."""

    chosen: tuple[ChosenStrategy, ...]
    rejected: tuple[RejectedStrategy, ...]
    cash: float
    notes: tuple[str, ...] = ()
    config: DecisionConfig = field(default_factory=DecisionConfig)
    looks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # probationers' records tonight: name -> figures
    budget: ErrorBudget | None = None  # the probation entries' error ledger after this plan

    @property
    def allocations(self) -> dict[str, float]:
        return {c.name: c.allocation for c in self.chosen}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.chosen]

    def to_dict(self) -> dict:
        return {
            "chosen": [c.to_dict() for c in self.chosen],
            "rejected": [r.to_dict() for r in self.rejected],
            "cash": self.cash,
            "total_allocation": math.fsum(c.allocation for c in self.chosen),
            "notes": list(self.notes),
            "probation_looks": {name: dict(look) for name, look in self.looks.items()},
            "error_budget": None if self.budget is None else self.budget.to_dict(),
            "config": {
                "min_pool": self.config.min_pool,
                "max_pool": self.config.max_pool,
                "max_correlation": self.config.max_correlation,
                "kelly_fraction": self.config.kelly_fraction,
                "max_weight": self.config.max_weight,
                "probation_days": self.config.probation_days,
                "probation_budget": self.config.probation_budget,
                "probation_allocation": self.config.probation_allocation,
            },
        }


class DecisionEngine:
    """Greedy, score-ordered selection with a correlation filter, then fractional-Kelly sizing."""

    def __init__(self, config: DecisionConfig | None = None) -> None:
        self.config = config or DecisionConfig()
        if not isinstance(self.config, DecisionConfig):
            raise TypeError(f"config must be a DecisionConfig; got {type(self.config).__name__}")

    def select(self, candidates: Iterable[Candidate | CandidateVerdict], returns: pd.DataFrame) -> DeploymentPlan:
        """The deployment plan for `candidates` given their validation `returns` (see the module doc)."""
        cfg = self.config
        offered = _candidates(candidates)
        frame = _returns_for(offered, returns)
        kelly = kelly_fractions(frame) if len(frame.columns) else pd.Series(dtype=np.float64)
        values = frame.to_numpy(dtype=np.float64, copy=True)
        values[~np.isfinite(values)] = np.nan
        column = {name: values[:, j] for j, name in enumerate(frame.columns)}

        chosen: list[Candidate] = []
        rejected: list[RejectedStrategy] = []
        notes: list[str] = []
        for cand in sorted(offered, key=lambda c: (-c.priority, -c.score, c.name)):
            if not cand.passed:
                why = "; ".join(cand.reasons) or "verdict did not pass"
                rejected.append(RejectedStrategy(cand.name, f"failed validation: {why}", cand.score))
                continue
            f = float(kelly[cand.name])
            if not f > 0.0:
                reason = f"no positive edge on the validation returns (Kelly f* = {f:.4g})"
                rejected.append(RejectedStrategy(cand.name, reason, cand.score))
                continue
            clash = None
            for other in chosen:
                rho = _correlation(column[cand.name], column[other.name], cfg.min_overlap)
                if rho is None:
                    notes.append(f"correlation of {cand.name} with {other.name} could not be measured; not filtered")
                elif rho > cfg.max_correlation:
                    clash = (other.name, rho)
                    break
            if clash is not None:
                other, rho = clash
                reason = f"correlation {rho:.3f} with {other} (chosen, ranked higher) exceeds {cfg.max_correlation:g}"
                rejected.append(RejectedStrategy(cand.name, reason, cand.score, other, rho))
                continue
            if len(chosen) >= cfg.max_pool:
                rejected.append(RejectedStrategy(cand.name, f"pool full (max_pool {cfg.max_pool})", cand.score))
                continue
            chosen.append(cand)

        sizing = allocate_from_kelly({c.name: float(kelly[c.name]) for c in chosen}, cfg.allocation)
        if len(chosen) < cfg.min_pool:
            notes.append(
                f"only {len(chosen)} strateg{'y' if len(chosen) == 1 else 'ies'} qualified (min_pool {cfg.min_pool}); "
                "deploying what qualified" + ("; the whole capital stays in cash" if not chosen else "")
            )
        if sizing.scale < 1.0:
            notes.append(f"capped weights summed above 1; scaled by {sizing.scale:.4f}")
        plan_chosen = tuple(
            ChosenStrategy(c.name, sizing.weights[c.name], c.score, sizing.kelly_raw[c.name], dict(c.validation)) for c in chosen
        )
        return DeploymentPlan(plan_chosen, tuple(rejected), sizing.cash, tuple(notes), cfg)


def _candidates(candidates: Iterable[Candidate | CandidateVerdict]) -> list[Candidate]:
    if isinstance(candidates, (str, bytes, Mapping)) or not isinstance(candidates, Iterable):
        raise TypeError("candidates must be an iterable of Candidate or CandidateVerdict objects")
    out: list[Candidate] = []
    for item in candidates:
        if not isinstance(item, Candidate) and _is_verdict(item):
            item = Candidate.from_verdict(item)
        if not isinstance(item, Candidate):
            raise TypeError(f"expected a Candidate or CandidateVerdict, got {type(item).__name__}")
        out.append(item)
    names = pd.Series([c.name for c in out])
    duplicated = sorted(names[names.duplicated()].unique())
    if duplicated:
        raise ValueError(f"duplicate candidate names {duplicated}")
    return out


def _is_verdict(item: object) -> bool:
    """Whether `item` is a CandidateVerdict, without importing validation unless it is loaded."""
    module = sys.modules.get("quant_organism.validation.verdict")
    return module is not None and isinstance(item, module.CandidateVerdict)


def _returns_for(candidates: Sequence[Candidate], returns: pd.DataFrame) -> pd.DataFrame:
    """The candidates' columns of `returns`; every candidate that passed must have one."""
    if not isinstance(returns, pd.DataFrame):
        raise TypeError(f"returns must be a DataFrame (one column per candidate); got {type(returns).__name__}")
    if not returns.columns.is_unique:
        raise ValueError("returns has duplicate columns; one column per candidate")
    names = [c.name for c in candidates]
    missing = [c.name for c in candidates if c.passed and c.name not in returns.columns]
    if missing:
        shown = list(returns.columns)[:10]
        raise ValueError(f"no validation returns for candidates {missing}; returns has columns {shown}")
    present = [n for n in names if n in returns.columns]
    frame = returns.loc[:, present]
    bad = [n for n in present if not pd.api.types.is_numeric_dtype(frame[n])]
    if bad:
        raise ValueError(f"returns of {bad} are not numeric")
    missing_failed = [n for n in names if n not in returns.columns]
    if missing_failed:  # failed candidates without returns: a NaN column keeps the lookups uniform
        frame = frame.assign(**{n: np.nan for n in missing_failed})
    return frame.astype(np.float64)


def _correlation(a: np.ndarray, b: np.ndarray, min_overlap: int) -> float | None:
    """Pearson correlation on the bars where both are finite; None when it cannot be measured."""
    both = ~(np.isnan(a) | np.isnan(b))
    if int(both.sum()) < min_overlap:
        return None
    x, y = a[both], b[both]
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    if not denom > 0.0:
        return None
    return float(np.clip(np.dot(x, y) / denom, -1.0, 1.0))
