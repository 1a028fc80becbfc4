"""The lookback staleness sensor: re-checks every population whose lookback received new data.

Each tick reads, from the event log, the regime, candle and funding partitions materialised since its cursor
(a storage id), finds the populations whose lookback holds one of their days, and records the
`lookback_current` check (defs/evolution/lookback_check.py) of each as a run-less check evaluation: in the UI the
population's partition then shows the failed check naming the newer inputs. Nothing is launched (a check
costs a few event-log queries). A population's own materialisation runs the check in the same run, so the
sensor follows inputs only.
"""

from __future__ import annotations

import dagster as dg

from quant_organism.defs.automation.conditions import automation_status
from quant_organism.defs.evolution.assets import LOOKBACK_EDGE_DAYS, POPULATION
from quant_organism.defs.evolution.lookback_check import LOOKBACK_INPUTS, input_day, lookback_evaluation, lookback_window
from quant_organism.operations.lookback import populations_reading


def make_lookback_staleness_sensor(minimum_interval_seconds: int = 300, name: str = "lookback_staleness_sensor"):
    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=automation_status(),
        description="Records a population's lookback_current check again when regimes, candles or funding inside the "
        f"lookback it read (up to {LOOKBACK_EDGE_DAYS} days) are materialised after it (Dagster's staleness skips that edge).",
    )
    def _staleness(context: dg.SensorEvaluationContext):
        cursor = int(context.cursor) if context.cursor else None
        instance = context.instance
        changed = {
            asset: instance.get_latest_storage_id_by_partition(
                asset, dg.DagsterEventType.ASSET_MATERIALIZATION, after_cursor=cursor
            )
            for asset in LOOKBACK_INPUTS
        }
        ids = [storage_id for by_partition in changed.values() for storage_id in by_partition.values()]
        if not ids:
            return dg.SkipReason("no regime, candle or funding partition materialised since the last tick")
        top = max(ids)
        context.update_cursor(str(top))
        if cursor is None:  # the first tick only learns where the log stands: populations check themselves
            return dg.SkipReason(f"cursor set at storage id {top}; later inputs will be checked against populations")
        days = {input_day(asset, str(p)) for asset, by_partition in changed.items() for p in by_partition}
        candidates = populations_reading(days, instance.get_materialized_partitions(POPULATION), LOOKBACK_EDGE_DAYS)
        affected = [day for day in candidates if _reads_any(lookback_window(day, instance), days)]  # what each really read
        if not affected:
            return dg.SkipReason(f"{len(ids)} new input partition(s); no materialised population reads their days")
        stale = []
        for day in affected:
            verdict = lookback_evaluation(instance, day)
            instance.report_runless_asset_event(verdict)
            stale += [] if verdict.passed else [day]
        context.log.info(f"lookback checked for {len(affected)} population(s); stale: {', '.join(stale) or 'none'}")
        return dg.SkipReason(
            f"checked {len(affected)} population(s) whose lookback got new data; stale: {', '.join(stale) or 'none'}"
        )

    return _staleness


def _reads_any(window: tuple[str, str], days) -> bool:
    first, last = window
    return any(first <= day <= last for day in days)


lookback_staleness_sensor = make_lookback_staleness_sensor()
