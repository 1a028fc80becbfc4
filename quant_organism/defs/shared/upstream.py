"""One rule for every asset that reads the lake: a missing upstream is named, with its days and the fix.

An asset either completes with the missing input marked unknown in its metadata (`missing_metadata`), or
fails with `missing_upstream(...)`: the asset that is missing, which days, and the command that fixes it. A bare
`KeyError` from an empty read is never what a user sees.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
import pandas as pd

DEFS_MODULE = "quant_organism.definitions"
CANDLES = "market/candles"


def day_span(days: Iterable[str]) -> tuple[str, str, int]:
    """(first, last, count) of a set of YYYY-MM-DD days."""
    ordered = sorted(set(days))
    return ordered[0], ordered[-1], len(ordered)


def fix_command(asset: str, first: str, last: str) -> str:
    """The shell command that materialises `asset` for the days [first, last]."""
    if asset == CANDLES:  # multi-partitioned (coin x day): the CLI's ingest covers every coin of the days
        days = (pd.Timestamp(last) - pd.Timestamp(first)).days + 1
        return f"python -m quant_organism run --ingest-only --end {last} --days {days}"
    return f"dagster asset materialize -m {DEFS_MODULE} --select {asset} --partition-range {first}...{last}"


def describe(asset: str, days: Iterable[str]) -> dict:
    """What is missing, as JSON-safe metadata: the asset, the span of days, and the fix."""
    first, last, count = day_span(days)
    return {"asset": asset, "days": count, "first": first, "last": last, "fix": fix_command(asset, first, last)}


def missing_metadata(asset: str, days: Iterable[str]) -> dict[str, dg.MetadataValue]:
    """Metadata for an asset that completed without `asset` on `days` (marked unknown there)."""
    days = list(days)
    if not days:
        return {"missing_upstream": dg.MetadataValue.json({})}
    return {"missing_upstream": dg.MetadataValue.json({asset: describe(asset, days)})}


def missing_upstream(asset: str, days: Iterable[str], why: str = "", metadata: dict | None = None) -> dg.Failure:
    """The failure of a run that cannot go on without `asset` on `days`: it names both and the fix."""
    info = describe(asset, list(days))
    span = info["first"] if info["days"] == 1 else f"{info['first']}..{info['last']} ({info['days']} days)"
    return dg.Failure(
        description=f"{asset} is missing for {span}{': ' + why if why else ''}. Fix: {info['fix']} "
        f"(or materialise {asset} for those days in the UI), then rerun",
        metadata={"missing_upstream": dg.MetadataValue.json({asset: info}), **(metadata or {})},
    )


def days_between(first: pd.Timestamp | str, last: pd.Timestamp | str) -> list[str]:
    """Every UTC day of [first, last] as YYYY-MM-DD."""
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(pd.Timestamp(first).date(), pd.Timestamp(last).date(), freq="D")]


def uncovered_days(frames: dict[str, pd.DataFrame], coins: Iterable[str], start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    """Days of [start, end) on which some coin has no bar in `frames` (a coin absent misses every day)."""
    days = pd.date_range(pd.Timestamp(start).floor("D"), pd.Timestamp(end) - pd.Timedelta(microseconds=1), freq="D")
    wanted = {d.strftime("%Y-%m-%d") for d in days}
    missing: set[str] = set()
    for coin in coins:
        frame = frames.get(coin)
        present = set() if frame is None or frame.empty else set(frame.index.strftime("%Y-%m-%d"))
        missing |= wanted - present
    return sorted(missing)


WHY_QUERY = "python -m quant_organism query 'select * from partition_quality where not passed'"
CLOSED_AT_WEEKENDS = (
    "every one a Saturday or a Sunday: a market closed at weekends, while the organism needs one that trades every "
    "day, as perpetuals do"
)


def weekend_days_only(days: Iterable[str]) -> bool:
    """Whether YYYY-MM-DD `days` are more than one weekend's and all Saturdays or Sundays."""
    days = set(days)
    return len(days) > 2 and all(pd.Timestamp(day).dayofweek >= 5 for day in days)


def thin_window(days: list[str], why: str, skipped: list[str], metadata: dict | None = None) -> dg.Failure:
    """The failure of a window with too little of the lake in it (`days`: those some coin lacks; `skipped`: the
    reader's "dataset/coin/day: reason" lines). Candles that were ingested and fell below the quality gate are
    not missing: re-ingesting them changes nothing, so the failure says so, with the query that gives the
    reasons, and names a market closed at weekends when every such day is a Saturday or a Sunday."""
    failing = sorted({line.split(":")[0].split("/")[2] for line in skipped
                      if line.startswith("candles/") and "below threshold" in line})  # fmt: skip
    absent = [line for line in skipped if line.startswith("candles/") and "not materialised" in line]
    if not failing or absent:
        return missing_upstream(CANDLES, days, why, metadata)
    reason = (
        CLOSED_AT_WEEKENDS
        if weekend_days_only(failing)
        else "days without enough clean bars: an outage, or bad prints quarantined"
    )
    first, last, count = day_span(failing)
    return dg.Failure(
        description=f"{why}: {count} day(s) between {first} and {last} are in the lake below the quality gate ({reason}); "
        f"re-ingesting will not change them. The reasons per partition: {WHY_QUERY}",
        metadata={"below_quality_gate": dg.MetadataValue.json(failing[:100]), **(metadata or {})},
    )
