"""The retrospective on a point-in-time universe: every coin a source holds, delisted ones included, and on each
evolution date the members chosen from the data before it.

On date D with a lookback of L days the chain sees every coin that was a member on some day of [D - L, D]: the
coins a point-in-time portfolio over that span could have held, including those that delisted before D (their
past is not erased by their exit) and excluding those that only qualified later. The search trains on the coins
with bars in its train window, the gate averages over the coins with bars on each held-out bar, and the
documented tier takes the top N of each day (market/universe.py). What the chain deploys trades, from D, the
members of D. Nothing about a coin after D decides anything at D: membership on a day reads the days before it.

Regimes (volatility, trend, HMM) are computed from the daily closes of every coin, as the regime asset computes
them from the lake's, each bar seeing the day before it; sentiment is not joined (the regime gene then treats
sentiment as unknown, as on any bar whose regime is unknown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from quant_organism.deployment import documented_capital as documented
from quant_organism.market.frames import to_strategy_frame
from quant_organism.market.panel import daily_panel
from quant_organism.market.regime import compute_regimes, regime_at_bars
from quant_organism.market.schema import MarketDataError
from quant_organism.market.sources.interface import MarketDataSource
from quant_organism.market.universe import members_during, members_on

EVERYTHING = (pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))


@dataclass(frozen=True)
class UniverseHistory:
    frames: dict[str, pd.DataFrame]  # every coin with bars: OHLCV, funding_rate and regime columns
    members: pd.DataFrame  # days x coins: the point-in-time top N
    top_n: int
    interval: str

    @property
    def first_day(self) -> pd.Timestamp:
        return min(f.index[0] for f in self.frames.values()).normalize()

    @property
    def last_day(self) -> pd.Timestamp:
        """The last UTC day whose bars are complete on the coin that traded latest."""
        last = max(f.index[-1] for f in self.frames.values())
        day = last.normalize()
        complete = last >= day + pd.Timedelta(days=1) - pd.Timedelta(self.interval)
        return day if complete else day - pd.Timedelta(days=1)

    def for_date(self, date: pd.Timestamp, until: pd.Timestamp, lookback_days: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
        """(the chain's frames for `date`: the members of its lookback over [date - lookback, until), the coins
        traded from `date`)."""
        start = date - pd.Timedelta(days=lookback_days)
        coins = members_during(self.members, start, date + pd.Timedelta(days=1))  # the date's own members too
        frames = {c: self.frames[c].loc[(self.frames[c].index >= start) & (self.frames[c].index < until)] for c in coins}
        return {c: f for c, f in frames.items() if len(f)}, members_on(self.members, date)


def load_universe(
    source: MarketDataSource,
    coins: Iterable[str],
    interval: str,
    top_n: int,
    progress: Callable[[str], None] | None = None,
) -> UniverseHistory:
    """Every coin's whole history from `source` at `interval`, with funding and regimes, and its membership."""
    say = progress or (lambda line: None)
    coins = list(coins)
    frames, unreadable = {}, {}
    for k, coin in enumerate(coins, start=1):
        try:
            candles = source.candles(coin, *EVERYTHING, interval)
            if len(candles) >= 2:
                frames[coin] = to_strategy_frame(candles, source.funding(coin, *EVERYTHING))
        except MarketDataError as exc:  # reported and left out; the file is left where it is
            unreadable[coin] = str(exc)
        if k % 25 == 0 or k == len(coins):
            say(f"read {k}/{len(coins)} coins ({len(frames)} with bars)")
    for coin, why in unreadable.items():
        say(f"left out {coin}: {why[:200]}")
    if not frames:
        raise ValueError(f"no coin of the source has {interval} bars")
    panel = daily_panel({c: f[["close", "volume"]] for c, f in frames.items()})
    members = documented.universe(panel, top_n)  # the same membership the chain's documented tier takes
    say(f"regimes from {len(frames)} coins' daily closes")
    closes = panel.closes.copy()
    closes.index = closes.index.tz_localize(None)
    regimes, _ = compute_regimes(closes)
    frames = {c: f.join(regime_at_bars(regimes, f.index)) for c, f in frames.items()}
    return UniverseHistory(frames, members, top_n, interval)
