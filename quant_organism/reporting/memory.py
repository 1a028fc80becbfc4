"""The organism's memory: every run's results as DuckDB views, and the cross-run plots.

Each asset archives its run's rows with `core.run_history` (never overwritten by another run); this module
turns them into tables (`verdict_rows`, `deployment_rows`, ...) and opens them as views, each with
`run_id` and `evolution_date`:

    populations   every evaluated individual of every run (workflow phases carry `workflow`, `phase`)
    generations   best / median score per island and generation
    runs          one row per evolution run: size, best score, budget, time used, cost
    verdicts      one row per validated candidate: passed, the gate that rejected it, stage statuses
    deployments   one row per strategy of each deployment decision (kept or new), with its weight
    reports       one row per report: counts, budget, time and cost
    retrospective one row per (track, evolution date) of the retrospective: what was deployed, and its forward
                  return, Sharpe and drawdown beside cash, naive and buy-and-hold (reporting/retrospective.py)
    paper_pnl / paper_trades / paper_daily   the paper ledger, each row tagged with the run whose
                  deployment it traded under (the latest evolution date before the bar)

Queries run through `open_memory(root)`; the example queries of docs/memory-and-workflows.md are tested against it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from quant_organism.core.run_history import TABLES, has_rows, table_glob
from quant_organism.reporting.retrospective_store import DIR as RETRO_DIR
from quant_organism.reporting.retrospective_store import view_glob as retrospective_glob
from quant_organism.validation.verdict import BACKTEST, REPLAY, TESTNET

STAGE_ORDER = (BACKTEST, REPLAY, TESTNET)  # validation's stages, in the order they run
_NAME_SEED = re.compile(r"^(?P<seed>.+?)_\d+_[0-9a-f]{8}$")


def seed_of(name: str) -> str:
    """The seed family of a strategy name `{seed_type}_{generation}_{hash8}`."""
    match = _NAME_SEED.match(str(name))
    return match.group("seed") if match else "unknown"


def tag_phase(frame: pd.DataFrame, workflow: str | None, phase: str) -> pd.DataFrame:
    """The frame with its workflow (None for the nightly chain) and phase as typed string columns."""
    return frame.assign(
        workflow=pd.Series(workflow, index=frame.index, dtype="string"), phase=pd.Series(phase, index=frame.index, dtype="string")
    )


def verdict_rows(validation: Mapping[str, Any], evolution_run_id: str | None = None) -> pd.DataFrame:
    """One row per candidate of a validation summary (`ValidationOutcome.to_dict()`)."""
    superiority = validation.get("superiority") or {}
    rows = []
    for verdict in validation.get("verdicts", []):
        stages = verdict.get("stages", {})
        failed = [name for name in STAGE_ORDER if stages.get(name, {}).get("status") == "failed"]
        skipped = [name for name in STAGE_ORDER if stages.get(name, {}).get("status") == "skipped"]
        gate = failed[0] if failed else (None if verdict.get("passed") else (skipped[0] if skipped else "unknown"))
        rows.append(
            {
                "candidate": verdict["candidate_id"],
                "seed_type": seed_of(verdict["candidate_id"]),
                "mode": verdict.get("mode"),
                "passed": bool(verdict.get("passed")),
                "score": verdict.get("score"),
                "rejected_by": gate,
                **{f"{name}_status": stages.get(name, {}).get("status") for name in STAGE_ORDER},
                "first_reason": (verdict.get("reasons") or [None])[0],
                "spa_pvalue": superiority.get("spa_pvalue"),
                "cut_by_budget": verdict["candidate_id"] in set(validation.get("cut_by_budget", [])),
                "evolution_run_id": evolution_run_id,
            }
        )
    columns = [
        "candidate",
        "seed_type",
        "mode",
        "passed",
        "score",
        "rejected_by",
        *(f"{n}_status" for n in STAGE_ORDER),
        "first_reason",
        "spa_pvalue",
        "cut_by_budget",
        "evolution_run_id",
    ]
    return pd.DataFrame(rows, columns=columns).astype({"score": "float64", "spa_pvalue": "float64"})


def deployment_rows(summary: Mapping[str, Any], decided_at: pd.Timestamp) -> pd.DataFrame:
    """One row per strategy of the deployment in force after this run's decision (a kept deployment too)."""
    allocations = summary.get("allocations") or {}
    new = set(summary.get("newly_deployed") or [])
    changed = not any("kept unchanged" in note for note in summary.get("notes", []))
    rows = [
        {
            "strategy": name,
            "seed_type": seed_of(name),
            "weight": float(weight),
            "newly_deployed": name in new,
            "version": summary.get("version"),
            "cash": float(summary.get("cash") or 0.0),
            "changed": changed,
            "decided_at": decided_at,
        }
        for name, weight in sorted(allocations.items())
    ]
    if not rows:  # nothing in force: one row says so, so the decision itself is on record
        rows = [
            {
                "strategy": None,
                "seed_type": None,
                "weight": 0.0,
                "newly_deployed": False,
                "version": summary.get("version"),
                "cash": 1.0,
                "changed": changed,
                "decided_at": decided_at,
            }
        ]
    frame = pd.DataFrame(rows)
    frame["decided_at"] = pd.to_datetime(frame["decided_at"], utc=True).dt.tz_localize(None)
    return frame


def run_row(totals: Mapping[str, Any], config: Mapping[str, Any], budget: Mapping[str, Any] | None) -> pd.DataFrame:
    """The one-row summary of an evolution run."""
    budget = budget or {}
    return pd.DataFrame(
        [
            {
                "total_strategies": config.get("total_strategies"),
                "generations": config.get("generations"),
                "seed_types": ",".join(sorted(config.get("seed_types", {}))),
                "objective": config.get("objective", "score"),
                "executor": totals.get("executor"),
                "evaluations": totals.get("evaluations"),
                "valid": totals.get("valid"),
                "best_score": totals.get("best_score"),
                "wall_s": totals.get("wall_s"),
                "evaluations_per_s": totals.get("evaluations_per_s"),
                "stopped_by_budget": totals.get("stopped_by_budget", 0),
                "budget_s": budget.get("total_s"),
                "cpu_s": budget.get("evolution_cpu_s"),
            }
        ]
    ).astype({"best_score": "float64", "wall_s": "float64", "budget_s": "float64", "cpu_s": "float64"})


def report_row(report: Mapping[str, Any]) -> pd.DataFrame:
    counts = report.get("counts", {})
    budget = report.get("budget") or {}
    return pd.DataFrame(
        [
            {
                **{k: counts.get(k) for k in ("generated", "valid", "validated_candidates", "passed_validation", "deployed")},
                "budget_s": budget.get("total_s"),
                "used_s": budget.get("used_s"),
                "within_budget": budget.get("within_budget"),
                "cpu_s": budget.get("cpu_s"),
                "cost_usd": budget.get("cost_usd"),
            }
        ]
    ).astype({"budget_s": "float64", "used_s": "float64", "cpu_s": "float64", "cost_usd": "float64"})


def create_views(con: duckdb.DuckDBPyConnection, root: Path) -> list[str]:
    """(Re)create a view per history table that has rows; returns the names created."""
    created = []
    for table in TABLES:
        if has_rows(root, table):
            con.execute(
                f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{table_glob(root, table)}', "
                "union_by_name = true, hive_partitioning = false)"
            )
            created.append(table)
    if any(Path(root).glob(f"{RETRO_DIR}/*/date=*/row.parquet")):
        con.execute(f"CREATE OR REPLACE VIEW retrospective AS SELECT * FROM read_parquet('{retrospective_glob(root)}', "
                    "union_by_name = true, hive_partitioning = false)")  # fmt: skip
        created.append("retrospective")
    return created


_LEDGER_VIEWS = {
    # rows of the ledger, tagged with the run whose deployment was in force: the latest evolution date
    # before the bar's day among the deployments that held the strategy (ties: the latest decision)
    "paper_pnl": ("pnl", "bar_time"),
    "paper_trades": ("trades", "exit_time"),
    "paper_daily": ("pnl_daily", "day"),
}


def attach_ledger(con: duckdb.DuckDBPyConnection, ledger_path: Path, with_deployments: bool) -> list[str]:
    """Attach the paper ledger read-only and create its views; none when it is missing or being written."""
    if not Path(ledger_path).exists():
        return []
    try:
        con.execute(f"ATTACH '{ledger_path}' AS ledger (READ_ONLY)")
    except duckdb.Error:
        return []  # a paper run holds the ledger's write lock; query again after it
    created = []
    for view, (table, time_column) in _LEDGER_VIEWS.items():
        if with_deployments:
            sql = (
                f"CREATE OR REPLACE VIEW {view} AS WITH held AS ("
                "SELECT strategy, evolution_date, arg_max(run_id, decided_at) AS run_id FROM deployments "
                "WHERE strategy IS NOT NULL GROUP BY ALL) "
                f"SELECT l.*, h.run_id, h.evolution_date FROM ledger.{table} l ASOF LEFT JOIN held h "
                f"ON l.strategy = h.strategy AND CAST(l.{time_column} AS DATE) > h.evolution_date"
            )
        else:
            sql = f"CREATE OR REPLACE VIEW {view} AS SELECT l.*, NULL::VARCHAR AS run_id, NULL::DATE AS evolution_date FROM ledger.{table} l"
        con.execute(sql)
        created.append(view)
    return created


def open_memory(root: Path, ledger_path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with every memory view over the artifacts root (and the ledger)."""
    con = duckdb.connect()
    created = create_views(con, root)
    if ledger_path is not None:
        attach_ledger(con, ledger_path, with_deployments="deployments" in created)
    return con


def views_in(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]


# --- the cross-run questions, answered as frames (plots and the research_memory asset use them) ------------
_BEST_BY_NIGHT = (
    "SELECT evolution_date, count(*) AS runs, max(best_score) AS best_score, avg(best_score) AS mean_best_score "
    "FROM runs GROUP BY evolution_date ORDER BY evolution_date"
)
_GATE_FAILURES = (
    "SELECT coalesce(rejected_by, 'passed') AS rejected_by, count(*) AS candidates, "
    "count(*) / sum(count(*)) OVER () AS share FROM verdicts GROUP BY 1 ORDER BY candidates DESC"
)
_SURVIVAL = (
    "SELECT seed_type, count(*) AS candidates, count(*) FILTER (WHERE passed) AS passed, "
    "avg(passed::INT) AS survival FROM verdicts GROUP BY seed_type ORDER BY survival DESC, candidates DESC"
)


def best_fitness_by_night(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return _answer(con, "runs", ["evolution_date", "runs", "best_score", "mean_best_score"], _BEST_BY_NIGHT)


def gate_failure_rates(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return _answer(con, "verdicts", ["rejected_by", "candidates", "share"], _GATE_FAILURES)


def family_survival(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return _answer(con, "verdicts", ["seed_type", "candidates", "passed", "survival"], _SURVIVAL)


def _answer(con: duckdb.DuckDBPyConnection, view: str, columns: list[str], sql: str) -> pd.DataFrame:
    """The query's frame; before any run wrote `view`, an empty frame with its `columns`."""
    return con.execute(sql).df() if view in views_in(con) else pd.DataFrame(columns=columns)
