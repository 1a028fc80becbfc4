"""UTC time: the project never reasons in a host's local time zone."""

from __future__ import annotations

import re
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


DAY_MONTH_YEAR = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2\d{4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
"""Dates with the year last: 08/19/2020, 19/08/2020, 19-08-2020 (a time may follow)."""


class AmbiguousDatesError(ValueError):
    """Year-last dates whose day and month cannot be told apart."""


def year_last_dates(text: pd.Series) -> pd.Series:
    """Year-last dates (`DAY_MONTH_YEAR`), month or day first as the values themselves tell: a first field above
    12 anywhere makes the column day first, a second field above 12 month first. Naive times; unreadable cells
    are NaT. Raises AmbiguousDatesError when neither field ever exceeds 12, or both do: a guess there would put
    some days on the wrong date without a trace."""
    fields = text.str.extract(DAY_MONTH_YEAR.pattern)[[0, 2]].apply(pd.to_numeric, errors="coerce")
    day_first, month_first = bool((fields[0] > 12).any()), bool((fields[2] > 12).any())
    if day_first == month_first:
        shown = ", ".join(text.dropna().iloc[:3])
        why = "both fields exceed 12 somewhere" if day_first else "no field exceeds 12"
        raise AmbiguousDatesError(
            f"dates like {shown} whose day and month cannot be told apart ({why}); write them as YYYY-MM-DD"
        )
    return pd.to_datetime(text, dayfirst=day_first, errors="coerce")
