"""Data windows of an evolution date: train, out-of-sample and walk-forward, and the no-leak guard.

For evolution date D and a lookback of L days, the bars with open time in [D+1-L, D+1) (UTC) are
split, in this order and without gaps or overlap, into train / out_of_sample / walk_forward windows
of whole days (60/20/20 by default). Evolution evaluates on the train window only; validation uses
the other two. `guard_train_frames` is called before every evaluation, in whatever process runs it,
and raises `WindowLeakError` when a frame holds a bar outside the train window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from quant_organism.core.windows import DAY, Window

WINDOW_NAMES: tuple[str, str, str] = ("train", "out_of_sample", "walk_forward")


class WindowLeakError(ValueError):
    """An evaluation frame reaches outside the train window (e.g. into validation bars)."""


@dataclass(frozen=True)
class EvolutionWindows:
    """The three contiguous windows of one evolution date, in time order."""

    evolution_date: date
    train: Window
    out_of_sample: Window
    walk_forward: Window

    @property
    def validation(self) -> tuple[Window, Window]:
        return (self.out_of_sample, self.walk_forward)

    @property
    def lookback(self) -> Window:
        return Window(self.train.start, self.walk_forward.end, "lookback")

    def as_dict(self) -> dict[str, object]:
        return {
            "evolution_date": self.evolution_date.isoformat(),
            **{w.name: w.as_dict() for w in (self.train, self.out_of_sample, self.walk_forward)},
        }


def _as_date(value: date | datetime | str | pd.Timestamp) -> date:
    if isinstance(value, (str, pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC")
        if stamp != stamp.normalize():
            raise ValueError(f"evolution date must be a calendar day, got {value!r}")
        return stamp.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"evolution date must be a date or ISO string, got {type(value).__name__}")


def split_days(lookback_days: int, split: Sequence[float] = (0.6, 0.2, 0.2)) -> tuple[int, int, int]:
    """Whole days per window: train and out-of-sample rounded, walk-forward takes the rest; each >= 1."""
    if len(split) != 3 or any(s <= 0 for s in split) or abs(sum(split) - 1.0) > 1e-9:
        raise ValueError(f"split must be three positive shares summing to 1; got {tuple(split)}")
    train = int(round(lookback_days * split[0]))
    oos = int(round(lookback_days * split[1]))
    days = (train, oos, lookback_days - train - oos)
    if min(days) < 1:
        raise ValueError(f"lookback of {lookback_days} days split {tuple(split)} gives {days} days; every window needs >= 1 day")
    return days


def evolution_windows(
    evolution_date: date | datetime | str | pd.Timestamp,
    lookback_days: int,
    split: Sequence[float] = (0.6, 0.2, 0.2),
) -> EvolutionWindows:
    """Train / out-of-sample / walk-forward windows covering [D+1-L, D+1) in that order."""
    day = _as_date(evolution_date)
    if isinstance(lookback_days, bool) or not isinstance(lookback_days, int) or lookback_days < 3:
        raise ValueError(f"lookback_days must be an integer >= 3 (one day per window at least); got {lookback_days!r}")
    train_days, oos_days, _ = split_days(lookback_days, split)
    end = pd.Timestamp(day, tz="UTC") + DAY
    start = end - lookback_days * DAY
    cut1 = start + train_days * DAY
    cut2 = cut1 + oos_days * DAY
    return EvolutionWindows(
        evolution_date=day,
        train=Window(start, cut1, "train"),
        out_of_sample=Window(cut1, cut2, "out_of_sample"),
        walk_forward=Window(cut2, end, "walk_forward"),
    )


def slice_frame(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The rows of a time-indexed frame whose bar open time lies in the window (a copy)."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("frames must be indexed by a tz-aware (UTC) DatetimeIndex of bar open times")
    mask = (index >= window.start) & (index < window.end)
    return frame.loc[mask].copy()


RAGGED_SHARE = 0.5  # with `ragged`, the least share of the best-covered coin's bars a coin needs to train


def slice_frames(
    frames: Mapping[str, pd.DataFrame], window: Window, min_bars: int = 2, ragged: bool = False
) -> dict[str, pd.DataFrame]:
    """Each coin's frame cut to the window; a coin with fewer than `min_bars` bars there raises. With `ragged` (a
    point-in-time universe, whose coins list and delist at different times) a coin with less than half the bars of
    the best-covered coin is left out instead (a listing late in the window gives too few bars to learn or to count
    trades on), unless all would be."""
    parts = {coin: slice_frame(frame, window) for coin, frame in frames.items()}
    floor = max(min_bars, RAGGED_SHARE * max((len(p) for p in parts.values()), default=0)) if ragged else min_bars
    short = {coin for coin, part in parts.items() if len(part) < floor}
    if ragged and len(short) < len(parts):
        parts = {coin: part for coin, part in parts.items() if coin not in short}
    out: dict[str, pd.DataFrame] = {}
    for coin, part in parts.items():
        if len(part) < min_bars:
            frame = frames[coin]
            have = f"{frame.index.min()} .. {frame.index.max()}" if len(frame) else "no bars"
            raise ValueError(
                f"{coin}: {len(part)} bar(s) in the {window.name} window [{window.start}, {window.end}); "
                f"need >= {min_bars} (the data has {have})"
            )
        out[coin] = part
    return out


def guard_train_frames(frames: Mapping[str, pd.DataFrame], train: Window, validation: Sequence[Window] = ()) -> None:
    """Raise WindowLeakError unless every bar of every frame lies inside the train window.

    The message names the validation window a stray bar falls in, when it does.
    """
    for coin, frame in frames.items():
        index = frame.index
        if len(index) == 0:
            continue
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise WindowLeakError(f"{coin}: evaluation frame has no UTC DatetimeIndex; cannot prove it is train-only")
        first, last = (index[0], index[-1]) if index.is_monotonic_increasing else (index.min(), index.max())
        if first >= train.start and last < train.end:
            continue
        stray = last if last >= train.end else first
        inside = [w.name for w in validation if w.start <= stray < w.end]
        where = f"into the {inside[0]} window" if inside else "outside the train window"
        raise WindowLeakError(
            f"{coin}: evaluation frame reaches {where}: bar at {stray}, train window is [{train.start}, {train.end})"
        )
