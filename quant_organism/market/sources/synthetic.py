"""A deterministic synthetic crypto market: the embedded default, so everything runs offline.

It reproduces the stylised facts that strategies must cope with on real perpetuals:
- correlated coins: each coin's return loads on one common market factor plus its own noise;
- fat tails: Student-t innovations (df=4) scaled to unit variance;
- volatility clustering: a GARCH(1,1) variance per coin;
- regimes: a daily Markov chain of trending-up, trending-down and mean-reverting states shared by
  the market (trends add drift, mean reversion pulls the log price back to a slow moving anchor);
- a planted, documented edge: time-series momentum (crypto shows it), a per-coin daily Markov chain of
  up / flat / down drift states lasting two weeks on average. Its drift, `MOMENTUM_EDGE_IN_VOLS` of the
  coin's hourly volatility, is strong on BTC, SOL, DOGE and XRP (a plain EMA(24)/EMA(96) rule earns an
  annualised Sharpe of about 3 per coin after costs) and absent on ETH; coins outside the five get the
  modest `MOMENTUM_DRIFT_IN_VOLS` (Sharpe about 1.5) (docs/data.md, "synthetic");
- consistent OHLC in every bar (low <= open, close <= high, all > 0) and volume that rises with |return|;
- hourly funding rates that follow the recent price drift (crowded longs pay), as on Hyperliquid.

Determinism: the noise of each UTC day comes from its own generator seeded by (seed, day), and the
path is always simulated forward from a fixed epoch, so any date range gives byte-identical bars
whatever range was asked for before. Only intervals that are whole multiples of an hour are supported;
coarser bars are aggregated from the hourly path.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_organism.core.timeutil import utc_timestamp
from quant_organism.market.compiled.price_paths import synthetic_price_paths_nb
from quant_organism.market.schema import MarketDataError, UnknownCoinError, conform_candles, conform_funding, interval_delta
from quant_organism.market.sources.interface import MarketDataSource
from quant_organism.market.sources.resample import OHLCV_AGGREGATION

EPOCH = pd.Timestamp("2020-01-01", tz="UTC")
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class CoinProfile:
    """Per-coin character: starting price, hourly volatility, market beta, typical hourly volume."""

    start_price: float
    hourly_vol: float
    beta: float
    base_volume: float


PROFILES: dict[str, CoinProfile] = {
    "BTC": CoinProfile(30_000.0, 0.0060, 1.00, 900.0),
    "ETH": CoinProfile(2_000.0, 0.0075, 1.10, 9_000.0),
    "SOL": CoinProfile(25.0, 0.0110, 1.30, 250_000.0),
    "DOGE": CoinProfile(0.07, 0.0120, 1.20, 60_000_000.0),
    "XRP": CoinProfile(0.50, 0.0100, 0.90, 8_000_000.0),
}

# Regimes: 0 = trend up, 1 = trend down, 2 = mean reverting. Rows: from, columns: to (daily).
REGIME_TRANSITIONS = np.array(
    [
        [0.90, 0.03, 0.07],
        [0.03, 0.90, 0.07],
        [0.06, 0.06, 0.88],
    ]
)
REGIME_DRIFT_IN_VOLS = np.array([0.08, -0.08, 0.0])  # hourly drift as a share of hourly vol
STUDENT_DF = 5.0
FACTOR_SHARE = 0.6  # share of a beta-1 coin's variance explained by the market factor
MOMENTUM_DRIFT_IN_VOLS = 0.08  # trend drift (hourly, share of hourly vol) of a coin outside PROFILES in its up/down states
MOMENTUM_STAY_DAYS = 14.0  # mean stay of a coin's momentum state
# The planted edge of the five profiled coins, so that the demo shows a life cycle (docs/data.md, "synthetic"):
# strong time-series momentum on BTC, SOL, DOGE and XRP (a plain EMA(24)/EMA(96) rule earns an annualised
# Sharpe of about 3 per coin after costs), none of its own on ETH (the market-wide regimes leave the rule ~0.6).
MOMENTUM_EDGE_IN_VOLS: dict[str, float] = {"BTC": 0.13, "ETH": 0.0, "SOL": 0.13, "DOGE": 0.13, "XRP": 0.13}
FUNDING_BASE = 0.0000125  # Hyperliquid's hourly baseline (0.01% per 8h)
FUNDING_DRIFT_GAIN = 0.02  # funding per unit of 24h mean hourly return
FUNDING_NOISE = 0.000005
FUNDING_CAP = 0.0004


# Tickers of a broad universe (Hyperliquid perpetuals by volume, late 2025) after the five profiled coins:
# `QUANT_ORGANISM_UNIVERSE=top50` simulates the five plus the first 45 of these.
EXTRA_TICKERS: tuple[str, ...] = (
    "HYPE",
    "SUI",
    "AVAX",
    "LINK",
    "BNB",
    "LTC",
    "ADA",
    "TRX",
    "DOT",
    "NEAR",
    "APT",
    "ARB",
    "OP",
    "TIA",
    "SEI",
    "INJ",
    "WIF",
    "PEPE",
    "BONK",
    "ENA",
    "AAVE",
    "UNI",
    "CRV",
    "LDO",
    "MKR",
    "FIL",
    "ATOM",
    "ETC",
    "BCH",
    "XLM",
    "HBAR",
    "ICP",
    "RENDER",
    "FET",
    "TAO",
    "JUP",
    "PYTH",
    "ONDO",
    "STX",
    "IMX",
    "GALA",
    "SAND",
    "ORDI",
    "WLD",
    "TON",
    "POPCAT",
    "MEW",
    "ZRO",
    "STRK",
    "BLUR",
)
EXTRA_STREAM = 1  # the extra coins' random streams are keyed apart from the five coins' (whose paths never change)


def synthetic_universe(n: int) -> tuple[str, ...]:
    """The synthetic market's first `n` coins: the five profiled ones, the tickers above, then numbered
    coins (SYN056, SYN057, ...) for a universe larger than the named one (a 200-coin rehearsal, say)."""
    named = tuple(PROFILES) + EXTRA_TICKERS
    return (named + tuple(f"SYN{k:03d}" for k in range(len(named) + 1, n + 1)))[:n]


def extra_profile(coin: str) -> CoinProfile:
    """A coin outside PROFILES gets a deterministic character from its name: price, volatility, beta, volume."""
    u = np.random.Generator(np.random.PCG64(np.random.SeedSequence([EXTRA_STREAM, *coin.encode()]))).random(4)
    return CoinProfile(
        start_price=float(10 ** (u[0] * 5 - 2)),
        hourly_vol=0.007 + 0.008 * float(u[1]),
        beta=0.8 + 0.6 * float(u[2]),
        base_volume=float(10 ** (3 + 4 * u[3])),
    )


EXTRA_COINS_KEPT = 8
"""Simulated paths of coins outside PROFILES kept per source object (least recently used dropped first)."""


class SyntheticSource(MarketDataSource):
    """Seeded synthetic market: the five profiled coins, plus any other coin simulated on the same market factor.

    A coin outside PROFILES (any ticker: a 50-coin universe, say) gets a profile from its name and its own
    random streams, keyed by (seed, day, coin), loading on the five coins' common market factor and market
    regime; the five coins' paths are unchanged by which other coins exist."""

    name = "synthetic"

    def __init__(self, seed: int = 7, coins: tuple[str, ...] | None = None) -> None:
        self.seed = int(seed)
        self.coins = tuple(coins) if coins else tuple(PROFILES)
        bad = [c for c in self.coins if not isinstance(c, str) or not c.strip() or not c.replace("_", "").isalnum()]
        if bad:
            raise UnknownCoinError(f"synthetic market: coin names must be letters and digits, got {bad}")
        self._cache_days = 0
        self._cache: dict[str, dict[str, np.ndarray]] = {}
        self._extra: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()  # coins outside PROFILES, least recent first

    # -- public API -------------------------------------------------------------------------
    def candles(self, coin: str, start: pd.Timestamp, end: pd.Timestamp, interval: str = "1h") -> pd.DataFrame:
        step = interval_delta(interval)
        hours = step / pd.Timedelta(hours=1)
        if hours < 1 or hours != int(hours) or (HOURS_PER_DAY % int(hours) and int(hours) % HOURS_PER_DAY):
            raise MarketDataError(
                f"synthetic market supports whole-hour intervals dividing a day or whole days; got {interval!r}"
            )
        # Coarser bars aggregate whole buckets of hours, so the slice is widened to bucket edges.
        path, lo, hi = self._slice(coin, utc_timestamp(start).floor(step), utc_timestamp(end).ceil(step))
        frame = pd.DataFrame(
            {
                "timestamp": _hour_index(lo, hi),
                "coin": np.full(hi - lo, coin, dtype=object),
                **{k: path[k][lo:hi] for k in ("open", "high", "low", "close", "volume")},
            }
        )
        if int(hours) > 1:
            frame = _aggregate(frame, step)
            frame = frame[(frame["timestamp"] >= utc_timestamp(start)) & (frame["timestamp"] < utc_timestamp(end))]
        return conform_candles(frame.reset_index(drop=True))

    def funding(self, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        path, lo, hi = self._slice(coin, start, end)
        frame = pd.DataFrame(
            {
                "timestamp": _hour_index(lo, hi),
                "coin": np.full(hi - lo, coin, dtype=object),
                "funding_rate": path["funding"][lo:hi],
            }
        )
        return conform_funding(frame)

    def history_start(self, coin: str, interval: str = "1h") -> pd.Timestamp | None:
        return EPOCH

    # -- simulation -------------------------------------------------------------------------
    def _slice(self, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> tuple[dict[str, np.ndarray], int, int]:
        if coin not in self.coins:
            raise UnknownCoinError(f"unknown coin {coin!r} for the synthetic market; known: {list(self.coins)}")
        start, end = utc_timestamp(start), utc_timestamp(end)
        if start < EPOCH:
            raise MarketDataError(f"synthetic market starts at {EPOCH.date()}; asked for {start}")
        end = min(end, pd.Timestamp.now(tz="UTC").floor("h"))  # like a real market: no bar that has not closed
        lo = int((start - EPOCH) // pd.Timedelta(hours=1))
        hi = max(lo, int(-(-(end - EPOCH) // pd.Timedelta(hours=1))))
        days_needed = -(-hi // HOURS_PER_DAY)
        if days_needed > self._cache_days:
            self._cache_days, self._cache = _shared_simulation(self, days_needed)
            self._extra.clear()
        if coin in self._cache:
            return self._cache[coin], lo, hi
        # A coin outside PROFILES, simulated on the shared market. The last EXTRA_COINS_KEPT are kept: a
        # year of a 50-coin universe would otherwise hold 130 MB of paths in every process that serves it
        # (ingest reads coin after coin, so a coin is simulated once per process all the same).
        path = self._extra.pop(coin, None)
        if path is None:
            path = self._simulate_extra(coin, self._cache_days, self._cache["__market__"])
        self._extra[coin] = path
        while len(self._extra) > EXTRA_COINS_KEPT:
            self._extra.popitem(last=False)
        return path, lo, hi

    def _simulate(self, n_days: int) -> dict[str, dict[str, np.ndarray]]:
        """Simulate all coins jointly from the epoch for n_days; pure function of (seed, n_days) per day."""
        n_coins = len(PROFILES)
        n = n_days * HOURS_PER_DAY
        factor = np.empty(n)
        idio = np.empty((n, n_coins))
        wick_u = np.empty((n, n_coins, 2))
        vol_noise = np.empty((n, n_coins))
        fund_noise = np.empty((n, n_coins))
        regime_u = np.empty(n_days)
        momentum_u = np.empty((n_days, n_coins))
        for day in range(n_days):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, day])))
            sl = slice(day * HOURS_PER_DAY, (day + 1) * HOURS_PER_DAY)
            factor[sl] = _unit_t(rng, (HOURS_PER_DAY,))
            idio[sl] = _unit_t(rng, (HOURS_PER_DAY, n_coins))
            wick_u[sl] = np.abs(rng.standard_normal((HOURS_PER_DAY, n_coins, 2)))
            vol_noise[sl] = rng.standard_normal((HOURS_PER_DAY, n_coins))
            fund_noise[sl] = rng.standard_normal((HOURS_PER_DAY, n_coins))
            regime_u[day] = rng.random()
            momentum_u[day] = rng.random(n_coins)  # drawn last: the streams above are unchanged by it

        regimes = _regime_path(regime_u)
        hourly_regime = np.repeat(regimes, HOURS_PER_DAY)
        profiles = list(PROFILES.values())
        vol = np.array([p.hourly_vol for p in profiles])
        beta = np.array([p.beta for p in profiles])
        loading = np.sqrt(FACTOR_SHARE) * beta
        idio_scale = np.sqrt(np.clip(1.0 - FACTOR_SHARE * beta**2, 0.05, None))
        shocks = loading * factor[:, None] + idio_scale * idio  # unit-ish variance, correlated, fat-tailed

        edge = np.array([MOMENTUM_EDGE_IN_VOLS[coin] for coin in PROFILES])
        momentum = np.repeat(_momentum_states(momentum_u), HOURS_PER_DAY, axis=0) * edge
        log_close, sigma_path = synthetic_price_paths_nb(
            shocks, hourly_regime, momentum, vol, np.log([p.start_price for p in profiles]), REGIME_DRIFT_IN_VOLS
        )

        close = np.exp(log_close)
        open_ = np.vstack([np.exp(np.log([p.start_price for p in profiles]))[None, :], close[:-1]])
        body_hi, body_lo = np.maximum(open_, close), np.minimum(open_, close)
        high = body_hi * np.exp(0.5 * sigma_path * wick_u[:, :, 0])
        low = body_lo * np.exp(-0.5 * sigma_path * wick_u[:, :, 1])
        abs_ret = np.abs(np.diff(log_close, axis=0, prepend=log_close[:1]))
        hour_of_day = np.tile(np.arange(HOURS_PER_DAY), n_days)
        seasonality = 1.0 + 0.3 * np.sin(2 * np.pi * (hour_of_day - 14) / HOURS_PER_DAY)
        base_volume = np.array([p.base_volume for p in profiles])
        volume = base_volume * seasonality[:, None] * (1.0 + 2.0 * abs_ret / vol) * np.exp(0.3 * vol_noise)

        returns = np.diff(log_close, axis=0, prepend=log_close[:1])
        trailing_drift = _trailing_mean(returns, HOURS_PER_DAY)
        funding = np.clip(
            FUNDING_BASE + FUNDING_DRIFT_GAIN * trailing_drift + FUNDING_NOISE * fund_noise,
            -FUNDING_CAP,
            FUNDING_CAP,
        )
        paths = {
            coin: {
                "open": open_[:, i],
                "high": high[:, i],
                "low": low[:, i],
                "close": close[:, i],
                "volume": volume[:, i],
                "funding": funding[:, i],
            }
            for i, coin in enumerate(PROFILES)
        }
        paths["__market__"] = {"factor": factor, "regime": hourly_regime}
        return paths

    def _simulate_extra(self, coin: str, n_days: int, market: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One coin outside PROFILES on the shared market factor and regime, from its own streams."""
        profile = extra_profile(coin)
        n = n_days * HOURS_PER_DAY
        idio, wick_u, vol_noise, fund_noise = np.empty(n), np.empty((n, 2)), np.empty(n), np.empty(n)
        momentum_u = np.empty(n_days)
        key = list(coin.encode())
        for day in range(n_days):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, day, EXTRA_STREAM, *key])))
            sl = slice(day * HOURS_PER_DAY, (day + 1) * HOURS_PER_DAY)
            idio[sl] = _unit_t(rng, (HOURS_PER_DAY,))
            wick_u[sl] = np.abs(rng.standard_normal((HOURS_PER_DAY, 2)))
            vol_noise[sl] = rng.standard_normal(HOURS_PER_DAY)
            fund_noise[sl] = rng.standard_normal(HOURS_PER_DAY)
            momentum_u[day] = rng.random()
        loading = np.sqrt(FACTOR_SHARE) * profile.beta
        idio_scale = np.sqrt(max(1.0 - FACTOR_SHARE * profile.beta**2, 0.05))
        shocks = (loading * market["factor"][:n] + idio_scale * idio)[:, None]
        momentum = np.repeat(_momentum_states(momentum_u[:, None]), HOURS_PER_DAY, axis=0) * MOMENTUM_DRIFT_IN_VOLS
        log_close, sigma_path = synthetic_price_paths_nb(
            shocks,
            market["regime"][:n],
            momentum,
            np.array([profile.hourly_vol]),
            np.log([profile.start_price]),
            REGIME_DRIFT_IN_VOLS,
        )
        log_close, sigma_path = log_close[:, 0], sigma_path[:, 0]
        close = np.exp(log_close)
        open_ = np.r_[profile.start_price, close[:-1]]
        high = np.maximum(open_, close) * np.exp(0.5 * sigma_path * wick_u[:, 0])
        low = np.minimum(open_, close) * np.exp(-0.5 * sigma_path * wick_u[:, 1])
        abs_ret = np.abs(np.diff(log_close, prepend=log_close[:1]))
        hour_of_day = np.tile(np.arange(HOURS_PER_DAY), n_days)
        seasonality = 1.0 + 0.3 * np.sin(2 * np.pi * (hour_of_day - 14) / HOURS_PER_DAY)
        volume = profile.base_volume * seasonality * (1.0 + 2.0 * abs_ret / profile.hourly_vol) * np.exp(0.3 * vol_noise)
        returns = np.diff(log_close, prepend=log_close[:1])
        funding = np.clip(
            FUNDING_BASE
            + FUNDING_DRIFT_GAIN * _trailing_mean(returns[:, None], HOURS_PER_DAY)[:, 0]
            + FUNDING_NOISE * fund_noise,
            -FUNDING_CAP,
            FUNDING_CAP,
        )
        return {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "funding": funding}


# seed -> (days simulated, paths): the path is a pure function of (seed, day), so every source in the
# process with the same seed shares one simulation (a backfill's per-coin runs, Dagster's steps).
_SIMULATIONS: dict[int, tuple[int, dict[str, dict[str, np.ndarray]]]] = {}


def forget_simulations() -> None:
    """Drop the process's shared simulations (a benchmark run then pays for simulating, as a new process does)."""
    _SIMULATIONS.clear()


def _shared_simulation(source: SyntheticSource, days_needed: int) -> tuple[int, dict[str, dict[str, np.ndarray]]]:
    cached = _SIMULATIONS.get(source.seed)
    if cached is None or cached[0] < days_needed:
        days = days_needed + 366  # a year ahead, so consecutive daily partitions reuse one simulation
        cached = _SIMULATIONS[source.seed] = (days, source._simulate(days))
    return cached


def _hour_index(lo: int, hi: int) -> pd.DatetimeIndex:
    """UTC hour stamps of hours [lo, hi) since the epoch."""
    ns = EPOCH.value + np.arange(lo, hi, dtype=np.int64) * 3_600_000_000_000
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def _unit_t(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Student-t draws scaled to unit variance: fat tails without changing the volatility level."""
    return rng.standard_t(STUDENT_DF, size=shape) / np.sqrt(STUDENT_DF / (STUDENT_DF - 2.0))


def _regime_path(uniforms: np.ndarray) -> np.ndarray:
    """Daily regime chain driven by pre-drawn uniforms (so it is deterministic per day)."""
    cumulative = np.cumsum(REGIME_TRANSITIONS, axis=1)
    regimes = np.empty(len(uniforms), dtype=np.int64)
    state = 2
    for day, u in enumerate(uniforms):
        state = int(np.searchsorted(cumulative[state], u, side="right"))
        state = min(state, len(REGIME_TRANSITIONS) - 1)
        regimes[day] = state
    return regimes


def _momentum_states(uniforms: np.ndarray) -> np.ndarray:
    """Per-coin daily momentum states in {-1, 0, 1} from pre-drawn uniforms (days x coins): stay with
    probability 1 - 1/MOMENTUM_STAY_DAYS, else move to one of the other two states at random."""
    leave = 1.0 / MOMENTUM_STAY_DAYS
    states = np.empty(uniforms.shape, dtype=np.float64)
    state = np.zeros(uniforms.shape[1])
    for day, u in enumerate(uniforms):
        moving = u < leave
        step = np.where(u < leave / 2.0, 1.0, 2.0)  # one of the two other states, equally likely
        state = np.where(moving, (state + 1.0 + step) % 3.0 - 1.0, state)
        states[day] = state
    return states


def _trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` rows including the current one (causal)."""
    csum = np.cumsum(values, axis=0)
    out = csum.copy()
    out[window:] = csum[window:] - csum[:-window]
    counts = np.minimum(np.arange(1, len(values) + 1), window)[:, None]
    return out / counts


def _aggregate(hourly: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """Aggregate hourly bars to a coarser interval (bars labelled by their open time)."""
    grouped = hourly.groupby(hourly["timestamp"].dt.floor(step), sort=True)
    out = grouped.agg(coin=("coin", "first"), **OHLCV_AGGREGATION)
    return out.reset_index(names="timestamp")
