"""The lookback an asset can evolve on, given the history the lake holds (shared by the evolution and the
retrospective assets, so the nightly run and the track record shrink their windows the same way)."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from quant_organism import settings
from quant_organism.defs.shared.resources import LakeResource
from quant_organism.evolution.date_windows import evolution_windows
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.market.panel import panel_from_rows
from quant_organism.market.universe import WARM_DAYS, NightUniverse, night_universe


def listed_days(lake: LakeResource, coins) -> dict | None:
    """Each coin's first day in the lake where the universe is point in time (coverage then counts a coin from the day
    it listed, MarketFrames.coverage); None otherwise (every coin is expected over the whole window)."""
    return lake.lake().first_days("candles", coins, settings.interval()) if settings.point_in_time_universe() else None


def fit_to_history(context, evolution: EvolutionConfig, lake: LakeResource, day: str) -> EvolutionConfig:
    """The preset fitted to the history the lake holds before evolution day `day` (every coin's; in a point-in-time
    universe, whose coins list on different days and join when they do, the oldest coin's): shrunk when shorter
    than its lookback, down to its shortest (below it the run fails saying how much history is missing), and grown
    up to its `max_lookback_days` when longer, the growth all held-out (EvolutionConfig.for_history)."""
    first_days = lake.lake().first_days("candles", settings.coins(), settings.interval())
    if not first_days or len(first_days) < len(settings.coins()):
        return evolution  # nothing (or not every coin) in the lake: the coverage check below explains
    ragged = settings.point_in_time_universe()
    first = min(first_days.values()) if ragged else max(first_days.values())
    order = "earliest" if ragged else "latest"
    available = (pd.Timestamp(day).date() - first).days + 1
    try:
        fitted = evolution.for_history(available, f"from {first} to {pd.Timestamp(day).date()}")
    except ValueError as exc:
        raise dg.Failure(description=str(exc)) from None
    if fitted.lookback_days != evolution.lookback_days:
        windows = evolution_windows(day, fitted.lookback_days, fitted.split)
        change = "shrunk alike" if fitted.lookback_days < evolution.lookback_days else "grown, the growth held-out"
        (context.log.warning if fitted.lookback_days < evolution.lookback_days else context.log.info)(
            f"the lake's history starts {first} ({order} first day over the coins): lookback {evolution.lookback_days} -> "
            f"{fitted.lookback_days} days, windows {change}: train {windows.train.days:.0f}, out-of-sample "
            f"{windows.out_of_sample.days:.0f}, walk-forward {windows.walk_forward.days:.0f} days"
        )
    return fitted


UNIVERSE_FILE = "universe.json"  # beside a night's population: its point-in-time universe (members, coins seen)


def night_universe_of(lake: LakeResource, day: str, lookback_days: int) -> NightUniverse | None:
    """The night's point-in-time universe from the lake's bars up to `day` (market/universe.night_universe): the
    coins the night reads and the members its deployment trades; None outside a point-in-time universe."""
    top = settings.universe_top()
    if top is None:
        return None
    end = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=lookback_days + WARM_DAYS)
    candles, _ = lake.lake().read("candles", settings.coins(), start, end, settings.interval(), columns=["close", "volume"])
    if candles.empty:
        raise dg.Failure(description=f"the lake holds no candles from {start.date()} to {day}: ingest the market data first")
    return night_universe(panel_from_rows(candles).dollar_volume, day, lookback_days, top)
