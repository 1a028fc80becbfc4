"""`python -m quant_organism.benchmarks paper`: what a paper day costs, for the demo's book and next to one pass.

1. The demo's book (the default). In a scratch data root: the demo's market ingested, its first evolution
   (2025-07-14, full preset) deployed, then the same paper days traded through the `paper_trade` job twice,
   one run per day as the nightly automation runs them:
   - nothing carried but the books: every run reads each strategy's anchored history from the lake (what
     every paper run did before the frames were carried; `paper_ledger.carry_frames: false`);
   - the frames carried (the default): a run reads only the lake days that are new or rewritten.
   Seconds per paper day for each, their ratio, and whether the two ledgers are equal row for row.
2. `--engine`: the runtime alone on the synthetic market (no lake, no Dagster): each day restored from the
   DuckDB ledger, next to the same days as one pass (one engine run, one ledger write).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.catalog.config import DataWindow, DeploymentStatus, StrategyConfig
from quant_organism.evolution.operators import random_genome
from quant_organism.evolution.traded_frames import market_frames
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.runtime import PaperLedger, PaperTrader, RuntimePolicy, StrategyRuntimeEngine
from quant_organism.strategies import TECHNICAL_SEEDS

COINS = ("BTC", "ETH")


def strategies(anchor: pd.Timestamp) -> list[StrategyConfig]:
    """One deployed genome per technical seed, from evolution's sampler."""
    rng = np.random.default_rng(3)
    window = DataWindow(start=anchor.to_pydatetime(), end=(anchor + pd.Timedelta(days=30)).to_pydatetime(),
                        coins=COINS, interval="1h")  # fmt: skip
    configs = []
    for seed_type in TECHNICAL_SEEDS:
        config = StrategyConfig.from_genes(random_genome(seed_type, rng), fitness_score=1.0, backtest_sharpe=1.0,
                                           data_window=window)  # fmt: skip
        config = config.transition(DeploymentStatus.VALIDATED, "bench").transition(
            DeploymentStatus.DEPLOYED, "bench", allocation=1.0 / len(TECHNICAL_SEEDS)
        )
        configs.append(config)
    return configs


def engine(configs: list[StrategyConfig]) -> StrategyRuntimeEngine:
    return StrategyRuntimeEngine(configs, policy=RuntimePolicy.backtest_parity(), signal_mode="precomputed", coins=COINS)


DEMO_EVOLVED_ON = "2025-07-14"  # the demo's first evolution (Makefile: DEMO_END minus DEMO_PAPER_DAYS)


def demo_book(days: int, root: Path) -> dict:
    """Paper days of the demo's first deployment, timed one run per day, without and with carried frames."""
    os.environ["QUANT_ORGANISM_DATA_DIR"] = str(root)
    from quant_organism import settings
    from quant_organism.catalog.store import STORE_DIR
    from quant_organism.cli.launch import PAPER_JOB, _definitions, base_run_config, evolve, persistent_instance
    from quant_organism.cli.main import main as cli_main

    end = (pd.Timestamp(DEMO_EVOLVED_ON) + pd.Timedelta(days=days)).strftime("%Y-%m-%d")
    started = time.perf_counter()
    if cli_main(["run", "--end", end, "--paper-days", str(days), "--ingest-only"]) != 0:
        raise RuntimeError("the demo's ingest failed")
    instance = persistent_instance()
    if not evolve(instance, DEMO_EVOLVED_ON).success:
        raise RuntimeError(f"the demo's evolution on {DEMO_EVOLVED_ON} failed")
    setup = time.perf_counter() - started
    store, kept = settings.data_dir() / STORE_DIR, root / "store-at-deployment"
    shutil.copytree(store, kept)
    job = _definitions().resolve_job_def(PAPER_JOB)
    paper_days = [d.strftime("%Y-%m-%d") for d in pd.date_range(DEMO_EVOLVED_ON, end, freq="D")[1:]]
    arms = {
        "whole history": (root / "whole-history" / "ledger.duckdb", False),
        "carried": (settings.data_dir() / "paper" / "ledger.duckdb", True),
    }
    seconds, books = {}, 0
    for arm, (ledger, carry) in arms.items():
        shutil.copytree(kept, store, dirs_exist_ok=True)  # both arms trade the deployment as it was made
        seconds[arm] = []
        for day in paper_days:
            config = base_run_config(job, day)
            config["resources"] = {"paper_ledger": {"config": {"path": str(ledger), "carry_frames": carry}}}
            tick = time.perf_counter()
            result = job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False, run_config=config)
            seconds[arm].append(time.perf_counter() - tick)
            if not result.success:
                raise RuntimeError(f"paper {day} ({arm}) failed")
            books = max(books, int(result.get_asset_check_evaluations()[0].metadata["books"].value))
        print(f"  {arm}: {len(paper_days)} days, {statistics.mean(seconds[arm]):.2f} s a day", flush=True)
    equal = _same_ledgers(*(PaperLedger(ledger) for ledger, _ in arms.values()))
    return {"days": len(paper_days), "books": books, "setup_s": round(setup, 1), "equal": equal, "seconds": seconds}


def _same_ledgers(one: PaperLedger, other: PaperLedger) -> bool:
    """Every table of the two ledgers equal, row for row (in the same order)."""
    from quant_organism.runtime.ledger import TABLES

    def rows(ledger: PaperLedger, name: str) -> pd.DataFrame:
        frame = ledger.table(name)
        keys = ["strategy", "coin", *[c for c in ("bar_time", "exit_time") if c in frame.columns]]
        return frame.sort_values(keys).reset_index(drop=True)

    return all(rows(one, name).equals(rows(other, name)) for name in TABLES)


def engine_days(history_days: int, days: int) -> None:
    """The runtime alone: day by day through the ledger, next to one pass over the same days."""
    anchor = pd.Timestamp("2024-01-01", tz="UTC")
    first = anchor + pd.Timedelta(days=history_days)
    end = first + pd.Timedelta(days=days)
    source = SyntheticSource()
    frames = market_frames(source, COINS, anchor, end)
    configs = strategies(anchor)
    day_list = pd.date_range(first, periods=days, freq="D")
    bars = days * 24 * len(COINS)  # bars each strategy trades (all its coins)
    with tempfile.TemporaryDirectory(prefix="qo-bench-paper-") as tmp:
        ledger = PaperLedger(Path(tmp) / "daily.duckdb")
        started = time.perf_counter()
        for day in day_list:
            cut = {c: f.loc[f.index < day + pd.Timedelta(days=1)] for c, f in frames.items()}
            PaperTrader(engine(configs), ledger).run(cut, start=day, end=day + pd.Timedelta(days=1))
        daily = time.perf_counter() - started
        ledger = PaperLedger(Path(tmp) / "once.duckdb")
        started = time.perf_counter()
        PaperTrader(engine(configs), ledger).run(frames, start=first, end=end)
        once = time.perf_counter() - started
    print(
        f"paper trading {len(configs)} strategies x {len(COINS)} coins, {days} days of 1h bars, history anchored "
        f"{history_days} days before:\n"
        f"  day by day (restore, anchored signals proven on prefixes, write): {daily:6.2f} s, "
        f"{bars / daily:,.0f} bars/s per strategy\n"
        f"  one pass over the {days} days:                                  {once:6.2f} s, "
        f"{bars / once:,.0f} bars/s per strategy  (day by day x{daily / once:.1f} the time)"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks paper", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--days", type=int, default=20, help="paper-trading days (default 20)")
    parser.add_argument("--engine", action="store_true", help="the runtime alone on the synthetic market instead")
    parser.add_argument("--history-days", type=int, default=540, help="--engine: days from the anchor to the first paper day")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as the last line")
    args = parser.parse_args(argv)
    if args.engine:
        engine_days(args.history_days, args.days)
        return 0
    print(f"the demo's book: its first deployment ({DEMO_EVOLVED_ON}) paper-traded {args.days} days, one run a day", flush=True)
    with tempfile.TemporaryDirectory(prefix="qo-bench-paper-demo-") as tmp:
        figures = demo_book(args.days, Path(tmp))
    whole, carried = (figures["seconds"][k] for k in ("whole history", "carried"))
    rows = {k: {"mean_s": round(statistics.mean(v), 3), "median_s": round(statistics.median(v), 3), "first_s": round(v[0], 3)}
            for k, v in figures["seconds"].items()}  # fmt: skip
    print(
        f"paper day of the demo's book ({figures['books']} books: strategies x coins), {figures['days']} days "
        f"(setup: ingest and evolution {figures['setup_s']} s):\n"
        f"  whole history read each run: {rows['whole history']['mean_s']:.2f} s a day (median {rows['whole history']['median_s']:.2f})\n"
        f"  frames carried:              {rows['carried']['mean_s']:.2f} s a day (median {rows['carried']['median_s']:.2f}; "
        f"the first day builds the carried frames: {rows['carried']['first_s']:.2f} s)\n"
        f"  carried / whole history: x{statistics.mean(carried) / statistics.mean(whole):.2f} the time; "
        f"the two ledgers {'are equal row for row' if figures['equal'] else 'DIFFER'}"
    )
    print(f"$ python -m quant_organism.benchmarks paper {' '.join(argv)}")
    if args.json:
        import json

        print(json.dumps({"days": figures["days"], "books": figures["books"], "equal": figures["equal"], **rows}))
    return 0 if figures["equal"] else 1
