"""`runtime/live_feed`: the live process's state as Dagster sees it (python -m quant_organism live).

The live process runs outside Dagster, as a long-running service an operator starts; it writes its feed's
health and its book's state under `<data root>/live/`. This source asset observes them: the feed's state, the
last message's time and its age, reconnects, bars from the stream and from REST, what was refused and why, clock
jumps, and the book's equity, drawdown and value at risk. The `live_feed_sensor` records an observation each
minute the record changed, so the asset's page plots them over time; `Observe` in the UI records one at once.
A connected feed silent for over two minutes is observed as `stale`.
"""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd

from quant_organism import settings
from quant_organism.defs.automation.conditions import automation_status
from quant_organism.market.stream import FeedHealth
from quant_organism.reporting.dashboard_data import LIVE_DIR

LIVE_FEED = dg.AssetKey(["runtime", "live_feed"])
STALE_AFTER_S = 120.0


def live_metadata(now: pd.Timestamp | None = None) -> tuple[str | None, dict]:
    """(a version that changes with every message, the observation's metadata); (None, ...) without a record."""
    root = settings.data_dir() / LIVE_DIR
    health = FeedHealth.read(root / "health.json")
    if health is None:
        return None, {
            "status": "not running",
            "note": "no live process has written a health record (python -m quant_organism live)",
        }
    now = now or pd.Timestamp.now(tz="UTC")
    age = None if health.last_message_at is None else (now - pd.Timestamp(health.last_message_at)).total_seconds()
    status = "stale" if health.state == "connected" and age is not None and age > STALE_AFTER_S else health.state
    metadata = {
        "status": status, "last_message_at": str(health.last_message_at), "seconds_since_message": round(age, 1) if age is not None else None,
        "reconnects": health.reconnects, "messages": health.messages, "trades": health.trades,
        "bars_from_stream": health.bars_from_stream, "bars_from_rest": health.bars_from_rest,
        "refused": dg.MetadataValue.json(health.refused), "clock_jumps": health.clock_jumps,
        "last_problem": health.last_problem or "none", "coins": len(health.coins),
    }  # fmt: skip
    try:
        state = json.loads((root / "state.json").read_text())
    except (OSError, ValueError):
        state = {}
    if state:
        var = state.get("var") or {}
        metadata.update(equity=round(float(state["equity"]), 4), drawdown=round(float(state["drawdown"]), 4),
                        var_99_1d=var.get("var"), var_scale=state.get("scale"), last_bar=str(state.get("last_bar")))  # fmt: skip
    return f"{health.last_message_at}|{health.reconnects}|{health.state}", metadata


@dg.observable_source_asset(
    key=LIVE_FEED,
    group_name="runtime",
    description="The live process's feed and book (python -m quant_organism live): health, last message, reconnects, "
    "refusals, equity and value at risk.",
)
def live_feed() -> dg.ObserveResult:
    version, metadata = live_metadata()
    return dg.ObserveResult(data_version=dg.DataVersion(version or "absent"), metadata=metadata)


@dg.sensor(
    name="live_feed_sensor",
    minimum_interval_seconds=60,
    default_status=automation_status(),
    description="Records an observation of runtime/live_feed whenever the live process's health record changed.",
)
def live_feed_sensor(context: dg.SensorEvaluationContext):
    version, metadata = live_metadata()
    if version is None:
        return dg.SkipReason(metadata["note"])
    if version == context.cursor and metadata["status"] != "stale":
        return dg.SkipReason("the live process's record has not changed since the last tick")
    context.update_cursor(version)
    observation = dg.AssetObservation(asset_key=LIVE_FEED, metadata=metadata, tags={"dagster/data_version": version})
    return dg.SensorResult(asset_events=[observation])
