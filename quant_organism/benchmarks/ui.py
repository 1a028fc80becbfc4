"""`python -m quant_organism.benchmarks ui`: the UI at the real universe's size, in a real browser.

Runs the browser test `quant_organism_tests/test_ui_scale.py` at `--coins` x `--days` (default 186 x 730: every
Hyperliquid perpetual over two years, about 136,000 daily x coin partitions per market asset), so the figures are
the ones that test asserts on: every coin-day ingested beside the UI's start, then `market/candles` and
`evolution/population` opened twice each in Chromium (seconds to content, to the network going quiet), and a
backfill of the last day for every coin launched (the mutation the UI's launch dialog sends) and its page opened.
The table is the test's record (`quant_organism_tests/test-output/ui/scale_N.json`), written whether or not the
test's 5 s budget held.

`--demo` runs the browser test over the demo's instance instead (`quant_organism_tests/test_ui_demo.py` at the full
demo's size, `make demo`'s command, then the UI with the automation on) and prints each page's seconds from
navigation to its content, against the 3 s a newcomer should wait at most.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "quant_organism_tests" / "test-output" / "ui"


def run(coins: int, days: int) -> tuple[dict, int]:
    """The browser test at this size: its record, and pytest's exit status."""
    record = RECORDS / ("scale.json" if coins == 50 else f"scale_{coins}.json")
    record.unlink(missing_ok=True)
    env = {**os.environ, "QUANT_ORGANISM_UI_SCALE_COINS": str(coins), "QUANT_ORGANISM_UI_SCALE_DAYS": str(days)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "quant_organism_tests/test_ui_scale.py"],
        cwd=ROOT,
        env=env,
    )
    if not record.exists():
        raise RuntimeError(f"the browser test wrote no record (pytest exit {done.returncode}); its output is above")
    return json.loads(record.read_text()), done.returncode


def render(record: dict, status: int, command: str) -> str:
    rows = ["| page | first visit: content / network idle | second visit | ", "|---|---|---|"]
    for name, visits in record["pages"].items():
        shown = [f"{v['content_s']:.2f} s / {v['network_idle_s']:.2f} s" for v in visits]
        rows.append(f"| {name} | {shown[0]} | {shown[1] if len(shown) > 1 else ''} |")
    backfill = record.get("backfill") or {}
    return "\n".join([
        f"$ {command}",
        f"{record['coins']} coins x {record['days']} days ({record['first']} .. {record['last']}): {record['partitions']:,} "
        f"daily x coin partitions per market asset, all materialised (ingest beside the UI's start {record.get('ingest_s')} s, "
        "two ingest workers); Chromium, `market/candles` and `evolution/population`, each page opened twice:",
        "",
        *rows,
        "",
        f"backfill of the last day for every coin ({backfill.get('partitions')} partitions): launched in "
        f"{backfill.get('launch_s')} s, its page showing it after {backfill.get('page_s')} s. The test's 5 s budget per page "
        + ("held." if status == 0 else f"did not hold (pytest exit {status})."),
    ])  # fmt: skip


DEMO_PAGE_BUDGET_S = 3.0


def run_demo() -> tuple[dict, int]:
    """The demo's browser test: its record (seconds to content per page) and pytest's exit status."""
    record = RECORDS / "demo.json"
    record.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "quant_organism_tests/test_ui_demo.py"],
        cwd=ROOT,
        env={**os.environ, "QUANT_ORGANISM_UI_DEMO": "full"},  # `make demo` itself, not the suite's shortened one
    )
    if not record.exists():
        raise RuntimeError(f"the demo's browser test wrote no record (pytest exit {done.returncode}); its output is above")
    return json.loads(record.read_text()), done.returncode


def render_demo(record: dict, status: int, command: str) -> str:
    """Each page's seconds to content (the automation tab: from its last opening, after the sensor's first tick)."""
    pages = record["pages_s"]
    rows = ["| page | seconds to content | within 3 s |", "|---|---|---|"]
    rows += [f"| {name} | {s:.2f} | {'yes' if s <= DEMO_PAGE_BUDGET_S else 'NO'} |" for name, s in pages.items()]
    worst = max(pages.values())
    return "\n".join([
        f"$ {command}",
        f"the demo's instance (`make demo`: coins {record['coins']}, evolved on {', '.join(record['evolution_dates'])}, "
        f"{record['paper_days']} paper days to {record['end']}), Chromium, each page once, with the automation on:",
        "",
        *rows,
        "",
        f"slowest page {worst:.2f} s: " + ("every page within 3 s." if worst <= DEMO_PAGE_BUDGET_S else "NOT every page within 3 s.")
        + ("" if status == 0 else f" The browser test failed (pytest exit {status})."),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks ui", description=__doc__.split("\n")[0])
    parser.add_argument("--coins", type=int, default=186)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--docs", action="store_true", help="also write the figures into docs/benchmarks.md")
    parser.add_argument("--demo", action="store_true", help="the demo's instance instead: seconds to content per page")
    args = parser.parse_args(argv)
    if args.demo:
        command = "python -m quant_organism.benchmarks ui --demo"
        record, status = run_demo()
        text = render_demo(record, status, command)
        print(text)
        if args.docs:
            from quant_organism.benchmarks.docs_page import write_section

            print(f"wrote {write_section('ui (the demo)', command, text)}")
        return status
    record, status = run(args.coins, args.days)
    command = "python -m quant_organism.benchmarks ui" + (
        f" --coins {args.coins} --days {args.days}" if (args.coins, args.days) != (186, 730) else ""
    )
    text = render(record, status, command)
    print(text)
    if args.docs:
        from quant_organism.benchmarks.docs_page import write_section

        print(f"wrote {write_section(f'ui ({args.coins} coins)', command, text)}")
    return status
