"""Ingest benchmark: a year of hourly bars for the five default coins through the assets' own code.

Each partition goes through the exact function the `market/candles` and `market/funding_rates` assets
call (fetch from the synthetic source, quality rules, atomic group-committed Parquet writes,
quarantine), into a fresh lake under ./data, one group commit per coin as one run per coin does.
It compares 1 and 2 worker processes. Dagster's own bookkeeping (an event per materialised partition)
is not included: it is the same whatever the source.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from quant_organism.market.ingest import ingest_candles, ingest_funding
from quant_organism.market.lake import MarketLake, ensure_catalog_file
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.settings import DEFAULT_COINS


def ingest_coin(root: str, coin: str, dates: list[str]) -> tuple[int, int]:
    """One coin's days, group-committed as one backfill run per coin does; returns (bars, funding rows)."""
    lake, source = MarketLake(Path(root) / "lake"), SyntheticSource()
    candle_rows = funding_rows = 0
    with lake.batch():
        for day in dates:
            candle_rows += ingest_candles(source, lake, coin, day).quality.report.clean_rows
            funding_rows += ingest_funding(source, lake, coin, day).quality.report.clean_rows
    return candle_rows, funding_rows


def run(days: int, start: str, root: Path, workers: int = 1) -> dict:
    dates = [d.strftime("%Y-%m-%d") for d in pd.date_range(start, periods=days, freq="D")]
    started = time.perf_counter()
    if workers == 1:
        counts = [ingest_coin(str(root), coin, dates) for coin in DEFAULT_COINS]
    else:  # per-coin runs in parallel processes, as a multi-process backfill runs them
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            counts = list(pool.map(ingest_coin, [str(root)] * len(DEFAULT_COINS), DEFAULT_COINS, [dates] * len(DEFAULT_COINS)))
    ensure_catalog_file(root / "catalog.duckdb", MarketLake(root / "lake"))
    wall = time.perf_counter() - started
    candle_rows, funding_rows = (sum(c[i] for c in counts) for i in (0, 1))
    return {
        "workers": workers,
        "partitions": 2 * len(dates) * len(DEFAULT_COINS),
        "candle_rows": candle_rows,
        "funding_rows": funding_rows,
        "wall_s": round(wall, 3),
        "rows_per_s": round((candle_rows + funding_rows) / wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.bench ingest", description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    SyntheticSource().candles("BTC", args.start, pd.Timestamp(args.start) + pd.Timedelta(days=1))  # warm numba cache
    results = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="qo-bench-ingest-", dir=Path.cwd() / "data") as tmp:
            results.append(run(args.days, args.start, Path(tmp), workers))
    if args.json:
        print(json.dumps({"days": args.days, "coins": len(DEFAULT_COINS), "runs": results}))
        return 0
    first = results[0]
    print(
        f"ingest {args.days} days x {len(DEFAULT_COINS)} coins of 1h bars, synthetic source, candles + funding: "
        f"{first['partitions']} partitions, {first['candle_rows']:,} bars + {first['funding_rows']:,} funding rows"
    )
    for result in results:
        print(
            f"  {result['workers']} worker(s): wall {result['wall_s']:6.2f} s   {result['rows_per_s']:>9,.0f} rows/s"
            f"   {result['partitions'] / result['wall_s']:,.0f} partitions/s   speed-up x{first['wall_s'] / result['wall_s']:.2f}"
        )
    return 0
