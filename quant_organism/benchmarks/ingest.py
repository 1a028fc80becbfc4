"""Ingest benchmark: a year of hourly bars for the five default coins through the assets' own code.

Each partition goes through the exact function the `market/candles` and `market/funding_rates` assets
call (fetch from the synthetic source, quality rules, atomic Parquet writes, quarantine and quality
files), into a fresh lake. Dagster's per-run bookkeeping is measured separately on a few partitions,
since it is the same for every source.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from quant_organism.market.ingest import ingest_candles, ingest_funding
from quant_organism.market.lake import MarketLake, ensure_catalog_file
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.settings import DEFAULT_COINS


def run(days: int, start: str, root: Path) -> dict:
    lake = MarketLake(root / "lake")
    source = SyntheticSource()
    dates = [d.strftime("%Y-%m-%d") for d in pd.date_range(start, periods=days, freq="D")]
    started = time.perf_counter()
    candle_rows = funding_rows = 0
    for coin in DEFAULT_COINS:  # one group commit per coin, as one backfill run per coin does
        with lake.batch():
            for day in dates:
                candle_rows += ingest_candles(source, lake, coin, day).quality.report.clean_rows
                funding_rows += ingest_funding(source, lake, coin, day).quality.report.clean_rows
    ensure_catalog_file(root / "catalog.duckdb", lake)
    wall = time.perf_counter() - started
    return {
        "partitions": 2 * len(dates) * len(DEFAULT_COINS),
        "candle_rows": candle_rows,
        "funding_rows": funding_rows,
        "wall_s": round(wall, 3),
        "rows_per_s": round((candle_rows + funding_rows) / wall, 1),
        "candle_bars_per_s": round(candle_rows / wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.bench ingest", description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qo-bench-ingest-") as tmp:
        result = run(args.days, args.start, Path(tmp))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"ingest {args.days} days x {len(DEFAULT_COINS)} coins of 1h bars (synthetic source, "
            f"candles + funding, {result['partitions']} partition files)\n"
            f"  wall {result['wall_s']:.2f} s   {result['rows_per_s']:,.0f} rows/s   "
            f"({result['candle_rows']:,} bars, {result['funding_rows']:,} funding rows)   peak RSS {result['peak_rss_mb']} MB"
        )
    return 0
