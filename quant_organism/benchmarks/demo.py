"""`python -m quant_organism.benchmarks demo [--seeds N] [--life-cycle] [--json]`: how often `make demo` deploys,
over synthetic markets other than the default one.

Why: the demo's market is built to show the life cycle (a planted momentum edge, market/sources/synthetic.py);
one seed proves nothing about how representative the demo is. For each seed 0..N-1 of the synthetic market
the demo's own command runs in a fresh data root (a subprocess, as a user would run it):
- by default only its first evolution date (`--paper-days 0`): did it deploy (probation included)?
- with `--life-cycle` the whole demo: re-evolutions, probation looks, capital, paper P&L, parity.
Each line is read back from the run's files (deployment.json, the strategy store and the paper ledger), not
from its terminal text.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

DEMO_END, DEMO_PAPER_DAYS, DEMO_EVOLVE_EVERY = "2025-10-19", 97, 30  # the Makefile's demo (kept equal by a test)


def demo_command(end: str, paper_days: int, evolve_every: int) -> list[str]:
    return [sys.executable, "-m", "quant_organism", "run", "--end", end, "--paper-days", str(paper_days),
            "--evolve-every", str(evolve_every)]  # fmt: skip


def run_seed(seed: int, life_cycle: bool, root: Path) -> dict:
    """One seed's demo in `root`; what it deployed, promoted, retired and earned."""
    first = (pd.Timestamp(DEMO_END) - pd.Timedelta(days=DEMO_PAPER_DAYS)).strftime("%Y-%m-%d")
    command = demo_command(DEMO_END, DEMO_PAPER_DAYS, DEMO_EVOLVE_EVERY) if life_cycle else demo_command(first, 0, 0)
    env = {**os.environ, "QUANT_ORGANISM_SEED": str(seed), "QUANT_ORGANISM_DATA_DIR": str(root),
           "QUANT_ORGANISM_AUTOMATION": "off", "QUANT_ORGANISM_PROGRESS": "0"}  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    out = {"seed": seed, "ok": done.returncode == 0, "seconds": round(time.perf_counter() - started, 1)}
    if done.returncode != 0:
        return {**out, "error": (done.stderr or done.stdout)[-400:]}
    deployments = sorted((root / "deployment").glob("date=*/deployment.json"))
    plans = {p.parent.name[5:]: json.loads(p.read_text()) for p in deployments}
    first_plan = plans.get(first, {}).get("plan", {})
    looks = [look for plan in plans.values() for look in (plan.get("plan", {}).get("probation_looks") or {}).values()]
    out.update(
        evolution_date=first,
        deployed=len(first_plan.get("chosen", [])),
        probation_nights=len(looks),
        promoted=sum(bool(look.get("probation_promoted")) for look in looks),
    )
    if life_cycle:
        from quant_organism.catalog.manifest import deployment_stages
        from quant_organism.catalog.store import STORE_DIR, StrategyStore
        from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger

        ledger_path = root / LEDGER_FILE
        traded = PaperLedger(ledger_path).strategies() if ledger_path.exists() else []
        store = StrategyStore(root / STORE_DIR)
        stages = deployment_stages(store)  # Kelly capital, not the incubation allocation of a probationer
        capital = [c.name for c in store.load_strategies() if (c.allocation or 0) > 0 and stages.get(c.name) == "capital"]
        out.update(
            capital=len(capital),
            traded=len(traded),
            paper_return={n: round(PaperLedger(ledger_path).metrics(n).total_return, 5) for n in traded},
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks demo", description=__doc__)
    parser.add_argument("--seeds", type=int, default=10, help="synthetic seeds 0..N-1 (default 10)")
    parser.add_argument("--only", type=int, nargs="+", help="these seeds instead of 0..N-1 (the demo's default is 7)")
    parser.add_argument("--life-cycle", action="store_true", help="the whole demo per seed, not only its first evolution")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON as the last line")
    args = parser.parse_args(argv)
    rows = []
    for seed in args.only or range(args.seeds):
        with tempfile.TemporaryDirectory(prefix=f"demo-seed{seed}-") as tmp:
            row = run_seed(seed, args.life_cycle, Path(tmp))
        rows.append(row)
        extra = (f", probationer-nights {row.get('probation_nights')}, promoted {row.get('promoted')}, capital {row.get('capital')}, "
                 f"traded {row.get('traded')}" if args.life_cycle else "")  # fmt: skip
        print(
            f"seed {seed}: {'deployed ' + str(row.get('deployed')) if row['ok'] else 'FAILED ' + row.get('error', '')}"
            f"{extra} ({row['seconds']}s)",
            flush=True,
        )
    deployed = sum(1 for r in rows if r.get("deployed"))
    print(f"demo deploys on its first evolution date for {deployed}/{len(rows)} seeds (acceptance: >= 9 of 10)")
    print(f"$ python -m quant_organism.benchmarks demo {' '.join(argv if argv is not None else sys.argv[1:])}")
    if args.life_cycle:
        promoted = sum(1 for r in rows if r.get("promoted"))
        capital = sum(1 for r in rows if r.get("capital"))
        print(
            f"within the demo's {DEMO_PAPER_DAYS} paper days: a promotion for {promoted}/{len(rows)} seeds, "
            f"capital at the end for {capital}/{len(rows)}"
        )
    if args.json:
        print(json.dumps({"rows": rows, "deployed": deployed, "seeds": len(rows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
