"""A point-in-time universe: on each day, the members chosen from data before that day only.

A universe ranked on today's coins keeps only the survivors, and every historical figure on it is flattered.
Here a coin is a member on day d when, on the days before d,
- it has at least `min_history_days` daily bars (so a coin listed later is absent before it can qualify);
- it traded on day d-1 (a coin whose bars stopped has delisted or halted; it leaves the day after we could
  know it, and its returns up to its last bar count: backtest/portfolio_returns.py closes it there);
- its mean dollar volume over the last `volume_days` days is among the `top_n` largest of such coins.
Nothing reads a row at or after d, so the membership of a day never changes when later data arrives
(prefix invariance, tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.core.artifacts import write_json

MIN_HISTORY_DAYS = 90  # days of bars a coin needs before a day to be a member of it


def point_in_time_members(
    dollar_volume: pd.DataFrame,
    top_n: int,
    min_history_days: int = MIN_HISTORY_DAYS,
    volume_days: int = 30,
) -> pd.DataFrame:
    """Boolean members (days x coins) from a daily dollar-volume panel (NaN where a coin has no bar)."""
    if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < 1:
        raise ValueError(f"top_n must be a positive integer; got {top_n!r}")
    if min_history_days < 1 or volume_days < 1:
        raise ValueError("min_history_days and volume_days must be positive")
    traded = dollar_volume.notna()
    history = traded.cumsum().shift(1, fill_value=0)  # bars strictly before the day
    live_yesterday = traded.shift(1, fill_value=False)
    trailing = trailing_dollar_volume(dollar_volume, volume_days)
    qualified = (history >= min_history_days) & live_yesterday & trailing.notna()
    score = trailing.where(qualified)
    rank = score.rank(axis=1, ascending=False, method="first")
    return (rank <= top_n) & qualified


def panel_members(dollar_volume: pd.DataFrame, top_n: int | None = None) -> pd.DataFrame:
    """The point-in-time members of every day of a daily dollar-volume panel: the top `top_n` by trailing volume
    with `MIN_HISTORY_DAYS` of bars before the day, every such coin when `top_n` is None."""
    size = len(dollar_volume.columns) if top_n is None else int(top_n)
    return point_in_time_members(dollar_volume, top_n=max(1, size))


def trailing_dollar_volume(dollar_volume: pd.DataFrame, volume_days: int = 30) -> pd.DataFrame:
    """Each day's mean dollar volume over the `volume_days` days before it (the day itself excluded): the rank."""
    return dollar_volume.rolling(volume_days, min_periods=1).mean().shift(1)


def members_on(members: pd.DataFrame, day: str | pd.Timestamp) -> list[str]:
    """The coins that are members on `day` (chosen from the days before it), in column order."""
    stamp = _utc_day(day)
    return [] if stamp not in members.index else [str(c) for c in members.columns[members.loc[stamp].to_numpy(bool)]]


def members_during(members: pd.DataFrame, start: str | pd.Timestamp, end: str | pd.Timestamp) -> list[str]:
    """The coins that were members on some day of [start, end): every coin whose returns a point-in-time portfolio
    over that span could have held, delisted ones included (their past is not erased by their exit)."""
    rows = members.loc[(members.index >= _utc_day(start)) & (members.index < _utc_day(end))]
    return [str(c) for c in rows.columns[rows.any(axis=0).to_numpy(bool)]]


def _utc_day(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).normalize()


UNIVERSE_HISTORY_DIR = "universe_history"  # under the data root: one recorded universe per day


def record_membership(folder: str | Path, day: str, record: dict) -> Path:
    """Keep a universe chosen on `day` (the `universe` command's list from the exchange) as that day's record, one
    file a day written atomically, so that the membership on any later date can be rebuilt from what was known."""
    stamp = pd.Timestamp(day).strftime("%Y-%m-%d")
    return write_json(Path(folder) / f"{stamp}.json", {"as_of": stamp, **record})


def members_as_of(folder: str | Path, day: str | pd.Timestamp) -> dict | None:
    """The latest recorded universe dated strictly before `day` (None if none was recorded before it)."""
    stamp = pd.Timestamp(day).strftime("%Y-%m-%d")
    earlier = sorted(p for p in Path(folder).glob("*.json") if p.stem < stamp) if Path(folder).is_dir() else []
    return json.loads(earlier[-1].read_text()) if earlier else None


WARM_DAYS = MIN_HISTORY_DAYS + 31  # days of bars before a span that make its membership that of any longer history


@dataclass(frozen=True)
class NightUniverse:
    """A night's point-in-time universe: what the chain of evolution day `day` reads and what its deployment trades."""

    day: pd.Timestamp
    top_n: int
    seen: tuple[str, ...]  # members on some day of the lookback (and of the day after): the coins the night reads
    members: tuple[str, ...]  # members of the day after `day`, chosen from the days up to it: the coins it trades

    def describe(self) -> str:
        return (f"point-in-time top {self.top_n}: {len(self.members)} members on {(self.day + pd.Timedelta(days=1)).date()} "
                f"({', '.join(self.members[:8])}{', ...' if len(self.members) > 8 else ''}), {len(self.seen)} coins seen "
                "in the lookback")  # fmt: skip


def night_universe(dollar_volume: pd.DataFrame, day: str | pd.Timestamp, lookback_days: int, top_n: int) -> NightUniverse:
    """The universe of evolution day `day` with a lookback of `lookback_days` days from a daily dollar-volume panel
    that reaches `WARM_DAYS` before the lookback: every coin that was a member on some day of the lookback or on the
    day after `day` (the coins a point-in-time portfolio over that span could have held, delisted ones included),
    and the members of the day after. Only days up to `day` decide anything."""
    stamp = _utc_day(day)
    panel = dollar_volume.loc[dollar_volume.index <= stamp]
    following = stamp + pd.Timedelta(days=1)
    panel = panel.reindex(panel.index.append(pd.DatetimeIndex([following]))) if following not in panel.index else panel
    members = panel_members(panel, top_n)
    start = following - pd.Timedelta(days=lookback_days)
    return NightUniverse(stamp, top_n, tuple(members_during(members, start, following + pd.Timedelta(days=1))),
                         tuple(members_on(members, following)))  # fmt: skip
