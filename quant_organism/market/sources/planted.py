"""Markets with a planted edge of known strength, to measure the organism's size and power.

Why: how often the organism deploys on a market with no edge (its size) and how often it finds an
edge that is there (its power) can only be measured on markets whose edge is known. The edge here is
planted, idiosyncratic and of a dimensionless `strength`; benchmarks/planted_strength.py measures
what a strength is worth as a Sharpe ratio after costs and calibrates strengths to target Sharpes.

Base market, identical for every kind and strength of one seed (common random numbers, so the
planted edge is the only difference between two markets and calibration is smooth in strength):
- hourly log returns mult_t * sigma_t * z_t, z = loading * factor + idio_scale * e: one common
  market factor (coins correlated ~0.5), Student-t(5) innovations scaled to unit variance;
- GARCH(1,1) variance per coin around its base hourly vol (0.6-1.2%);
- consistent OHLC (open = previous close, wicks beyond the body), volume rising with |return|;
- hourly funding = 0.0000125 + iid noise, which predicts nothing.

Edges. Each coin has its own independent hidden state, so evidence pools across coins and the
market factor never carries an edge:
- null: none;
- trend: a Markov chain up / flat / down (mean stay two weeks) adds drift state * strength * vol;
- mean_reversion: a share `strength` (at most 1) of every idiosyncratic shock is overreaction that
  decays at MR_SPEED per hour: r_t = ... - MR_SPEED * x_{t-1}, x_t = (1 - MR_SPEED) x_{t-1} + strength * idio shock;
- funding_carry: a Markov chain +1 / 0 / -1 (mean stay two weeks) adds state * strength * vol to the
  hourly funding rate (longs pay when +1); the price has no drift that offsets it;
- regime: a hidden high-volatility regime (vol x REGIME_VOL_MULT, a third of the time) in which
  alone the trend chain's drift (state * strength * regime vol) applies;
- switch: the same regime, trending in high volatility (as `regime`) and mean-reverting when calm (a share
  SWITCH_REVERSION x strength of each shock overreacts, as `mean_reversion`): an edge a rule tree ("if the
  volatility is high then trend else revert") earns whole, and either template only in part.

Determinism: every random stream has its own generator seeded by (seed, coin name, stream), drawn
from the market's start, so a coin's path depends neither on the other coins nor on the market's end
(a longer market extends the same path).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from quant_organism.core.timeutil import utc_timestamp
from quant_organism.market.compiled.price_paths import planted_price_path_nb, three_state_chain_nb, two_state_chain_nb
from quant_organism.market.schema import MarketDataError, UnknownCoinError, conform_candles, conform_funding, interval_delta
from quant_organism.market.sources.interface import MarketDataSource
from quant_organism.market.sources.synthetic import CoinProfile

KINDS: tuple[str, ...] = ("null", "trend", "mean_reversion", "funding_carry", "regime", "switch")
TREND_FAMILIES = frozenset({"ema_crossover", "sma_trend", "donchian_breakout", "atr_stop", "ichimoku", "volatility_scaling"})
REVERSION_FAMILIES = frozenset({"rsi_filter", "stochastic", "vwap_reversion"})
ML_FAMILIES = frozenset({"linear_svc", "pca_tree_quantile"})  # lagged returns, RSI and EMA distance as features
# Seed types able to capture each edge (read off the seeds' rules). The ML seeds see price features
# only, so they may learn price edges but never funding.
# The documented tier's momentum rules (deployment/documented_capital.py): with an independent drift state per coin, both the
# time-series rule (each coin's own past return) and the cross-sectional one (coins ranked by it) trade that drift.
MOMENTUM_RULES = frozenset({"documented_ts_trend", "documented_xs_momentum"})
CAPTURING_FAMILIES: dict[str, frozenset[str]] = {
    "null": frozenset(),
    "trend": TREND_FAMILIES | ML_FAMILIES | MOMENTUM_RULES,
    "mean_reversion": REVERSION_FAMILIES | ML_FAMILIES,
    "funding_carry": frozenset({"funding_carry"}),
    "regime": TREND_FAMILIES | ML_FAMILIES | MOMENTUM_RULES,
    # each template earns a part of it; a rule tree (its planted rule is one) can earn it whole
    "switch": TREND_FAMILIES | REVERSION_FAMILIES | ML_FAMILIES | MOMENTUM_RULES | {"rule_tree"},
}

HOUR = pd.Timedelta(hours=1)
STUDENT_DF = 5.0
FACTOR_SHARE = 0.5  # variance share of the market factor for a beta-1 coin: pairwise correlation ~0.5
FUNDING_BASE = 0.0000125  # Hyperliquid's hourly baseline (0.01% per 8h)
FUNDING_NOISE = 0.000005
TREND_STAY_HOURS = 336.0  # mean stay of each trend / carry state: two weeks
CARRY_STAY_HOURS = 336.0
CALM_STAY_HOURS, WILD_STAY_HOURS = 336.0, 168.0  # regime kind: high vol a third of the time
REGIME_VOL_MULT = 2.0
MR_SPEED = 0.2  # per hour: overreaction half-life ~3 hours
SWITCH_VOL_MULT = 3.0  # switch kind: a high-volatility regime a causal volatility ratio tells from GARCH's own swings
SWITCH_REVERSION = 10.0  # switch kind: overreaction share per unit of strength when calm (capped at 1)


PROFILES: dict[str, CoinProfile] = {
    "BTC": CoinProfile(30_000.0, 0.0060, 1.00, 900.0),
    "ETH": CoinProfile(2_000.0, 0.0075, 1.05, 9_000.0),
    "SOL": CoinProfile(25.0, 0.0110, 1.10, 250_000.0),
    "DOGE": CoinProfile(0.07, 0.0120, 1.05, 60_000_000.0),
    "XRP": CoinProfile(0.50, 0.0100, 0.90, 8_000_000.0),
}


def coin_profile(coin: str) -> CoinProfile:
    """The known profile, or one drawn from the coin's name (any name works: C00..C49)."""
    if coin in PROFILES:
        return PROFILES[coin]
    rng = np.random.default_rng([_coin_key(coin), 0x9F0F11E])
    price = float(10.0 ** rng.uniform(-1.5, 4.5))
    return CoinProfile(price, float(rng.uniform(0.006, 0.012)), float(rng.uniform(0.85, 1.15)), float(1e6 / price))


@dataclass(frozen=True)
class PlantedMarket:
    """A planted market: which edge, how strong (0 = none), the seed, the coins and [start, end)."""

    kind: str = "null"
    strength: float = 0.0
    seed: int = 0
    coins: tuple[str, ...] = tuple(PROFILES)
    start: str | pd.Timestamp = "2024-01-01"
    end: str | pd.Timestamp = "2025-01-01"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown planted market kind {self.kind!r}; expected one of {KINDS}")
        if not (isinstance(self.strength, (int, float)) and math.isfinite(self.strength) and self.strength >= 0):
            raise ValueError(f"strength must be a finite number >= 0; got {self.strength!r}")
        if self.kind == "mean_reversion" and self.strength > 1.0:
            raise ValueError(f"mean_reversion strength is the overreacting share of a shock, at most 1; got {self.strength}")
        object.__setattr__(self, "coins", tuple(str(c) for c in self.coins))
        if not self.coins or len(set(self.coins)) != len(self.coins):
            raise ValueError(f"coins must be a non-empty tuple of distinct names; got {self.coins!r}")
        start, end = self.start_ts, self.end_ts
        if start != start.floor(HOUR) or end != end.floor(HOUR) or not start < end:
            raise ValueError(f"start {start} and end {end} must be whole hours with start < end")

    @property
    def start_ts(self) -> pd.Timestamp:
        return utc_timestamp(self.start)

    @property
    def end_ts(self) -> pd.Timestamp:
        return utc_timestamp(self.end)

    @property
    def n_hours(self) -> int:
        return int((self.end_ts - self.start_ts) // HOUR)

    def with_strength(self, strength: float) -> PlantedMarket:
        return PlantedMarket(self.kind, float(strength), self.seed, self.coins, self.start, self.end)


class PlantedSource(MarketDataSource):
    """Serves a PlantedMarket's hourly candles and funding in the canonical schema (coarser bars aggregated)."""

    name = "planted"

    def __init__(self, market: PlantedMarket) -> None:
        self.market = market
        self.coins = market.coins

    def candles(self, coin: str, start: pd.Timestamp, end: pd.Timestamp, interval: str = "1h") -> pd.DataFrame:
        step = interval_delta(interval)
        if step < HOUR or step % HOUR != pd.Timedelta(0):
            raise MarketDataError(f"planted markets serve whole-hour bars; got {interval!r}")
        start, end = utc_timestamp(start), utc_timestamp(end)
        path, lo, hi = self._slice(coin, start.floor(step), end.ceil(step))
        frame = pd.DataFrame(
            {
                "timestamp": self._index(lo, hi),
                "coin": np.full(hi - lo, coin, dtype=object),
                **{k: path[k][lo:hi] for k in ("open", "high", "low", "close", "volume")},
            }
        )
        if step > HOUR:
            frame = _aggregate(frame, step)
            frame = frame[(frame["timestamp"] >= start) & (frame["timestamp"] < end)]
        return conform_candles(frame.reset_index(drop=True))

    def funding(self, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        path, lo, hi = self._slice(coin, utc_timestamp(start), utc_timestamp(end))
        frame = pd.DataFrame(
            {
                "timestamp": self._index(lo, hi),
                "coin": np.full(hi - lo, coin, dtype=object),
                "funding_rate": path["funding"][lo:hi],
            }
        )
        return conform_funding(frame)

    def hidden_state(self, coin: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
        """The planted truth per hourly bar, for oracles and checks (never for strategies).

        Columns: `drift_state` (+1 / 0 / -1, trend and regime kinds), `high_vol` (1 in the regime
        kind's high-volatility regime), `carry_state` (+1: longs pay, funding_carry kind),
        `overreaction` (x_t after bar t, mean_reversion kind), `expected_return` (the planted
        expected log return of the next bar given the state at this bar's close) and
        `expected_funding` (the planted funding rate of the next bar, noise excluded). Inactive
        states are zero, so a null market shows no state at all.
        """
        start = self.market.start_ts if start is None else utc_timestamp(start)
        end = self.market.end_ts if end is None else utc_timestamp(end)
        path, lo, hi = self._slice(coin, start, end)
        columns = ("drift_state", "high_vol", "carry_state", "overreaction", "expected_return", "expected_funding")
        return pd.DataFrame({c: path[c][lo:hi] for c in columns}, index=self._index(lo, hi))

    def _slice(self, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> tuple[dict[str, np.ndarray], int, int]:
        if coin not in self.coins:
            raise UnknownCoinError(f"unknown coin {coin!r} for this planted market; known: {list(self.coins)}")
        m = self.market
        if start < m.start_ts or end > m.end_ts:
            raise MarketDataError(f"planted market covers [{m.start_ts}, {m.end_ts}); asked for [{start}, {end})")
        lo = int((start - m.start_ts) // HOUR)
        hi = max(lo, int(-(-(end - m.start_ts) // HOUR)))
        return simulate(m)[coin], lo, hi

    def _index(self, lo: int, hi: int) -> pd.DatetimeIndex:
        ns = self.market.start_ts.value + np.arange(lo, hi, dtype=np.int64) * HOUR.value
        return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def hidden_state(market: PlantedMarket, coin: str) -> pd.DataFrame:
    """The planted truth of one coin over the whole market (see PlantedSource.hidden_state)."""
    return PlantedSource(market).hidden_state(coin)


# -- simulation ------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def simulate(market: PlantedMarket) -> dict[str, dict[str, np.ndarray]]:
    """Every coin's arrays (prices, volume, funding and hidden state) over the whole market; cached."""
    n = market.n_hours
    factor = _unit_t(_stream(market.seed, "market", "factor", market.start_ts), n)
    paths = {coin: _simulate_coin(market, coin, factor) for coin in market.coins}
    for arrays in paths.values():
        for values in arrays.values():
            values.setflags(write=False)  # cached and shared: frames copy them, nobody may change them
    return paths


def _simulate_coin(market: PlantedMarket, coin: str, factor: np.ndarray) -> dict[str, np.ndarray]:
    n, kind, s = market.n_hours, market.kind, float(market.strength)
    d = _draws(market.seed, coin, market.start_ts, n)
    p = coin_profile(coin)
    loading = math.sqrt(FACTOR_SHARE) * p.beta
    idio = math.sqrt(max(1.0 - loading**2, 0.05)) * d["idio"]
    shocks = loading * factor + idio

    zeros = np.zeros(n, dtype=np.int8)
    trend_state = d["trend_state"] if kind in ("trend", "regime", "switch") else zeros
    high_vol = d["high_vol"] if kind in ("regime", "switch") else zeros
    carry_state = d["carry_state"] if kind == "funding_carry" else zeros
    mult = np.where(high_vol == 1, SWITCH_VOL_MULT if kind == "switch" else REGIME_VOL_MULT, 1.0)
    drift_state = trend_state * high_vol if kind in ("regime", "switch") else trend_state
    drift = drift_state * (s * p.hourly_vol) * mult
    mr_share = np.full(n, s if kind == "mean_reversion" else 0.0)
    if kind == "switch":
        mr_share = np.where(high_vol == 1, 0.0, min(SWITCH_REVERSION * s, 1.0))

    returns, sigma, overreaction = planted_price_path_nb(shocks, idio, mult, drift, p.hourly_vol, mr_share, MR_SPEED)
    log_close = math.log(p.start_price) + np.cumsum(returns)
    close = np.exp(log_close)
    open_ = np.concatenate(([p.start_price], close[:-1]))
    high = np.maximum(open_, close) * np.exp(0.5 * sigma * d["wick"][:, 0])
    low = np.minimum(open_, close) * np.exp(-0.5 * sigma * d["wick"][:, 1])
    hour = (market.start_ts.hour + np.arange(n)) % 24
    seasonality = 1.0 + 0.3 * np.sin(2 * np.pi * (hour - 14) / 24)
    volume = p.base_volume * seasonality * (1.0 + 2.0 * np.abs(returns) / p.hourly_vol) * np.exp(0.3 * d["volume"])

    carry_level = s * p.hourly_vol if kind == "funding_carry" else 0.0
    expected_funding = FUNDING_BASE + carry_level * carry_state
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "funding": expected_funding + FUNDING_NOISE * d["funding"],
        "drift_state": drift_state.astype(np.int8),
        "high_vol": high_vol.astype(np.int8),
        "carry_state": carry_state.astype(np.int8),
        "overreaction": overreaction,
        "expected_return": drift - MR_SPEED * overreaction,
        "expected_funding": expected_funding,
    }


@lru_cache(maxsize=256)
def _draws(seed: int, coin: str, start: pd.Timestamp, n: int) -> dict[str, np.ndarray]:
    """A coin's random streams and hidden chains: independent of the kind and strength (common random numbers)."""

    def rng(name: str) -> np.random.Generator:
        return _stream(seed, coin, name, start)

    out = {
        "idio": _unit_t(rng("idio"), n),
        "wick": np.abs(rng("wick").standard_normal((n, 2))),
        "volume": rng("volume").standard_normal(n),
        "funding": rng("funding").standard_normal(n),
        "trend_state": three_state_chain_nb(rng("trend").random(n + 1), 1.0 / TREND_STAY_HOURS),
        "carry_state": three_state_chain_nb(rng("carry").random(n + 1), 1.0 / CARRY_STAY_HOURS),
        "high_vol": two_state_chain_nb(rng("regime").random(n + 1), 1.0 / CALM_STAY_HOURS, 1.0 / WILD_STAY_HOURS),
    }
    for values in out.values():
        values.setflags(write=False)  # cached and shared: nobody may change them
    return out


def _stream(seed: int, coin: str, name: str, start: pd.Timestamp) -> np.random.Generator:
    key = [int(seed) & 0xFFFFFFFF, _coin_key(coin), zlib.crc32(name.encode()), int(start.value // HOUR.value) & 0xFFFFFFFF]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


def _coin_key(coin: str) -> int:
    return zlib.crc32(coin.encode())


def _unit_t(rng: np.random.Generator, n: int) -> np.ndarray:
    """Student-t draws scaled to unit variance: fat tails without changing the volatility level."""
    return rng.standard_t(STUDENT_DF, size=n) / math.sqrt(STUDENT_DF / (STUDENT_DF - 2.0))


def _aggregate(hourly: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """Coarser bars from hourly ones, labelled by their open time."""
    grouped = hourly.groupby(hourly["timestamp"].dt.floor(step), sort=True)
    out = grouped.agg(
        coin=("coin", "first"), open=("open", "first"), high=("high", "max"),
        low=("low", "min"), close=("close", "last"), volume=("volume", "sum"),
    )  # fmt: skip
    return out.reset_index(names="timestamp")
