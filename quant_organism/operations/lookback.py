"""Which populations read a changed day: the lookback staleness sensor's arithmetic (defs/automation/staleness.py)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

import pandas as pd


def populations_reading(changed_days: Iterable[str], populations: Iterable[str], lookback_days: int) -> list[str]:
    """The populations (days, sorted) whose lookback, the `lookback_days` days ending on their own, holds a
    changed day. Days are ISO dates, so they sort as they fall."""
    if lookback_days < 1:
        raise ValueError(f"lookback_days must be at least 1, got {lookback_days}")
    changed = sorted(set(changed_days))
    hit = []
    for day in sorted(set(populations)):
        first = (pd.Timestamp(day) - pd.Timedelta(days=lookback_days - 1)).strftime("%Y-%m-%d")
        index = bisect_left(changed, first)
        if index < len(changed) and changed[index] <= day:
            hit.append(day)
    return hit
