"""Multi-year daily markets of a whole universe with a planted portfolio edge (or none), for measuring power.

The hourly planted markets (planted.py) test the search on a 540-day lookback; the documented tier needs what
real effects look like: years of daily bars, twenty coins and more, Sharpe near 1. Each coin's daily log return
is a common market factor, an idiosyncratic shock and a drift,

    r[c, t] = v[t] * (f[t] + e[c, t]) - var[c, t] / 2 + drift[t] + mu[c, t],

with Student-t(4) shocks (fat tails), a common log-volatility v that wanders (AR(1), volatility clusters) and
a kind of edge (the -var/2 makes each simple return's expectation the drift, zero on the null):
- `null`: no drift, no edge;
- `beta_null`: a common bull drift (60% a year) and no edge: buying the market pays, timing it does not. Its
  volatility is constant: with clustered volatility and a constant drift, holding less when volatility is
  high earns a true Jensen's alpha (Moreira & Muir 2017, "Volatility-managed portfolios", JF 72(4)), so a
  vol-targeted long rule would have a real edge there and the market would not be a null for it;
- `beta_null_clustered`: the same drift with the clustered volatility of the other kinds: the harder null, kept
  beside the constant one because that is what real crypto markets look like (a test that passes a vol-targeted
  long rule there is buying Moreira and Muir's alpha, which probation must then confirm forward);
- `trend`: each coin's drift mu[c, t] is a slow AR(1) (half-life 60 days) of standard deviation `strength`
  (annual), 60% of its variance common to all coins (crypto trends together) and 40% the coin's own, so a
  coin's past return tells its future one (time-series momentum);
- `xs_momentum`: the same drifts demeaned across coins every day (half-life 30 days): the market as a whole
  is not predictable, the coins' order is (cross-sectional momentum).
Coins list over the first two years (six of twenty late) and two delist in the last two, so a point-in-time
universe has work to do. Funding is the same base rate for every coin plus day-to-day noise: a carry rule has
nothing to earn. Deterministic in the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_organism.market.panel import DailyPanel

KINDS = ("null", "beta_null", "trend", "xs_momentum", "beta_null_clustered")
MARKET_VOL = 0.60  # annual, of the common factor
IDIO_VOL = 0.55
BULL_DRIFT = 0.60  # annual, the beta nulls only
FUNDING_DAILY = 3e-4  # about 11% a year paid by longs, the same for every coin
HALF_LIFE = {"trend": 60.0, "xs_momentum": 30.0}
COMMON_TREND_SHARE = 0.6
START = pd.Timestamp("2019-01-01", tz="UTC")


@dataclass(frozen=True)
class PanelMarket:
    kind: str
    strength: float  # annual standard deviation of the planted drifts (0 for the nulls)
    seed: int
    coins: int = 20
    days: int = 6 * 365
    forward_days: int = 180

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown planted panel kind {self.kind!r}; known: {KINDS}")
        if self.coins < 5 or self.days < 365:
            raise ValueError("a planted panel needs at least 5 coins and a year of days")

    @property
    def evolution_date(self) -> pd.Timestamp:
        """The last day the gate may see; `forward_days` follow it."""
        return START + pd.Timedelta(days=self.days - 1)

    def panel(self) -> DailyPanel:
        return simulate_panel(self)


def simulate_panel(market: PanelMarket) -> DailyPanel:
    rng = np.random.default_rng([market.seed, KINDS.index(market.kind), 7919])
    n, c = market.days + market.forward_days, market.coins
    per_day = np.sqrt(365.0)
    log_vol = np.zeros(n)
    shocks = rng.standard_normal(n) * 0.08
    for t in range(1, n):
        log_vol[t] = 0.985 * log_vol[t - 1] + shocks[t]
    vol = np.exp(log_vol - log_vol.mean()) if market.kind != "beta_null" else np.ones(n)  # beta_null_clustered keeps it
    factor = _unit_t(rng, n) * MARKET_VOL / per_day
    idio = _unit_t(rng, (n, c)) * IDIO_VOL / per_day
    returns = vol[:, None] * (factor[:, None] + idio) - 0.5 * (vol[:, None] ** 2) * (MARKET_VOL**2 + IDIO_VOL**2) / 365.0
    if market.kind in ("beta_null", "beta_null_clustered"):
        returns += BULL_DRIFT / 365.0
    if market.kind in HALF_LIFE and market.strength > 0:
        common = COMMON_TREND_SHARE if market.kind == "trend" else 0.0
        returns += _planted_drifts(
            rng, n, c, HALF_LIFE[market.kind], market.strength, common, neutral=market.kind == "xs_momentum"
        )
    prices = 100.0 * np.exp(np.cumsum(returns, axis=0))
    days = pd.date_range(START, periods=n, freq="D")
    names = [f"C{k:02d}" for k in range(c)]
    listed = np.ones((n, c), dtype=bool)
    late = rng.choice(np.arange(c), size=max(1, round(0.3 * c)), replace=False)
    for k in late:
        listed[: int(rng.integers(90, 730)), k] = False
    gone = rng.choice(np.setdiff1d(np.arange(c), late), size=max(1, round(0.1 * c)), replace=False)
    for k in gone:
        listed[int(rng.integers(market.days - 730, market.days - 60)) :, k] = False
    closes = pd.DataFrame(np.where(listed, prices, np.nan), index=days, columns=names)
    size = np.exp(rng.normal(17.0, 1.0, c))
    dollar_volume = closes.notna() * size * np.exp(rng.normal(0.0, 0.3, (n, c)))
    funding = pd.DataFrame(FUNDING_DAILY + rng.normal(0.0, 2e-4, (n, c)), index=days, columns=names).where(closes.notna())
    return DailyPanel(closes, dollar_volume.where(closes.notna()), funding)


def _planted_drifts(
    rng: np.random.Generator, n: int, c: int, half_life: float, strength: float, common: float, neutral: bool
) -> np.ndarray:
    phi = 0.5 ** (1.0 / half_life)
    noise = rng.standard_normal((n, c + 1)) * np.sqrt(1.0 - phi**2)
    paths = np.zeros((n, c + 1))
    paths[0] = rng.standard_normal(c + 1)
    for t in range(1, n):
        paths[t] = phi * paths[t - 1] + noise[t]
    state = np.sqrt(common) * paths[:, :1] + np.sqrt(1.0 - common) * paths[:, 1:]
    if neutral:
        state = state - state.mean(axis=1, keepdims=True)
    return state * strength / 365.0


def _unit_t(rng: np.random.Generator, shape, df: float = 4.0) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(df, shape) / np.sqrt(df / (df - 2.0))
