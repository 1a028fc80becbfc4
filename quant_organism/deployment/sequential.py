"""Evidence that stays valid however often it is looked at: an e-process for a strategy's forward excess return.

The forward record is cut into weekly blocks (seven calendar days, compounded): a block sum carries the serial
correlation of its days in its own square, and what is left between blocks is small, which is what the
self-normalised process below needs.

**The e-process.** For block excess returns x_1..x_n with sum S and sum of squares V,

    M_n = integral over lambda >= 0 of exp(lambda * S - lambda^2 * V / 2) dF(lambda),

F a normal prior on the bet lambda truncated to lambda >= 0 (one-sided: only a positive mean is evidence). For
increments that are conditionally symmetric about a mean <= 0, exp(lambda * S - lambda^2 * V / 2) is a
non-negative supermartingale for every lambda (de la Pena 1999; Howard, Ramdas, McAuliffe and Sekhon 2020,
"Time-uniform Chernoff bounds", the self-normalised case), so no variance, no moment and no tail need be known:
fat tails are fine. By Ville's inequality P(sup_n M_n >= 1/a) <= a, whatever the number of looks. The prior
moves power, never validity: it is centred on the bet the held-out data that chose the strategy suggests
(deployment/probation.py), which is how the gate's evidence helps without being counted twice.

**Why the gate's p-value is not multiplied in.** The gate's p-value is valid on the night it is computed, but a
strategy enters probation on the night it passes, and nights re-run the gate on overlapping windows: the
p-value an entry carries is the smallest of many, not a uniform one. Fisher's combination of it with the forward
p-value promotes almost every null strategy the gate ever lets in (`bench organism --nightly` measures it).

**Bounds.** The same mixture over (x - mu) gives a confidence sequence for the per-block mean: its lower bound
sizes capital (it ramps as evidence grows); the mirrored process, evidence of a negative mean, retires for futility.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

BLOCK_DAYS = 7


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


def compound(values: np.ndarray) -> float:
    """One block's return from its daily returns (missing days are days without a return)."""
    finite = values[np.isfinite(values)]
    return float(np.prod(1.0 + finite) - 1.0) if finite.size else 0.0
