"""Market regimes, one row per UTC day, each value computed only from data up to the end of that day.

Series (columns of `compute_regimes`):
- `market_return`: the day's mean log return over the coins (a market-wide factor);
- `realized_vol`: its 20-day standard deviation, annualised; `vol_percentile`: that day's rank among the
  trailing 365 days' values (at least 60); `vol_regime`: low (< 1/3), normal, high (> 2/3), `unknown`
  before 60 days of history;
- `trend_score`: the factor's 30-day sum over its 30-day volatility (a t-like statistic);
  `trend_regime`: up (> 1), down (< -1), flat, `unknown` before 30 days;
- `hmm_turbulent_prob`, `hmm_state`: a two-state Markov-switching model of the factor (statsmodels'
  `MarkovRegression`, switching mean and variance) refitted at the start of every calendar month on all
  days before that month (expanding window, at least 120 days); after every fit the states are ordered
  by variance, so state 1 is always the turbulent one and labels never swap between refits; each day's
  probability is the filtered (causal) one under the fit of its month; `calm` / `turbulent` / `unknown`;
- `sentiment`, `sentiment_class`, `sentiment_missing`: the Fear & Greed value of the day, or NaN with
  `sentiment_missing` True when the source has no value for it (never filled).

Strategies may use day D's row from the first bar after D (`regime_at_bars` lags it by one day).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_organism.core.bars import REGIME_BAR_COLUMNS, REGIME_HMM, REGIME_SENTIMENT, REGIME_TREND, REGIME_VOL
from quant_organism.core.metrics import DAYS_PER_YEAR

VOL_WINDOW, RANK_WINDOW, RANK_MIN = 20, 365, 60
TREND_WINDOW = 30
HMM_MIN_DAYS = 120

REGIME_COLUMNS = (
    "market_return",
    "realized_vol",
    "vol_percentile",
    "vol_regime",
    "trend_score",
    "trend_regime",
    "hmm_turbulent_prob",
    "hmm_state",
    "sentiment",
    "sentiment_class",
    "sentiment_missing",
)
VOL_CODES = {"unknown": -1, "low": 0, "normal": 1, "high": 2}
TREND_CODES = {"unknown": -1, "down": 0, "flat": 1, "up": 2}
HMM_CODES = {"unknown": -1, "calm": 0, "turbulent": 1}


@dataclass(frozen=True)
class HmmFit:
    """One monthly fit: parameters with states ordered by variance (index 1 = turbulent)."""

    month: str  # YYYY-MM: used for the days of this month
    params: tuple[float, ...]  # statsmodels' order: p[0->0], p[1->0], const0, const1, sigma2_0, sigma2_1
    days: int  # days of data the fit saw


def daily_closes(candles: pd.DataFrame) -> pd.DataFrame:
    """date x coin close of the last bar of each UTC day, from canonical candles (timestamp, coin, close)."""
    if candles.empty:
        return pd.DataFrame()
    frame = candles.assign(date=candles["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D"))
    return frame.sort_values("timestamp").groupby(["date", "coin"])["close"].last().unstack("coin").sort_index()


def _rolling_rank(values: pd.Series, window: int, minimum: int) -> pd.Series:
    """Share of the trailing `window` values (today included) at or below today's: causal."""

    def rank(x: np.ndarray) -> float:
        return float((x <= x[-1]).mean())

    return values.rolling(window, min_periods=minimum).apply(rank, raw=True)


def _order_by_variance(params: np.ndarray) -> np.ndarray:
    p00, p10, c0, c1, s0, s1 = params
    if s0 <= s1:
        return params
    # swap the states: transition probabilities of the relabelled chain
    return np.array([1.0 - p10, 1.0 - p00, c1, c0, s1, s0])


def fit_hmm(returns: np.ndarray, month: str) -> HmmFit | None:
    """Fit the two-state model on `returns` (the days before `month`); None with too little history."""
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    x = returns[np.isfinite(returns)] * 100.0  # percent: better conditioned
    if len(x) < HMM_MIN_DAYS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MarkovRegression(x, k_regimes=2, trend="c", switching_variance=True)
        result = model.fit(disp=False, search_reps=0, em_iter=5, maxiter=50)
    return HmmFit(month, tuple(float(v) for v in _order_by_variance(np.asarray(result.params))), len(x))


def hmm_filtered(returns: pd.Series, fits: Mapping[str, HmmFit | None]) -> pd.Series:
    """Filtered probability of the turbulent state per day, each day under the fit of its month."""
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    out = pd.Series(np.nan, index=returns.index)
    valid = returns.dropna() * 100.0
    if valid.empty:
        return out
    months = valid.index.strftime("%Y-%m")
    for month, fit in fits.items():
        if fit is None:
            continue
        days = months == month
        if not days.any():
            continue
        last = int(np.flatnonzero(days)[-1]) + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sub = MarkovRegression(valid.to_numpy()[:last], k_regimes=2, trend="c", switching_variance=True)
            probs = sub.filter(np.asarray(fit.params)).filtered_marginal_probabilities
        probs = np.asarray(probs)
        turbulent = probs[:, 1] if probs.ndim == 2 and probs.shape[1] == 2 else probs[1]
        out.loc[valid.index[days]] = turbulent[np.flatnonzero(days)]
    return out


def monthly_fits(
    returns: pd.Series, months: list[str], cache: dict[str, HmmFit | None] | None = None
) -> dict[str, HmmFit | None]:
    """The fit for each month, on the days strictly before it (from `cache` when present)."""
    fits: dict[str, HmmFit | None] = {}
    for month in months:
        if cache is not None and month in cache:
            fits[month] = cache[month]
            continue
        before = returns[returns.index < pd.Timestamp(f"{month}-01")].to_numpy()
        fits[month] = fit_hmm(before, month)
    return fits


def compute_regimes(
    closes: pd.DataFrame,
    sentiment: pd.DataFrame | None = None,
    fits: dict[str, HmmFit | None] | None = None,
) -> tuple[pd.DataFrame, dict[str, HmmFit | None]]:
    """(regime rows for every day of `closes`, the monthly fits used); see the module docstring.

    `closes`: date x coin daily closes (the whole history available, so trailing windows fill);
    `sentiment`: date/value/classification rows (missing days absent); `fits`: cached monthly fits."""
    if closes.empty:
        return pd.DataFrame(columns=list(REGIME_COLUMNS)), {}
    days = pd.date_range(closes.index.min(), closes.index.max(), freq="D")
    closes = closes.reindex(days)
    market = np.log(closes).diff().mean(axis=1, skipna=True)
    market.iloc[0] = np.nan
    vol = market.rolling(VOL_WINDOW, min_periods=VOL_WINDOW).std() * np.sqrt(DAYS_PER_YEAR)
    percentile = _rolling_rank(vol, RANK_WINDOW, RANK_MIN)
    vol_regime = np.select([percentile.isna(), percentile < 1 / 3, percentile > 2 / 3], ["unknown", "low", "high"], "normal")
    trend = market.rolling(TREND_WINDOW, min_periods=TREND_WINDOW).sum() / (
        market.rolling(TREND_WINDOW, min_periods=TREND_WINDOW).std() * np.sqrt(TREND_WINDOW)
    )
    trend_regime = np.select([trend.isna(), trend > 1.0, trend < -1.0], ["unknown", "up", "down"], "flat")
    months = sorted(set(days.strftime("%Y-%m")))
    used = monthly_fits(market, months, fits)
    turbulent = hmm_filtered(market, used)
    hmm_state = np.select([turbulent.isna(), turbulent > 0.5], ["unknown", "turbulent"], "calm")
    frame = pd.DataFrame(
        {
            "market_return": market,
            "realized_vol": vol,
            "vol_percentile": percentile,
            "vol_regime": vol_regime,
            "trend_score": trend,
            "trend_regime": trend_regime,
            "hmm_turbulent_prob": turbulent,
            "hmm_state": hmm_state,
        },
        index=days,
    )
    if sentiment is None or not {"date", "value", "classification"} <= set(sentiment.columns):
        sentiment = pd.DataFrame(columns=["date", "value", "classification"])  # none at all: every day missing
    by_day = sentiment.assign(date=pd.to_datetime(sentiment["date"])).set_index("date")
    frame["sentiment"] = by_day["value"].reindex(days).astype(float)
    frame["sentiment_class"] = by_day["classification"].reindex(days).fillna("missing").astype(str)
    frame["sentiment_missing"] = frame["sentiment"].isna()
    frame.index.name = "date"
    return frame, used


def regime_at_bars(regimes: pd.DataFrame, bar_times: pd.DatetimeIndex) -> pd.DataFrame:
    """Each bar's view of the regimes, as the codes of core/bars.py's regime columns: the row of the last
    day that ended before the bar opened (a bar on day D sees day D-1's row); unknown is -1 / NaN."""
    naive = bar_times.tz_convert("UTC").tz_localize(None) if bar_times.tz is not None else bar_times
    day_before = naive.floor("D") - pd.Timedelta(days=1)
    if regimes.empty:
        codes = pd.DataFrame(index=pd.DatetimeIndex([]), columns=list(REGIME_BAR_COLUMNS), dtype=float)
    else:
        codes = pd.DataFrame(
            {
                REGIME_VOL: regimes["vol_regime"].map(VOL_CODES),
                REGIME_TREND: regimes["trend_regime"].map(TREND_CODES),
                REGIME_HMM: regimes["hmm_state"].map(HMM_CODES),
                REGIME_SENTIMENT: regimes["sentiment"].astype(float),
            },
            index=pd.DatetimeIndex(pd.to_datetime(regimes.index)),
        )
    view = codes.reindex(day_before)
    view.index = bar_times
    for column in (REGIME_VOL, REGIME_TREND, REGIME_HMM):
        view[column] = view[column].fillna(-1).astype(np.int8)
    view[REGIME_SENTIMENT] = view[REGIME_SENTIMENT].astype(float)
    return view
