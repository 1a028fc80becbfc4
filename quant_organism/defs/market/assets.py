"""Market-data assets (`market/candles`, `market/funding_rates`) and their per-partition quality checks."""

from datetime import timedelta
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from quant_organism.core.faults import fault_point
from quant_organism.defs.automation.conditions import ingest_condition
from quant_organism.defs.shared.keys import CANDLES, FUNDING
from quant_organism.defs.shared.numbers import rounded
from quant_organism.defs.shared.partitions import partition_coin_day, partitioned
from quant_organism.defs.shared.resources import LakeResource, MarketSource
from quant_organism.market.ingest import IngestFailure, IngestResult, ingest_candle_days, ingest_funding_days
from quant_organism.market.lake import MarketLake, ensure_catalog_file
from quant_organism.market.quality import QualityReport
from quant_organism.market.schema import MarketDataError, SourceUnreachableError
from quant_organism.market.sources import MarketDataSource, history_notes

# check name -> (rules it covers, description); the score check is the one that blocks downstream.
CANDLE_CHECKS: dict[str, tuple[tuple[str, ...], str]] = {
    "schema_and_types": (("nan_value",), "every price and volume parses as a number"),
    "unique_increasing_timestamps": (
        ("duplicate_timestamp", "out_of_order", "off_grid", "outside_partition"),
        "timestamps unique, increasing, on the bar grid and inside the day",
    ),
    "expected_bar_count": ((), "every bar of the day is present (no gaps)"),
    "ohlc_consistency": (("ohlc_inconsistent", "non_positive_price"), "low <= open, close <= high; prices > 0"),
    "non_negative_volume": (("negative_volume",), "volume >= 0"),
    "plausible_jumps": (("implausible_jump",), "no implausible close-to-close jump"),
}
FUNDING_CHECKS: dict[str, tuple[tuple[str, ...], str]] = {
    "funding_values": (("nan_value", "implausible_rate"), "funding rates are numbers within the exchange cap"),
    "funding_timestamps": (
        ("duplicate_timestamp", "out_of_order", "outside_partition"),
        "timestamps unique, increasing and inside the day",
    ),
}
SCORE_CHECK = "quality_score"


def _specs(asset: dg.AssetKey, checks: dict[str, tuple[tuple[str, ...], str]]) -> list[dg.AssetCheckSpec]:
    specs = [dg.AssetCheckSpec(name, asset=asset, description=desc) for name, (_, desc) in checks.items()]
    specs.append(
        dg.AssetCheckSpec(
            SCORE_CHECK,
            asset=asset,
            blocking=True,
            description="share of clean bars >= 95%; below it nothing downstream consumes the partition",
        )
    )
    return specs


def _check_results(
    asset: dg.AssetKey, report: QualityReport, checks: dict[str, tuple[tuple[str, ...], str]]
) -> list[dg.AssetCheckResult]:
    results = []
    for name, (rules, _) in checks.items():
        if name == "expected_bar_count":
            failures = report.missing_rows
        else:
            failures = sum(report.violations.get(rule, 0) for rule in rules)
        results.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=name,
                passed=failures == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"violations": failures, **{r: report.violations.get(r, 0) for r in rules}},
            )
        )
    results.append(
        dg.AssetCheckResult(
            asset_key=asset,
            check_name=SCORE_CHECK,
            passed=report.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "score": rounded(report.score),
                "threshold": rounded(report.threshold),
                "clean_rows": report.clean_rows,
                "expected_rows": report.expected_rows,
            },
        )
    )
    return results


def _metadata(result: IngestResult, source: str) -> dict[str, dg.MetadataValue]:
    report = result.quality.report
    clean = result.clean
    meta: dict[str, object] = {
        "source": source,
        "rows": dg.MetadataValue.int(len(clean)),
        "raw_rows": dg.MetadataValue.int(report.rows),
        "quarantined_rows": dg.MetadataValue.int(report.quarantined_rows),
        "quality_score": dg.MetadataValue.float(round(report.score, 6)),
        "path": dg.MetadataValue.path(str(result.path)),
        "violations": dg.MetadataValue.json({k: v for k, v in report.violations.items() if v}),
        "large_moves": dg.MetadataValue.int(report.flags.get("large_move", 0)),  # genuine shocks, accepted
    }
    if len(clean):
        meta["first_bar"] = dg.MetadataValue.text(str(clean["timestamp"].iloc[0]))
        meta["last_bar"] = dg.MetadataValue.text(str(clean["timestamp"].iloc[-1]))
        meta["preview"] = dg.MetadataValue.md(clean.head(5).to_markdown(index=False))
    if result.quarantine_path is not None:
        meta["quarantine_path"] = dg.MetadataValue.path(str(result.quarantine_path))
        meta["quarantine_preview"] = dg.MetadataValue.md(result.quality.quarantine.head(5).to_markdown(index=False))
    return meta


def _days_by_coin(keys) -> dict[str, list[str]]:
    days: dict[str, list[str]] = {}
    for key in keys:
        coin, day = partition_coin_day(key)
        days.setdefault(coin, []).append(day)
    return days


def _ingest_partitions(
    context: dg.AssetExecutionContext, lake: MarketLake, ingest_days
) -> tuple[list[IngestResult], list[IngestFailure]]:
    """Ingest every partition of the run: one in a normal run, whole ranges of days in a backfill run.

    Each coin's consecutive days come from one source call, and the run's files are group-committed
    (written by a few threads, synced once, renamed): what makes a year-long backfill take seconds.
    """
    results, errors = [], []
    by_coin = _days_by_coin(context.partition_keys)
    with lake.batch():
        for coin, days in by_coin.items():
            for outcome in ingest_days(coin, days):
                if isinstance(outcome, IngestFailure):
                    errors.append(outcome)
                    context.log.error(f"{coin} {outcome.day}: {outcome.error}")
                else:
                    results.append(outcome)
            if len(context.partition_keys) > 1:
                context.log.info(
                    f"{coin}: ingested {len(days)} day(s) ({len(results) + len(errors)}/{len(context.partition_keys)} partitions)"
                )
    fault_point("ingest:written")
    return results, errors


def _range_metadata(results: list[IngestResult], source: str) -> dict[str, object]:
    reports = [r.quality.report for r in results]
    failing = [f"{r.coin} {r.day} ({r.score:.1%})" for r in reports if not r.passed]
    meta: dict[str, object] = {
        "source": source,
        "partitions": dg.MetadataValue.int(len(reports)),
        "rows": dg.MetadataValue.int(sum(r.clean_rows for r in reports)),
        "quarantined_rows": dg.MetadataValue.int(sum(r.quarantined_rows for r in reports)),
        "min_quality_score": rounded(min(r.score for r in reports)),
        "failing_partitions": dg.MetadataValue.json(failing[:100]),
    }
    spans = [span for r in results if (span := r.quality.bar_span()) is not None]
    if spans:
        meta["first_bar"] = dg.MetadataValue.text(str(min(first for first, _ in spans)))
        meta["last_bar"] = dg.MetadataValue.text(str(max(last for _, last in spans)))
    return meta


def _range_check_results(asset: dg.AssetKey, results: list[IngestResult], checks) -> list[dg.AssetCheckResult]:
    """One result per check for a multi-partition run: it fails if any partition fails, naming them."""
    per_partition = [(r, _check_results(asset, r.quality.report, checks)) for r in results]
    combined = []
    for i, first in enumerate(per_partition[0][1]):
        failed = [f"{r.coin} {r.day}" for r, checks_of in per_partition if not checks_of[i].passed]
        combined.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=first.check_name,
                passed=not failed,
                severity=first.severity,
                metadata={"partitions": len(results), "failing_partitions": failed[:100]},
            )
        )
    return combined


def _history_metadata(context, source: MarketDataSource, coins: list[str], interval: str) -> dict[str, object]:
    """`history`: how the source made these coins' bars (files: read from pieces, built from finer files), said in
    the run's log and the materialisation, where a user of the UI looks; {} when there is nothing to say or the
    source cannot say (the ingest then reports why, per partition)."""
    try:
        notes = history_notes(source, coins, interval)
    except MarketDataError:
        return {}
    for note in notes:
        context.log.info(note)
    return {"history": dg.MetadataValue.text("; ".join(notes))} if notes else {}


SOURCE_UNREACHABLE = "source_unreachable"
"""A failed ingest's metadata: True when the source gave no answer (SourceUnreachableError), so whoever reports
the failure can point at the network rather than the data."""


def _materialize(
    context,
    store: MarketLake,
    asset,
    checks,
    ingest_days,
    market_source: MarketSource,
    lake: LakeResource,
    duckdb: DuckDBResource,
    extra: dict[str, object] | None = None,
):
    results, failures = _ingest_partitions(context, store, ingest_days)
    if failures:
        errors = [f"{f.coin} {f.day}: {f.error}" for f in failures]
        raise dg.Failure(
            description=f"{asset.to_user_string()}: {len(errors)} partition(s) could not be ingested, first "
            f"{errors[0][:300]} (each has a quarantine row with the reason; earlier files are left in place)",
            metadata={
                "errors": dg.MetadataValue.json(errors[:100]),
                SOURCE_UNREACHABLE: any(isinstance(f.error, SourceUnreachableError) for f in failures),
            },
        )
    ensure_catalog_file(Path(duckdb.database), lake.lake(), market_source.interval, connect=duckdb.get_connection)
    if len(results) == 1:
        report = results[0].quality.report
        context.log.info(
            f"{report.coin} {report.day}: {report.clean_rows} clean of {report.rows} rows "
            f"({report.expected_rows} expected), {report.quarantined_rows} quarantined, score {report.score:.1%}"
        )
        return dg.MaterializeResult(
            metadata={**_metadata(results[0], market_source.source), **(extra or {})},
            check_results=_check_results(asset, report, checks),
        )
    return dg.MaterializeResult(
        metadata={**_range_metadata(results, market_source.source), **(extra or {})},
        check_results=_range_check_results(asset, results, checks),
    )


# Days close at 00:00 UTC and the ingest schedule runs at 00:15: a day later than that is late, two is stale.
MARKET_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=26))


def _market_asset(key: dg.AssetKey, checks):
    """`dg.asset` for a coin x day table of the lake: ingested on schedule, checked, backfilled 400 partitions a run."""
    return partitioned(
        dg.asset,
        "market",
        key=key,
        automation_condition=ingest_condition(),
        check_specs=_specs(key, checks),
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=400),
        freshness_policy=MARKET_FRESHNESS,
        group_name="market",
        kinds={"parquet", "duckdb"},
    )


@_market_asset(CANDLES, CANDLE_CHECKS)
def candles(
    context: dg.AssetExecutionContext, market_source: MarketSource, lake: LakeResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """OHLCV bars of one coin for one UTC day (one Parquet file per partition); bad rows quarantined."""
    source, store = market_source.client(), lake.lake()
    history = _history_metadata(context, source, list(_days_by_coin(context.partition_keys)), market_source.interval)
    return _materialize(
        context,
        store,
        CANDLES,
        CANDLE_CHECKS,
        lambda coin, days: ingest_candle_days(source, store, coin, days, market_source.interval),
        market_source,
        lake,
        duckdb,
        history,
    )


@_market_asset(FUNDING, FUNDING_CHECKS)
def funding_rates(
    context: dg.AssetExecutionContext, market_source: MarketSource, lake: LakeResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Funding rates of one coin for one UTC day (one Parquet file per partition)."""
    source, store = market_source.client(), lake.lake()
    return _materialize(
        context,
        store,
        FUNDING,
        FUNDING_CHECKS,
        lambda coin, days: ingest_funding_days(source, store, coin, days),
        market_source,
        lake,
        duckdb,
    )


market_assets = [candles, funding_rates]
