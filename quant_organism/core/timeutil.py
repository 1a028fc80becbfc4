"""UTC time: the project never reasons in a host's local time zone."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

DAY_FORMAT = "%Y-%m-%d"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is refused (a day must not depend on the host's zone)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass a timezone-aware time")
    return moment.astimezone(timezone.utc)


def utc_timestamp(value: object, name: str = "time") -> pd.Timestamp:
    """A pandas Timestamp in UTC from a timestamp, datetime, date or string; naive values are taken as UTC."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r} is not a timestamp") from None
    if pd.isna(stamp):
        raise ValueError(f"{name} is missing (NaT)")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
