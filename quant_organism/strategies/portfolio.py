"""Documented hypotheses as portfolio rules: pre-registered families that trade a whole universe as one book.

These are not searched. Each family and its small grid of rules is fixed here, from the published work,
before any data is looked at; the grid is the whole of its trials, so the gate pays only for it
(validation/documented.py). Never tune these constants on data: a change is a new hypothesis, and the
evidence already seen cannot judge it.

Families (daily closes; a rule's weights at day t use closes up to t only and are held over t -> t+1):
- **ts_trend** (time-series momentum with volatility targeting). Moskowitz, Ooi & Pedersen (2012), "Time
  series momentum", JFE 104(2); Hurst, Ooi & Pedersen (2017), "A century of evidence on trend-following
  investing", JPM 44(1); in crypto Liu & Tsyvinski (2021), "Risks and returns of cryptocurrency", RFS 34(6)
  (time-series momentum at horizons of weeks to months). A coin is long (or short, in the long-short variant)
  when its trailing L-day return is positive (negative), scaled to a per-coin volatility target of 40% a year
  from its 60-day realised volatility, each coin at most twice its equal share, the book split equally over
  the universe's members.
- **xs_momentum** (cross-sectional momentum, market-neutral). Jegadeesh & Titman (1993), JF 48(1); in crypto
  Liu, Tsyvinski & Wu (2022), "Common risk factors in cryptocurrency", JF 77(2) (one- to four-week past
  returns). Every 7 days the members are ranked by trailing L-day return; the top 30% long, the bottom 30%
  short, equal weights, gross 1, the book scaled to 30% annual volatility from its own trailing 60 days.
- **funding_carry** (carry, market-neutral). Koijen, Moskowitz, Pedersen & Vrugt (2018), "Carry", JFE 127(2);
  in crypto perpetuals Schmeling, Schrimpf & Todorov (2023), "Crypto carry", BIS WP 1087. Every 7 days the
  members are ranked by trailing L-day funding; the richest 30% short (they pay the funding), the cheapest 30%
  long; equal weights, gross 1, scaled to 20% annual volatility.

Rebalance days are calendar days (days since 1970-01-01 divisible by the cadence), so a rule's weights on a
day never depend on where the sample starts (prefix invariance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.0
VOL_DAYS = 60  # realised-volatility window of every family (MOP 2012 use an EWMA of about this centre of mass)
VOL_MIN_DAYS = 30  # a coin needs this many returns in the window before it is sized at all
COIN_CAP = 2.0  # a trend coin's weight is at most this multiple of its equal share
BOOK_LEVERAGE_CAP = 2.0  # a neutral book's volatility scaling never goes past this gross
MIN_RANKED = 5  # a cross-sectional rule trades only when at least this many members can be ranked
RANK_QUANTILE = 0.3
REBALANCE_DAYS = 7

FAMILIES: tuple[str, ...] = ("ts_trend", "xs_momentum", "funding_carry")


@dataclass(frozen=True)
class PortfolioRule:
    """One pre-registered rule: a family and its genes (lookback, direction, target volatility, quantile, cadence)."""

    family: str
    lookback: int
    target_vol: float
    direction: str = "long_short"  # ts_trend: "long_flat" or "long_short"; the neutral families are long-short
    quantile: float = RANK_QUANTILE
    rebalance: int = 1

    def to_dict(self) -> dict:
        """The rule's name and genes, as a deployment's manifest keeps it (its versioned config)."""
        return {"name": self.name, "family": self.family, "lookback": self.lookback, "target_vol": self.target_vol,
                "direction": self.direction, "quantile": self.quantile, "rebalance": self.rebalance}  # fmt: skip

    @property
    def needs_funding(self) -> bool:
        return self.family == "funding_carry"

    @property
    def name(self) -> str:
        if self.family == "ts_trend":
            return f"ts_trend_{self.lookback}d_{self.direction}"
        return f"{self.family}_{self.lookback}d"

    def weights(
        self, closes: pd.DataFrame, members: pd.DataFrame | None = None, funding: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Target weights per day and coin (0 off the universe), from data up to each day only."""
        closes = _checked_closes(closes)
        eligible = (
            closes.notna() if members is None else (members.reindex_like(closes).fillna(False).astype(bool) & closes.notna())
        )
        if self.family == "ts_trend":
            return _ts_trend(closes, eligible, self)
        if self.family == "xs_momentum":
            score = closes / closes.shift(self.lookback) - 1.0
            return _ranked_book(closes, eligible, score, self, long_high=True)
        if self.family == "funding_carry":
            if funding is None:
                raise ValueError(f"{self.name} needs funding rates; the panel has none")
            daily = funding.reindex_like(closes)
            score = daily.rolling(self.lookback, min_periods=self.lookback).mean()
            return _ranked_book(closes, eligible, score, self, long_high=False)
        raise ValueError(f"unknown portfolio family {self.family!r}; known: {FAMILIES}")


# The pre-registered grids: 12 rules in all. Fixed in code; see the module docstring.
TS_TREND_RULES = tuple(
    PortfolioRule("ts_trend", lookback, 0.40, direction)
    for direction in ("long_flat", "long_short")
    for lookback in (20, 60, 120)
)
XS_MOMENTUM_RULES = tuple(PortfolioRule("xs_momentum", lookback, 0.30, rebalance=REBALANCE_DAYS) for lookback in (7, 14, 28))
FUNDING_CARRY_RULES = tuple(PortfolioRule("funding_carry", lookback, 0.20, rebalance=REBALANCE_DAYS) for lookback in (7, 30, 90))
DOCUMENTED_RULES: dict[str, tuple[PortfolioRule, ...]] = {
    "ts_trend": TS_TREND_RULES,
    "xs_momentum": XS_MOMENTUM_RULES,
    "funding_carry": FUNDING_CARRY_RULES,
}
# The plain rule at its pre-registered default: the trend tier's reference in the retrospective and the bench.
DEFAULT_RULE = PortfolioRule("ts_trend", 60, 0.40, "long_flat")
WARMUP_DAYS = max(r.lookback for rules in DOCUMENTED_RULES.values() for r in rules) + VOL_DAYS


def rule_named(name: str) -> PortfolioRule:
    for rules in DOCUMENTED_RULES.values():
        for rule in rules:
            if rule.name == name:
                return rule
    raise KeyError(f"no pre-registered portfolio rule named {name!r}")


def _checked_closes(closes: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(closes.index, pd.DatetimeIndex) or closes.index.tz is None:
        raise ValueError("closes must be indexed by a tz-aware (UTC) DatetimeIndex of days")
    if not closes.index.is_monotonic_increasing or closes.index.has_duplicates:
        raise ValueError("closes must have one row per day, in time order")
    return closes.astype(float)


def realised_vol(closes: pd.DataFrame) -> pd.DataFrame:
    """Annualised volatility of each coin's daily log returns over the last VOL_DAYS days (NaN before VOL_MIN_DAYS)."""
    returns = np.log(closes / closes.shift(1))
    return returns.rolling(VOL_DAYS, min_periods=VOL_MIN_DAYS).std() * np.sqrt(DAYS_PER_YEAR)


def _ts_trend(closes: pd.DataFrame, eligible: pd.DataFrame, rule: PortfolioRule) -> pd.DataFrame:
    trailing = closes / closes.shift(rule.lookback) - 1.0
    signal = np.sign(trailing)
    if rule.direction == "long_flat":
        signal = signal.clip(lower=0.0)
    elif rule.direction != "long_short":
        raise ValueError(f"ts_trend direction must be 'long_flat' or 'long_short'; got {rule.direction!r}")
    vol = realised_vol(closes)
    sized = (rule.target_vol / vol).clip(upper=COIN_CAP)
    ready = eligible & trailing.notna() & vol.notna() & (vol > 0)
    count = ready.sum(axis=1).replace(0, np.nan)
    weights = (signal * sized).where(ready, 0.0).div(count, axis=0)
    return weights.fillna(0.0)


def _rebalance_days(index: pd.DatetimeIndex, every: int) -> np.ndarray:
    epoch_days = (index.normalize() - pd.Timestamp("1970-01-01", tz="UTC")).days.to_numpy()
    return epoch_days % every == 0


def _ranked_book(
    closes: pd.DataFrame, eligible: pd.DataFrame, score: pd.DataFrame, rule: PortfolioRule, long_high: bool
) -> pd.DataFrame:
    """Long one tail of the ranking and short the other, set on rebalance days and held between, then vol-scaled."""
    rebalance = _rebalance_days(closes.index, rule.rebalance)
    raw = held_positions(ranked_targets(score.where(eligible).to_numpy(), rebalance, rule.quantile, long_high), rebalance,
                         eligible.to_numpy())  # fmt: skip
    raw_frame = pd.DataFrame(raw, index=closes.index, columns=closes.columns)
    return raw_frame.mul(_book_scale(closes, raw_frame, rule.target_vol), axis=0)


def ranked_targets(scores: np.ndarray, rebalance: np.ndarray, quantile: float, long_high: bool) -> np.ndarray:
    """Each rebalance day's long and short tails of the ranking (`_tails`); zeros on the other days."""
    targets = np.zeros(scores.shape)
    for t in np.flatnonzero(rebalance):
        targets[t] = _tails(scores[t], quantile, long_high)
    return targets


def held_positions(targets: np.ndarray, rebalance: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Positions set on rebalance days and held between: a coin holds its last rebalance day's target while it has
    stayed in the universe every day since; one that left is closed at its last bar and stays flat until the next
    rebalance (days x coins; flat before the first rebalance)."""
    days = np.arange(len(targets))
    last = np.maximum.accumulate(np.where(rebalance, days, -1))
    dead = np.vstack([np.zeros((1, targets.shape[1]), dtype=np.int64), np.cumsum(~alive, axis=0)])  # days out, before t
    since = np.maximum(last, 0)
    stayed = (last >= 0)[:, None] & (dead[days + 1] - dead[since] == 0)
    return np.where(stayed, targets[since], 0.0)


def _tails(scores: np.ndarray, quantile: float, long_high: bool) -> np.ndarray:
    weights = np.zeros(scores.shape)
    valid = np.flatnonzero(np.isfinite(scores))
    if valid.size < MIN_RANKED:
        return weights
    k = max(1, int(np.floor(quantile * valid.size)))
    order = valid[np.argsort(scores[valid], kind="stable")]
    low, high = order[:k], order[-k:]
    longs, shorts = (high, low) if long_high else (low, high)
    weights[longs] = 0.5 / k
    weights[shorts] = -0.5 / k
    return weights


def deployed_weights(weights: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    """A rule's weights as a book deployed for day `since` holds them: flat before, set at the close of the day
    before `since` (the night that chose it) and followed from there."""
    first = pd.Timestamp(since).normalize() - pd.Timedelta(days=1)
    out = weights.copy()
    out.loc[out.index < first] = 0.0
    return out


def coin_returns(closes: pd.DataFrame) -> pd.DataFrame:
    """Simple close-to-close returns, 0 where either close is missing (not listed, delisted, or its first bar)."""
    return (closes / closes.shift(1) - 1.0).fillna(0.0)


def _book_scale(closes: pd.DataFrame, raw: pd.DataFrame, target_vol: float) -> pd.Series:
    """The factor that brings an unscaled book to `target_vol`, from its own returns up to each day."""
    book = (raw.shift(1).fillna(0.0) * coin_returns(closes)).sum(axis=1)
    vol = book.rolling(VOL_DAYS, min_periods=VOL_MIN_DAYS).std() * np.sqrt(DAYS_PER_YEAR)
    return (target_vol / vol).clip(upper=BOOK_LEVERAGE_CAP).where(vol > 0).fillna(0.0)
