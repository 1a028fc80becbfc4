"""Is a population still the evolution of the data now in its lookback? The `lookback_current` check.

Population D reads its fitted lookback of every coin's candles, funding and regimes (540 days in the production
preset, grown with the history up to 2,190), and its edge to the regimes declares the longest it may read
(assets.py). Dagster's own staleness does not follow that edge: it skips data-version staleness over any edge of 100
partitions or more (SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD), so re-ingesting a candle of last spring
would never mark a population stale. This check does it over the window the population really read (its
`windows` metadata: train start to walk-forward end; the edge's window for one stored without them): it fails
when any partition of the regimes, candles or funding inside it was materialised after the population
(event-log storage ids, which only grow), and names them.
It runs after each population in the evolution jobs, and the lookback staleness sensor records it again
(a run-less check evaluation) for every population whose window receives new data (automation/staleness.py).
"""

from collections.abc import Mapping

import dagster as dg
import pandas as pd

from quant_organism.defs.evolution.assets import POPULATION, REGIME_LOOKBACK
from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.market.regime_assets import REGIME
from quant_organism.defs.shared.partitions import open_daily, partition_coin_day, partitioned

LOOKBACK_CHECK = "lookback_current"
LOOKBACK_INPUTS = (REGIME, CANDLES, FUNDING)
SHOWN = 20  # newer inputs named in the check's metadata; the count covers them all


def lookback_window(day: str, instance: dg.DagsterInstance | None = None) -> tuple[str, str]:
    """First and last day population `day` read: the windows its latest materialisation recorded (the lookback fitted
    to the history), else the days its edge to the regimes declares (the longest any preset may read)."""
    if instance is not None:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=POPULATION, asset_partitions=[day]), limit=1, ascending=False
        ).records
        windows = records[0].asset_materialization.metadata.get("windows") if records else None
        if windows is not None:
            data = windows.data
            last = pd.Timestamp(data["walk_forward"]["end"]) - pd.Timedelta(days=1)
            return pd.Timestamp(data["train"]["start"]).strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")
    daily = open_daily()
    subset = daily.empty_subset().with_partition_keys([day])
    parents = REGIME_LOOKBACK.get_upstream_mapped_partitions_result_for_partitions(subset, daily, daily)
    days = sorted(parents.partitions_subset.get_partition_keys())
    return days[0], days[-1]


def input_day(asset: dg.AssetKey, partition: str) -> str:
    """The day of an input partition: a regime's key is its day, a candle or funding key is coin|day."""
    return partition if asset == REGIME else partition_coin_day(partition)[1]


def newer_lookback_inputs(
    instance: dg.DagsterInstance, day: str, window: tuple[str, str]
) -> Mapping[dg.AssetKey, list[str]] | None:
    """Inputs inside `window` materialised after population `day`, by asset; None if it was never materialised."""
    latest = instance.get_latest_storage_id_by_partition(POPULATION, dg.DagsterEventType.ASSET_MATERIALIZATION, {day})
    if day not in latest:
        return None
    first, last = window
    newer = {}
    for asset in LOOKBACK_INPUTS:
        changed = instance.get_latest_storage_id_by_partition(
            asset, dg.DagsterEventType.ASSET_MATERIALIZATION, after_cursor=latest[day]
        )
        newer[asset] = sorted(str(p) for p in changed if first <= input_day(asset, str(p)) <= last)
    return newer


def lookback_evaluation(instance: dg.DagsterInstance, day: str) -> dg.AssetCheckEvaluation:
    """The check's verdict on population `day`: passed, or a warning naming the inputs newer than it."""
    window = lookback_window(day, instance)
    newer = newer_lookback_inputs(instance, day, window)
    verdict = {"asset_key": POPULATION, "check_name": LOOKBACK_CHECK, "partition": day}
    if newer is None:
        return dg.AssetCheckEvaluation(
            **verdict, passed=False, description=f"population {day} is not materialised", metadata={"day": day}
        )
    count = sum(len(keys) for keys in newer.values())
    metadata = {
        "lookback": dg.MetadataValue.text(f"{window[0]} .. {window[1]}"),
        "newer_inputs": dg.MetadataValue.int(count),
        **{f"newer_{asset.path[-1]}": dg.MetadataValue.json(keys[:SHOWN]) for asset, keys in newer.items() if keys},
    }
    if not count:
        return dg.AssetCheckEvaluation(
            **verdict, passed=True, description="every input in the lookback predates the population", metadata=metadata
        )
    what = ", ".join(f"{len(keys)} {asset.to_user_string()}" for asset, keys in newer.items() if keys)
    return dg.AssetCheckEvaluation(
        **verdict, passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=metadata,
        description=f"stale: {what} partition(s) in the lookback were materialised after this population; re-evolve {day}",
    )  # fmt: skip


@partitioned(
    dg.asset_check,
    "daily",
    asset=POPULATION,
    name=LOOKBACK_CHECK,
    description="Fails when regimes, candles or funding inside the population's lookback were materialised "
    "after it: the population was evolved on data that has since changed (Dagster's own staleness skips "
    "edges of 100+ partitions). Runs after each population; the lookback staleness sensor re-reports it.",
)
def lookback_current(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    verdict = lookback_evaluation(context.instance, context.partition_key)
    return dg.AssetCheckResult(
        passed=verdict.passed, severity=verdict.severity, description=verdict.description, metadata=verdict.metadata
    )
