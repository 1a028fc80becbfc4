"""Dagster sees the live process: `runtime/live_feed` is observed from its health record by the sensor, stale when
a connected feed has been silent, and skipped while nothing changed (defs/runtime/live_feed.py)."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from quant_organism.defs.runtime.live_observed import LIVE_FEED, live_feed_sensor, live_metadata
from quant_organism.market.stream import FeedHealth


def _record(root, **fields) -> None:
    (root / "live").mkdir(parents=True, exist_ok=True)
    FeedHealth(coins=["BTC", "ETH"], **fields).write(root / "live" / "health.json")


def test_the_sensor_observes_the_feeds_health_and_skips_when_nothing_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        assert isinstance(live_feed_sensor(context), dg.SkipReason)  # no live process yet
        now = pd.Timestamp.now(tz="UTC").isoformat()
        _record(tmp_path, state="connected", last_message_at=now, reconnects=2, bars_from_rest=3,
                refused={"malformed": 1, "out_of_order": 0, "duplicate": 4, "unsubscribed": 0})  # fmt: skip
        result = live_feed_sensor(context)
        [observation] = result.asset_events
        assert observation.asset_key == LIVE_FEED
        values = {k: v.value for k, v in observation.metadata.items()}
        assert values["status"] == "connected" and values["reconnects"] == 2 and values["bars_from_rest"] == 3
        assert values["refused"]["duplicate"] == 4
        context = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        assert isinstance(live_feed_sensor(context), dg.SkipReason)  # the same record: nothing new to observe


def test_a_connected_feed_silent_for_minutes_is_observed_as_stale(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path))
    then = pd.Timestamp("2026-01-01T00:00:00", tz="UTC")
    _record(tmp_path, state="connected", last_message_at=then.isoformat())
    _, metadata = live_metadata(now=then + pd.Timedelta(minutes=5))
    assert metadata["status"] == "stale" and metadata["seconds_since_message"] == 300.0
    _, metadata = live_metadata(now=then + pd.Timedelta(seconds=30))
    assert metadata["status"] == "connected"
