"""Probation: capital only for a strategy whose forward record crosses an always-valid bound; looked at every
night, each entry at its own share of the error budget; capital handed back when the edge ends.

Why: the gate bounds false passes per night, but nights re-judge almost the same held-out windows, so over a
year the chances add up. Data the gate never saw is the one thing a new night cannot re-use. So:
- a strategy the decision engine newly chooses enters probation: it trades at the incubation allocation
  (`DecisionConfig.probation_allocation`, 2%) and takes its level from the error budget
  (deployment/error_budget.py: every 365 days spend at most 5%, each probation counted over its whole life);
- every night its forward excess over the beta-matched market adds its complete weekly blocks, stopped at the
  weekly loss the runtime enforces, to a betting e-process (validation/sequential.py), valid for any return
  bounded below: skewed, fat-tailed, clustered. Beta is re-estimated before each week from every day before it
  (held-out and forward), a predictable choice, so a beta misjudged at entry is corrected without costing
  validity. Its anytime p-value (1 / the e-process's maximum) is compared with its level. The gate's p-value is
  recorded, not counted: entries are chosen night after night on overlapping windows, so the p-value an entry
  carries is a minimum over nights, and counting it again would not hold its size;
- promoted when it crosses (after at least `MIN_BLOCKS` weeks with a positive mean): from then on it competes
  for Kelly capital, sized on the lower confidence bound of its forward mean, so capital ramps with evidence;
- retired for futility when the upper confidence bound of its mean falls below zero, or when
  `DecisionConfig.probation_days` pass without a crossing;
- **decay**: after promotion a CUSUM (Page 1954) watches for the weekly mean falling from its record's mean to
  zero. At `DECAY_ALARM` the strategy is demoted to incubation; it is promoted again if the statistic
  returns to zero (the edge came back), retired at `DECAY_RETIRE` (it did not). Demotion costs capital, never
  size: the promotion's evidence was valid when it was given.
The state is a handful of sums carried from night to night (`ProbationEntry`): the record reaches back to the
entry however short the night's held-out span.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import special

from quant_organism.runtime.weekly_stop import WeeklyStop, stopped_week
from quant_organism.validation.sequential import (
    BETS,
    BLOCK_DAYS,
    OVERSHOOT,
    WEEKLY_STOP,
    Prior,
    bet_log_wealth,
    bet_weights,
    log_betting_evidence,
    log_evidence_of_loss,
    lower_bound,
    weekly_stop,
)

MIN_BLOCKS = 4  # weeks of forward record before a promotion: capital follows forward evidence, not the gate alone
FUTILITY_LEVEL = 0.05  # the upper bound of the mean below zero at this level retires (costs power, never size)
RAMP_LEVEL = 0.2  # capital is sized on the 80% lower confidence bound of the forward mean
DEFAULT_BET_SD = 5.0  # prior spread of the bet when the held-out data says nothing: Sharpe 0.1 a day at 2% vol
DECAY_ALARM = 1.25  # CUSUM level (nats) that demotes a capital holder to incubation (docs/validation.md: its trade-off)
DECAY_RETIRE = 4.0  # CUSUM level that retires a demoted one
MIN_BETA_DAYS = 30  # days of (strategy, market) pairs before beta is re-estimated from them


@dataclass(frozen=True)
class ProbationEntry:
    """A strategy's sequential record since it entered probation (kept after promotion: it sizes capital)."""

    entered: date  # its first forward day
    alpha: float  # its share of the error budget (deployment/error_budget.py)
    gate_p: float  # the gate's family-wise adjusted p-value on the night it entered (recorded; not evidence again)
    beta: float  # to the equal-weight market, from the held-out data (the forward test is of its excess)
    prior: Prior
    genome: str
    blocks: int = 0
    total: float = 0.0
    squares: float = 0.0
    log_e_max: float = 0.0
    through: date | None = None  # the last day of the last block counted
    promoted_on: date | None = None
    log_wealth: tuple[float, ...] = ()  # ln W(c) per bet of the grid (empty: none counted yet)
    pairs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)  # n, sum m, sum r, sum m^2, sum r m: beta's running sums
    stops: int = 0  # weeks the weekly stop fired
    breaches: int = 0  # weeks below the test's bound (OVERSHOOT x the stop): outside its assumption
    stop: float = WEEKLY_STOP  # its sleeve's weekly stop, fixed at entry from its held-out excess (sequential.weekly_stop)
    cusum: float = 0.0
    demoted_on: date | None = None
    since_retirement: tuple[int, float] | None = None  # a re-entry: (days, mean daily excess) of its record since retirement

    @classmethod
    def open(
        cls,
        entered: date,
        alpha: float,
        gate_p: float,
        beta: float,
        held_out_daily: pd.Series,
        genome: str,
        market_daily: pd.Series | None = None,
        since_retirement: bool = False,
    ) -> ProbationEntry:
        """A new entry; the prior's bet is half the held-out Kelly bet (the held-out mean of a chosen strategy is
        inflated by its choice), spread at least `DEFAULT_BET_SD` scaled to its volatility. With `market_daily`,
        `held_out_daily` is the strategy's raw daily return: its pairs with the market seed beta's estimate and the
        prior is taken from its excess. `since_retirement`: the held-out record is its record since retirement."""
        raw = pd.Series(held_out_daily, dtype=float).dropna()
        beta = float(beta) if math.isfinite(beta) else 0.0
        pairs = (0.0, 0.0, 0.0, 0.0, 0.0)
        if market_daily is not None and len(raw):
            m = pd.Series(market_daily, dtype=float).reindex(raw.index)
            ok = m.notna().to_numpy()
            r_values, m_values = raw.to_numpy()[ok], m.to_numpy()[ok]
            pairs = _add_pairs(pairs, r_values, m_values)
            beta = _beta(pairs, beta)
            raw = raw - beta * m.fillna(0.0)
        values = raw.to_numpy()
        variance = float(np.var(values)) if values.size > 1 else 0.0
        if variance > 0.0 and math.isfinite(variance):
            bet = max(0.0, 0.5 * float(values.mean()) / variance)
            prior = Prior(bet, max(bet, 0.1 / math.sqrt(variance)))
        else:
            prior = Prior(0.0, DEFAULT_BET_SD)
        gate = float(gate_p) if math.isfinite(gate_p) else 1.0
        record = (int(values.size), float(values.mean()) if values.size else 0.0) if since_retirement else None
        stop = weekly_stop(float(np.std(values)) if values.size > 1 else math.nan)
        return cls(entered, float(alpha), min(1.0, max(gate, 1e-300)), beta, prior, genome, pairs=pairs,
                   since_retirement=record, stop=stop)  # fmt: skip

    # --- the record -----------------------------------------------------------------------------------------------
    def update(self, daily: pd.Series, market: pd.Series | None, last_day: date) -> ProbationEntry:
        """The entry with every complete week up to `last_day` added (daily returns indexed by UTC day): each week's
        excess at the beta estimated from the days before it, stopped at the weekly loss (sequential.py)."""
        start = self.entered if self.through is None else self.through + timedelta(days=1)
        entry = self
        days = pd.DatetimeIndex(daily.index).tz_convert("UTC").date if len(daily) else np.array([])
        strategy = np.asarray(daily, dtype=float)
        bench = market.reindex(daily.index).to_numpy(dtype=float) if market is not None and len(daily) else None
        while start + timedelta(days=BLOCK_DAYS - 1) <= last_day:
            end = start + timedelta(days=BLOCK_DAYS - 1)
            inside = (days >= start) & (days <= end) if len(days) else np.zeros(0, dtype=bool)
            r = strategy[inside] if inside.any() else np.zeros(0)
            m = (bench[inside] if inside.any() else np.zeros(0)) if bench is not None else None
            entry = entry.add_week(r, m, end)
            start = end + timedelta(days=1)
        return entry

    def add_week(self, r: np.ndarray, m: np.ndarray | None, end: date, alarm: float = DECAY_ALARM) -> ProbationEntry:
        """The entry with one more week, ending on `end`: its daily returns `r` and the market's `m` (None: the
        record is already an excess). The week's excess is taken at the beta estimated from the days before it and
        stopped at the entry's weekly stop; the decay watch follows it after a promotion."""
        m_values = np.zeros(r.size) if m is None else m
        beta = _beta(self.pairs, self.beta) if m is not None else 0.0
        x, stopped = stopped_week(r - beta * np.nan_to_num(m_values), self.stop)
        total, squares = self.total + x, self.squares + x * x
        wealth = bet_log_wealth([x], self.bound, np.asarray(self.log_wealth) if self.log_wealth else None)
        log_e = log_betting_evidence(wealth, bet_weights(self.prior, self.bound))
        entry = replace(self, blocks=self.blocks + 1, total=total, squares=squares, log_wealth=tuple(wealth),
                        log_e_max=max(self.log_e_max, log_e), through=end, stops=self.stops + stopped,
                        breaches=self.breaches + (x < -self.bound),
                        pairs=_add_pairs(self.pairs, r, m_values) if m is not None else self.pairs)  # fmt: skip
        return entry._watched(x, end, alarm) if entry.promoted_on is not None else entry

    def _watched(self, x: float, day: date, alarm: float) -> ProbationEntry:
        """The decay CUSUM after one more week `x` (already in the sums): the log-likelihood ratio of "mean 0" against
        "the mean of its record before this week" (normal weeks at that record's variance), reflected at zero. The
        record's mean, not the one it was promoted on: that one is inflated by the crossing that chose it."""
        blocks = self.blocks - 1
        mean = (self.total - x) / max(blocks, 1)
        variance = (self.squares - x * x) / max(blocks, 1) - mean * mean
        step = (mean / variance) * (mean / 2.0 - x) if variance > 0.0 and mean > 0.0 and blocks >= MIN_BLOCKS else 0.0
        cusum = max(0.0, self.cusum + step)
        demoted = self.demoted_on
        if demoted is None and cusum >= alarm:
            demoted = day
        elif demoted is not None and cusum == 0.0:
            demoted = None  # the edge came back: its capital may grow again
        return replace(self, cusum=cusum, demoted_on=demoted)

    def promote(self, day: date) -> ProbationEntry:
        """The entry promoted on `day`: from its next week on, the decay watch follows it."""
        return replace(self, promoted_on=day, cusum=0.0, demoted_on=None)

    @property
    def demoted(self) -> bool:
        return self.demoted_on is not None

    def weekly_stop(self) -> WeeklyStop:
        """The stop its sleeve trades under until the next night (runtime/weekly_stop.py): its weeks, its stop, and the
        beta its next week will be judged at."""
        return WeeklyStop(self.entered, self.stop, _beta(self.pairs, self.beta))

    @property
    def bound(self) -> float:
        """The test's lower bound on a week's excess: the stop and one bar's overshoot."""
        return OVERSHOOT * self.stop

    @property
    def forward_p(self) -> float:
        """The anytime-valid p-value of the forward record alone (1 / the e-process's running maximum)."""
        return float(min(1.0, math.exp(-self.log_e_max)))

    @property
    def crossed(self) -> bool:
        """Promoted: its forward e-process reached 1/alpha (its anytime p-value fell to its level)."""
        return self.blocks >= MIN_BLOCKS and self.total > 0.0 and self.log_e_max >= math.log(1.0 / self.alpha)

    @property
    def ready(self) -> bool:
        """Holds capital tonight: crossed, and not demoted (or back from a demotion)."""
        return self.crossed and self.demoted_on is None

    def futile(self, day: date, max_days: int) -> str | None:
        """Why the probation ends without capital, or None while it may still cross (a demoted one: while its edge
        may still come back)."""
        if self.demoted_on is not None:
            if self.cusum >= DECAY_RETIRE:
                return (f"its edge ended: the decay statistic reached {self.cusum:.1f} (retires at {DECAY_RETIRE:g}) after "
                        f"its demotion on {self.demoted_on.isoformat()}")  # fmt: skip
            if (day - self.demoted_on).days + 1 >= max_days:
                return f"its edge did not come back within {max_days} days of its demotion"
            return None
        losing = log_evidence_of_loss(self.total, self.squares, Prior(0.0, self.prior.sd))
        if self.blocks >= MIN_BLOCKS and losing >= math.log(1.0 / FUTILITY_LEVEL):
            return (f"futile: the {1 - FUTILITY_LEVEL:.0%} upper confidence bound of its forward excess is below zero "
                    f"(weekly mean {self.total / self.blocks:+.3%} over {self.blocks} weeks)")  # fmt: skip
        if (day - self.entered).days + 1 >= max_days:
            return f"futile: {max_days} forward days without crossing its bound"
        return None

    def daily_lower_bound(self) -> float:
        """The `RAMP_LEVEL` lower confidence bound of its mean daily forward excess (NaN before two weeks)."""
        return lower_bound(self.blocks, self.total, self.squares, self.prior, RAMP_LEVEL) / BLOCK_DAYS

    def daily_variance(self) -> float:
        if self.blocks < 2:
            return math.nan
        mean = self.total / self.blocks
        return max(self.squares / self.blocks - mean * mean, 0.0) / BLOCK_DAYS

    def describe(self) -> str:
        text = (f"{self.blocks} forward weeks, weekly excess {self.total / max(self.blocks, 1):+.3%}, anytime p "
                f"{self.forward_p:.3g} against its level {self.alpha:.3%} (entered {self.entered.isoformat()})")  # fmt: skip
        if self.demoted_on is not None:
            text += f"; demoted on {self.demoted_on.isoformat()}, decay statistic {self.cusum:.2f}"
        return text

    def summary(self) -> dict[str, float | int | bool | str]:
        """Flat figures for the plan's looks and a strategy's metrics (JSON scalars)."""
        return {"probation_weeks": self.blocks, "probation_forward_p": self.forward_p, "probation_alpha": self.alpha,
                "probation_gate_p": self.gate_p, "probation_promoted": self.promoted_on is not None,
                "probation_entered": self.entered.isoformat(), "probation_beta": _beta(self.pairs, self.beta),
                "probation_stopped_weeks": self.stops, "probation_weekly_stop": self.stop, "probation_decay": self.cusum,
                "probation_demoted": self.demoted_on is not None}  # fmt: skip

    # --- persistence ----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "entered": self.entered.isoformat(), "alpha": self.alpha, "gate_p": self.gate_p, "beta": self.beta,
            "prior_mean": self.prior.mean, "prior_sd": self.prior.sd, "genome": self.genome, "blocks": self.blocks,
            "total": self.total, "squares": self.squares, "log_e_max": self.log_e_max,
            "through": None if self.through is None else self.through.isoformat(),
            "promoted_on": None if self.promoted_on is None else self.promoted_on.isoformat(),
            "log_wealth": [None if not math.isfinite(v) else v for v in self.log_wealth], "pairs": list(self.pairs),
            "stops": self.stops, "breaches": self.breaches, "stop": self.stop,
            "cusum": self.cusum,
            "demoted_on": None if self.demoted_on is None else self.demoted_on.isoformat(),
            "since_retirement": None if self.since_retirement is None else list(self.since_retirement),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping) -> ProbationEntry:
        """An entry as stored. A record from before the betting test (no `log_wealth`) keeps its sums and promotion,
        but its unpromoted evidence restarts at zero: evidence of the old test is not valid under skew."""

        def day(value):
            return None if value is None else date.fromisoformat(str(value))

        betting = "log_wealth" in data
        wealth = tuple(-math.inf if v is None else float(v) for v in data.get("log_wealth") or ())
        if wealth and len(wealth) != BETS.size:
            raise ValueError(f"a probation record with {len(wealth)} bets; this grid has {BETS.size}")
        retired = data.get("since_retirement")
        return cls(
            date.fromisoformat(str(data["entered"])), float(data["alpha"]), float(data["gate_p"]), float(data["beta"]),
            Prior(float(data["prior_mean"]), float(data["prior_sd"])), str(data["genome"]), int(data["blocks"]),
            float(data["total"]), float(data["squares"]), float(data["log_e_max"]) if betting else 0.0,
            day(data.get("through")), day(data.get("promoted_on")), wealth,
            pairs=tuple(float(v) for v in data.get("pairs") or (0.0,) * 5), stops=int(data.get("stops", 0)),
            breaches=int(data.get("breaches", 0)), stop=float(data.get("stop", WEEKLY_STOP)),
            cusum=float(data.get("cusum", 0.0)), demoted_on=day(data.get("demoted_on")),
            since_retirement=None if retired is None else (int(retired[0]), float(retired[1])),
        )  # fmt: skip


def _add_pairs(pairs: tuple[float, ...], r: np.ndarray, m: np.ndarray) -> tuple[float, ...]:
    ok = np.isfinite(r) & np.isfinite(m)
    r, m = r[ok], m[ok]
    n, sm, sr, smm, srm = pairs
    return (n + r.size, sm + float(m.sum()), sr + float(r.sum()), smm + float((m * m).sum()), srm + float((r * m).sum()))


def _beta(pairs: tuple[float, ...], fallback: float) -> float:
    """OLS beta of strategy on market from the running sums; `fallback` until `MIN_BETA_DAYS` pairs."""
    n, sm, sr, smm, srm = pairs
    if n < MIN_BETA_DAYS:
        return fallback
    variance = smm / n - (sm / n) ** 2
    return float((srm / n - sm * sr / n / n) / variance) if variance > 1e-18 else fallback


def bonferroni_p(t_stat: float | None, judged: int | None) -> float:
    """The family-wise adjusted one-sided p-value of a held-out t-statistic among `judged` candidates (Bonferroni:
    valid for the one the gate chose, whatever the dependence between candidates)."""
    if t_stat is None or judged is None or not math.isfinite(t_stat) or judged < 1:
        return 1.0
    return float(min(1.0, judged * special.ndtr(-t_stat)))
