"""`python -m quant_organism documented`: the documented tier's forward track record on a point-in-time universe.

Reads a folder of candle files (and funding files) of any number of coins, delisted ones included (the `files`
source's layout, e.g. ../shared/market-data/hyperliquid-universe), builds the daily panel, chooses each date's
universe from data before it (top N by trailing dollar volume, a minimum history), and walks the tier month by
month (reporting/documented_walk.py). Prints one line per date with what the tier could have detected, then the
chained forward record beside cash, the market, the plain trend rule and the naive in-sample best.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("documented", help="the documented tier walked monthly through history on a point-in-time universe")
    parser.add_argument("--files", help="folder of candle/funding files (default QUANT_ORGANISM_FILES_DIR)")
    parser.add_argument("--interval", choices=["4h", "1d"], default="1d", help="the bars the daily panel is built from")
    parser.add_argument("--top", type=int, default=30, help="members per date: top N by trailing 30-day dollar volume")
    parser.add_argument("--min-history", type=int, default=90, help="days of bars a coin needs before it can be a member")
    parser.add_argument("--from", dest="first", help="first date (YYYY-MM-DD; default: the first with enough evidence)")
    parser.add_argument("--to", dest="last", help="last date (YYYY-MM-DD; default: the last the data follows)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line: the rows and the chained summary")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from quant_organism import settings
    from quant_organism.market.panel import load_folder_panel
    from quant_organism.market.universe import point_in_time_members
    from quant_organism.reporting.documented_walk import chained, monthly_dates, walk
    from quant_organism.strategies.portfolio import DOCUMENTED_RULES
    from quant_organism.validation.documented import runnable_rules

    folder = Path(args.files or settings.files_dir() or "")
    if not args.files and not settings.files_dir():
        print("documented: give --files DIR or set QUANT_ORGANISM_FILES_DIR", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        panel = load_folder_panel(folder, args.interval)
    except (FileNotFoundError, ValueError) as error:
        print(f"documented: cannot read the universe: {error}", file=sys.stderr)
        return 2
    members = point_in_time_members(panel.dollar_volume, args.top, args.min_history)
    _, skipped = runnable_rules(tuple(r for rules in DOCUMENTED_RULES.values() for r in rules), panel)
    for family, why in skipped.items():
        print(f"[documented] {family} skipped: {why}", flush=True)
    dates = monthly_dates(panel, args.first, args.last)
    print(f"[documented] {panel.closes.shape[1]} coins at {args.interval}, {panel.closes.index[0].date()}.."
          f"{panel.closes.index[-1].date()}, top {args.top} point in time; {len(dates)} monthly dates", flush=True)  # fmt: skip

    def show(row: dict) -> None:
        passed = f"PASS {row['pick']} (beta {row['pick_beta']:.2f})" if row["pick"] else "nothing passed"
        reach = row["detectable_sharpe_50"]
        print(
            f"{row['date']}  {row['members']:>3} members  {row['evidence_days']:>4} days  {passed}; "
            f"p trend {_p(row, 'ts_trend')}, momentum {_p(row, 'xs_momentum')}, carry {_p(row, 'funding_carry')}; "
            f"could see Sharpe >= {reach} (50%), {row['detectable_sharpe_80']} (80%); "
            f"forward to {row['until']}: tier {row['forward_return']['tier']:+.1%}, "
            f"market {row['forward_return']['market']:+.1%}",
            flush=True,
        )

    rows, curves = walk(panel, members, dates, progress=show)
    summary = chained(curves)
    wall = time.perf_counter() - started
    print(f"chained forward record over {len(dates)} dates ({wall:.0f} s):")
    for column, figures in summary.items():
        print(
            f"  {column:<13} return {figures['return']:+8.1%}  Sharpe {figures['sharpe']:5.2f}  max drawdown {figures['max_drawdown']:6.1%}"
        )
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary, "wall_s": round(wall, 1)}, default=str))
    return 0


def _p(row: dict, family: str) -> str:
    """A family's p-value on a date, or why it was not judged in a word ('skipped' when its inputs are missing)."""
    value = row["pvalues"].get(family)
    if value is not None:
        return str(value)
    return "skipped (no funding)" if "funding" in (row.get("not_judged") or {}).get(family, "") else "not judged"
