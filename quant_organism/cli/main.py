"""`python -m quant_organism run|ui`: the main job end to end, or the Dagster UI on the same instance."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from quant_organism import settings
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.cli.launch import date_window, evolve, ingest, paper_trade, persistent_instance, prepare_dagster_home
from quant_organism.core import artifacts
from quant_organism.runtime.ledger import LEDGER_FILE


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from quant_organism.evolution.config import load_preset

    preset = args.preset or settings.production_preset()
    if args.paper_days < 0:
        print("--paper-days must be >= 0", file=sys.stderr)
        return 2
    # The lake must hold the preset's lookback before the evolution day (or --days of it: a shorter history
    # shrinks the evolution's windows, down to the preset's minimum), and the paper-trading days after it.
    days = (args.days or load_preset(preset).lookback_days) + args.paper_days
    first, last = date_window(args.end, days)
    evolve_day = (pd.Timestamp(last) - pd.Timedelta(days=args.paper_days)).strftime("%Y-%m-%d")
    paper_days = [d.strftime("%Y-%m-%d") for d in pd.date_range(evolve_day, last, freq="D")[1:]]
    print(f"quant_organism: source={settings.source_name()} coins={','.join(settings.coins())} days={first}..{last}")
    print(f"data root: {settings.data_dir()}  (DAGSTER_HOME={settings.dagster_home()})")
    instance = persistent_instance()
    started = time.perf_counter()
    summaries = ingest(instance, first, last)
    failed = [s.coin for s in summaries if not s.success]
    print(f"ingest: {len(summaries) - len(failed)}/{len(summaries)} coins ok in {time.perf_counter() - started:.1f}s")
    print(f"lake: {settings.lake_dir()}")
    print(f"duckdb: {settings.duckdb_path()} (views: candles, funding_rates, quarantine, partition_quality)")
    if failed:
        print(f"FAILED coins: {failed} (see their runs in the UI: make ui)", file=sys.stderr)
        return 1
    if args.ingest_only:
        return 0
    started = time.perf_counter()
    result = evolve(instance, evolve_day, preset)
    print(f"evolve {evolve_day} ({preset} preset): {'ok' if result.success else 'FAILED'} in {time.perf_counter() - started:.1f}s")
    if not result.success:
        print(f"FAILED: see run {result.run_id} in the UI (make ui)", file=sys.stderr)
        return 1
    report_dir = artifacts.phase_dir("reports", evolve_day, settings.data_dir())
    print(f"deployed configs: {settings.data_dir() / 'strategies'} (manifest: strategies/deployments/current.json)")
    print(f"report: {report_dir / 'report.md'} and report.json, equity plot {report_dir / 'equity.png'}")
    print((report_dir / "report.md").read_text())
    return _paper(instance, paper_days)


def _paper(instance, days: list[str]) -> int:
    """Paper-trade the deployment on each day after the evolution day, then print the paper record."""
    for day in days:
        result = paper_trade(instance, day)
        if not result.success:
            print(f"paper {day}: FAILED, see run {result.run_id} in the UI (make ui)", file=sys.stderr)
            return 1
    if not days:
        return 0
    store = StrategyStore(settings.data_dir() / STORE_DIR)
    live = store.load_strategies(status=LIVE_STATUSES)
    print(f"\npaper trading {days[0]} .. {days[-1]}: {len(live)} live strateg{'y' if len(live) == 1 else 'ies'}")
    for config in live:
        sharpe = "—" if config.paper_sharpe is None else f"{config.paper_sharpe:.2f}"
        drawdown = "—" if config.max_drawdown is None else f"{config.max_drawdown:.1%}"
        print(f"  {config.name}: {config.deployment_status.value}, allocation {config.allocation or 0:.1%}, "
              f"{config.paper_trading_days} paper day(s), paper Sharpe {sharpe}, drawdown {drawdown}")
    print(f"ledger: {settings.data_dir() / LEDGER_FILE} (DuckDB; the UI shows runtime/paper_performance per day)")
    return 0


def _ui(args: argparse.Namespace) -> int:
    """Serve the Dagster UI on 127.0.0.1 over the persistent instance the main command wrote to."""
    prepare_dagster_home()
    root = str(Path(__file__).resolve().parents[2])  # the project root, where workspace.yaml is
    beside_python = os.path.join(os.path.dirname(sys.executable), "dagster")
    dagster = beside_python if os.path.exists(beside_python) else "dagster"
    command = [dagster, "dev", "-h", args.host, "-p", str(args.port), "-w", os.path.join(root, "workspace.yaml")]
    print(f"serving http://{args.host}:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    os.execvp(command[0], command)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the main job: ingest, then evolve -> validate -> deploy -> report for the last day")
    run.add_argument("--end", help="last UTC day ingested (default: yesterday)")
    run.add_argument("--days", type=int, default=None,
                     help="days of history to ingest up to the evolution day (default: the preset's lookback; "
                     "fewer shrink the windows, down to the preset's min_lookback_days)")
    run.add_argument("--preset", default=None, choices=["test", "full"],
                     help="evolution preset (default QUANT_ORGANISM_PRESET, else full: the real search)")
    run.add_argument("--paper-days", type=int, default=0,
                     help="evolve on --end minus N days, then paper-trade the N days after it (default 0)")
    run.add_argument("--ingest-only", action="store_true", help="stop after ingesting market data")
    run.set_defaults(handler=_run)
    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on the project's instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=_ui)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
