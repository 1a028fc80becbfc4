"""Evidence that stays valid however often it is looked at: e-processes for a strategy's forward excess return.

The forward record is cut into weekly blocks (seven calendar days). A block's excess is the sum of its daily
excess returns r - beta m, **stopped**: once the week-to-date sum reaches -stop, the sleeve is flat for the rest
of the week and nothing more is added (runtime/weekly_stop.py: the one rule, which the paper books enforce).
The stop is fixed before the weeks it governs (`weekly_stop`: three weekly deviations of the held-out excess, at
most 10%). Stopping at a stopping time keeps a zero-mean daily record zero-mean (optional stopping), so the stop
changes what is traded, never what the null means.

**The promotion test: testing by betting** (Waudby-Smith and Ramdas 2023, "Estimating means of bounded random
variables by betting"; Shafer and Vovk). For weekly excesses x_1..x_n bounded below by -B (B = `OVERSHOOT` x the stop),

    W_n(c) = prod_i (1 + c x_i / B),   0 < c <= 1,

is a non-negative supermartingale for every bet c whenever E[x_i | past] <= 0, and so is any mixture of them
fixed in advance. By Ville's inequality P(sup_n W_n >= 1/a) <= a, whatever the number of looks.

**Its assumption, and what enforces it.** Only the lower bound: no symmetry, no variance, no tail, no
independence. A crash-then-recover record (carry, short volatility: small gains and a rare large loss) is fine:
the bound is what the weekly stop guarantees, up to the overshoot of the bar that crosses the stop; B leaves
half a stop for it. A week that still loses more breaks the
assumption: the bets it would take below zero are worth nothing from then on (counted at zero, never
negative), and `bench organism --nightly` measures the size on nulls built to do exactly that (single-day
crashes of 25% and 40%).

The mixture is half uniform over the bet grid and half the normal prior centred on the bet the held-out data that
chose the strategy suggests (deployment/probation.py): the prior moves power, never validity.

**Why not the self-normalised normal mixture used before:** exp(lambda S - lambda^2 V / 2) is a supermartingale
only for conditionally symmetric increments. Small gains with a rare crash are not symmetric, and a crash-free
stretch leaves V small: a zero-mean record with a crash a year reached capital on 16% of paths.
`log_mixture` remains for what needs no size guarantee: the capital ramp's lower bound and futility.

**Why the gate's p-value is not multiplied in.** The gate's p-value is valid on the night it is computed, but a
strategy enters probation on the night it passes, and nights re-run the gate on overlapping windows: the
p-value an entry carries is the smallest of many, not a uniform one. Fisher's combination of it with the forward
p-value promotes almost every null strategy the gate ever lets in (`bench organism --nightly` measures it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from quant_organism.runtime.weekly_stop import BLOCK_DAYS

WEEKLY_STOP = 0.10  # the loosest weekly stop: a sleeve is flat for the rest of its week once its excess loses this
STOP_SIGMAS = 3.0  # ... or this many weekly standard deviations of its excess, when that is tighter
OVERSHOOT = 1.5  # the test's bound on a week's loss is the stop times this: one bar's overshoot past the stop
BET_GRID = 32  # bets c = k / BET_GRID of the bound, k = 1..BET_GRID
BETS = np.arange(1, BET_GRID + 1) / BET_GRID


def weekly_stop(daily_sd: float) -> float:
    """The weekly stop of a record whose daily excess has standard deviation `daily_sd` (fixed before the weeks it
    applies to): `STOP_SIGMAS` weekly deviations, never looser than `WEEKLY_STOP`. A quiet strategy gets a tight
    stop, and so a test whose bets may be as large as its Kelly bet: power that does not depend on its volatility."""
    if not (math.isfinite(daily_sd) and daily_sd > 0.0):
        return WEEKLY_STOP
    return float(min(WEEKLY_STOP, STOP_SIGMAS * daily_sd * math.sqrt(BLOCK_DAYS)))


@dataclass(frozen=True)
class Prior:
    """The normal prior on the bet lambda (per unit of block return), truncated to lambda >= 0."""

    mean: float
    sd: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.sd) and self.sd > 0.0):
            raise ValueError(f"the prior needs a finite mean and a positive sd; got {self.mean!r}, {self.sd!r}")


def log_mixture(total: float, squares: float, prior: Prior) -> float:
    """ln M for block sum `total` and sum of squares `squares` (the closed form of the truncated normal mixture)."""
    a, b2 = prior.mean, prior.sd**2
    precision = squares + 1.0 / b2
    centre = (total + a / b2) / precision
    log_full = -0.5 * math.log(b2 * precision) + (b2 * total**2 + 2.0 * a * total - a * a * squares) / (
        2.0 * (1.0 + b2 * squares)
    )
    return float(log_full + special.log_ndtr(centre * math.sqrt(precision)) - special.log_ndtr(a / prior.sd))


def lower_bound(blocks: int, total: float, squares: float, prior: Prior, level: float) -> float:
    """The confidence-sequence lower bound for the per-block mean at `level`: the mean mu nearest the sample mean
    from below where the mixture over (x - mu) reaches 1/level; -inf when no mean is excluded yet, NaN before two
    blocks. The evidence against mu is not monotone in mu (a self-normalised sum is at most sqrt(n) of its
    spread), so the first crossing is found on a grid, then refined."""
    if blocks < 2:
        return math.nan
    target = math.log(1.0 / level)
    mean = total / blocks

    def evidence(mu: float) -> float:
        v = squares - 2.0 * mu * total + blocks * mu * mu
        return log_mixture(total - blocks * mu, max(v, 0.0), prior) - target

    spread = math.sqrt(max(squares / blocks - mean * mean, 1e-18))
    previous = mean
    for step in np.geomspace(1e-3, 50.0, 240) * spread:
        mu = mean - step
        if evidence(mu) >= 0.0:
            return float(optimize.brentq(evidence, mu, previous, xtol=1e-12))
        previous = mu
    return -math.inf


def log_evidence_of_loss(total: float, squares: float, prior: Prior) -> float:
    """ln of the e-process against "mean >= 0" (the mirror image: evidence of a negative mean)."""
    return log_mixture(-total, squares, prior)


def bet_weights(prior: Prior, bound: float) -> np.ndarray:
    """The mixture's weights over `BETS` (fractions of 1 / `bound`): half uniform, half the prior's normal density
    on the bet per unit of return (fixed at entry)."""
    density = np.exp(-0.5 * ((BETS / bound - prior.mean) / prior.sd) ** 2)
    uniform = np.full(BETS.size, 1.0 / BETS.size)
    if not np.isfinite(density).all() or density.sum() <= 0.0:
        return uniform
    return 0.5 * uniform + 0.5 * density / density.sum()


def bet_log_wealth(weeks: np.ndarray | list[float], bound: float, start: np.ndarray | None = None) -> np.ndarray:
    """ln W(c) for every bet of the grid after the weekly excesses `weeks`, each bet c / `bound` per unit of return
    (from `start`, default zero). A week below -bound / c (outside the assumption) leaves that bet's wealth at zero
    for good (-inf), never negative."""
    wealth = np.zeros(BETS.size) if start is None else np.asarray(start, dtype=float).copy()
    for x in np.asarray(weeks, dtype=float):
        factor = 1.0 + BETS * x / bound
        with np.errstate(divide="ignore"):
            wealth += np.where(factor > 0.0, np.log(np.maximum(factor, 1e-300)), -np.inf)
    return wealth


def log_betting_evidence(log_wealth: np.ndarray, weights: np.ndarray) -> float:
    """ln of the mixture's wealth: the e-process's value."""
    finite = np.isfinite(log_wealth) & (weights > 0)
    if not finite.any():
        return -math.inf
    return float(special.logsumexp(log_wealth[finite], b=weights[finite]))
