"""Always-valid evidence for fixed hypotheses on a growing record: the documented rules, judged every night.

A pre-registered rule is one hypothesis whose record grows by a day each night. Testing it afresh every night at
a fixed level spends that level again and again (a z-test at 1.5% passes a null rule on about 4% of years from two
years of evidence, 12% over two years). Here each rule's record is one e-process from a fixed origin: looking
every night costs nothing extra, and by Ville's inequality a rule without an edge passes on any night at all with
probability at most its level.

- **The record.** Weekly blocks of the rule's daily excess over the beta-matched market, anchored at the origin
  (the span's first day; for a rule retired earlier, the day after its retirement), each week's excess stopped at
  its weekly stop (validation/sequential.stopped_week). Beta is re-estimated before each week
  from every day before it: a predictable choice, so estimating it costs no validity. The first
  `BURN_IN_DAYS` of pairs only estimate beta.
- **The e-process.** The betting mixture of validation/sequential.py (uniform over the bets: a fixed rule carries
  no held-out prior), valid for any weekly excess bounded below by its bound (the week's stop, set from the
  deviation of the days before it, and one bar's overshoot): skew and fat tails allowed.
- **The open week counts.** Tonight's week is counted with its days so far: within a week the wealth is linear
  in a stopped sum of mean-zero days, so the process is a supermartingale day by day, not only week by week.
- **Tonight's value, not its maximum.** A rule passes while its e-value is at or above the threshold: an edge that
  has ended loses wealth and stops passing, which is what the early years of a long record must not hide.
  Passing whenever the current value is high is a subset of "the maximum ever reached it", so the level holds.
- **Several rules in a family** are tested by closed testing with the average e-value (Vovk and Wang 2021): rule
  i passes when every subset of the family that holds it has a mean e-value >= 1 / level. Rules that move together
  pass together at about the single-rule threshold; a lone rule among nulls pays about Bonferroni's price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import optimize, special

from quant_organism.runtime.weekly_stop import stopped_week
from quant_organism.validation.sequential import (
    BETS,
    BLOCK_DAYS,
    OVERSHOOT,
    STOP_SIGMAS,
    bet_log_wealth,
    log_betting_evidence,
    weekly_stop,
)

BURN_IN_DAYS = 56  # pairs of (rule, market) days before beta is estimated and weeks are counted
UNIFORM = np.full(BETS.size, 1.0 / BETS.size)


def weekly_excess(rule: pd.Series, market: pd.Series, origin: pd.Timestamp | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(the stopped weekly excesses of `rule` over `market` from `origin`, each week's bound, weeks below their
    bound) on their common daily index; the weeks are anchored at the index's first day. Each week's beta and
    stop come from the days before it."""
    frame = pd.concat({"r": rule, "m": market}, axis=1).dropna()
    if frame.empty:
        return np.zeros(0), np.zeros(0), 0
    first = frame.index[0]
    week = ((frame.index - first).days // BLOCK_DAYS).to_numpy()
    r, m = frame["r"].to_numpy(), frame["m"].to_numpy()
    weeks, bounds, breaches = [], [], 0
    n = sm = sr = smm = srm = srr = 0.0
    for k in np.unique(week):
        inside = week == k
        start = first + pd.Timedelta(days=int(k) * BLOCK_DAYS)
        variance = smm / n - (sm / n) ** 2 if n else 0.0
        if n >= BURN_IN_DAYS and variance > 1e-18 and (origin is None or start >= origin):
            covariance = srm / n - sm * sr / n / n
            beta = covariance / variance
            spread = srr / n - (sr / n) ** 2 - 2.0 * beta * covariance + beta * beta * variance
            stop = weekly_stop(math.sqrt(max(spread, 0.0)))
            x, _ = stopped_week(r[inside] - beta * m[inside], stop)
            weeks.append(x)
            bounds.append(OVERSHOOT * stop)
            breaches += x < -OVERSHOOT * stop
        ri, mi = r[inside], m[inside]
        n, sm, sr = n + ri.size, sm + mi.sum(), sr + ri.sum()
        smm, srm, srr = smm + (mi * mi).sum(), srm + (ri * mi).sum(), srr + (ri * ri).sum()
    return np.asarray(weeks), np.asarray(bounds), breaches


def log_e_value(weeks: np.ndarray, bounds: np.ndarray) -> float:
    """ln of the rule's e-value after `weeks`, each bet in units of its week's bound (the uniform betting mixture; 0
    before any week)."""
    if len(weeks) == 0:
        return 0.0
    return log_betting_evidence(bet_log_wealth(np.asarray(weeks) / np.asarray(bounds), 1.0), UNIFORM)


def log_e_path(weeks: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """ln of the rule's e-value after each of its weeks (what each week's look would read)."""
    wealth, out = np.zeros(BETS.size), np.empty(len(weeks))
    for k, (x, bound) in enumerate(zip(weeks, bounds, strict=True)):
        wealth = bet_log_wealth([x / bound], 1.0, wealth)
        out[k] = log_betting_evidence(wealth, UNIFORM)
    return out


def closed_passes(log_e: Mapping[str, float], level: float) -> tuple[str, ...]:
    """The rules closed testing with the average e-value passes at `level`: rule i when, for every subset size s,
    (e_i + the s - 1 smallest other e-values) / s >= 1 / level (the smallest mean over the subsets that hold i)."""
    target = math.log(1.0 / level)
    names = list(log_e)
    passed = []
    for name in names:
        others = sorted(log_e[n] for n in names if n != name)
        worst = math.inf
        for s in range(1, len(names) + 1):
            logs = [log_e[name], *others[: s - 1]]
            worst = min(worst, float(special.logsumexp(logs)) - math.log(s))
        if worst >= target:
            passed.append(name)
    return tuple(passed)


def family_pvalue(log_e: Mapping[str, float]) -> float:
    """The anytime p-value of "no rule of the family has an edge": 1 / the mean e-value tonight."""
    if not log_e:
        return 1.0
    mean = float(special.logsumexp(list(log_e.values()))) - math.log(len(log_e))
    return float(min(1.0, math.exp(-mean)))


def detectable_sharpe(weeks: int, level: float, power: float) -> float:
    """The annual Sharpe a rule's e-process reaches 1/level at after `weeks` with about `power`: Gaussian weeks whose
    stop is `STOP_SIGMAS` deviations (bound 4.5 of them), the mixture's typical log wealth less z(power) times the
    spread of the log wealth at the bet that grows fastest. An approximation for planning; the bench measures."""
    if weeks < 1:
        return math.inf
    sigma, target, z = 1.0 / (OVERSHOOT * STOP_SIGMAS), math.log(1.0 / level), float(special.ndtri(power))

    def gap(s: float) -> float:
        mu = s * sigma
        growth = weeks * (np.log1p(BETS * mu) - 0.5 * (BETS * sigma) ** 2 / (1.0 + BETS * mu) ** 2)
        spread = BETS[int(np.argmax(growth))] * sigma * math.sqrt(weeks)
        return float(special.logsumexp(growth, b=UNIFORM)) - z * spread - target

    if gap(2.0) < 0.0:
        return math.inf
    return float(optimize.brentq(gap, 1e-6, 2.0, xtol=1e-6)) * math.sqrt(365.0 / BLOCK_DAYS)
