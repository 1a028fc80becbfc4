"""`python -m quant_organism run --workflow NAME|FILE [--resume RUN_ID]`: a research workflow from the terminal.

The file is checked before anything runs (a bad one: the line and field, exit code 2); then the preset's
history is ingested as for the main job, and the workflow's Dagster job (the same job the UI shows for a
packaged workflow: a step per phase) runs on the persistent instance. `--resume RUN_ID` re-executes a failed
(or killed) run from its failed phase: Dagster reloads the finished phases' outputs instead of recomputing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import dagster as dg

from quant_organism import settings
from quant_organism.cli import code_location
from quant_organism.cli.launch import LaunchError, base_run_config, date_window, persistent_instance, write_run_log
from quant_organism.cli.phases import history_window, ingest_phase
from quant_organism.defs.automation.orphans import reap_orphaned_runs, worker_tags
from quant_organism.evolution.evolution_config import load_preset
from quant_organism.evolution.workflow_spec import WorkflowError, WorkflowSpec, load_workflow, resolve_workflow
from quant_organism.research.workflow import WorkflowStore

JOBS_MODULE = "quant_organism.defs.jobs.workflow_jobs"


def reconstructable_workflow_job(path: Path):
    """The workflow's job, reconstructable from its file (in-process execution and re-execution need that)."""
    return dg.build_reconstructable_job(JOBS_MODULE, "workflow_job", reconstructable_args=(str(path),))


def run_workflow_command(args: argparse.Namespace, terminal) -> int:
    user_dirs = (settings.workflows_dir(),) if settings.workflows_dir() else ()
    try:
        path = resolve_workflow(args.workflow, user_dirs)
        spec = load_workflow(path)
    except WorkflowError as exc:
        print(f"quant_organism: workflow not run, nothing was done:\n{exc}", file=sys.stderr)
        return 2
    terminal.say(f"workflow {spec.name} ({path}): phases {' -> '.join(p.name for p in spec.order())}")
    instance = persistent_instance()
    for run_id, reason in reap_orphaned_runs(instance, heartbeat_timeout=settings.run_heartbeat_timeout()):
        terminal.say(f"cleanup: run {run_id[:8]} was left running by a dead process ({reason}); marked failed")
    started = time.perf_counter()
    if args.resume:
        parent = instance.get_run_by_id(args.resume)
        if parent is None:
            print(f"quant_organism: no run {args.resume!r} in {settings.dagster_home()}", file=sys.stderr)
            return 2
        day = parent.run_config.get("ops", {}).get("plan", {}).get("config", {}).get("evolution_date")
        options = dg.ReexecutionOptions.from_failure(args.resume, instance)
        with dg.execute_job(
            reconstructable_workflow_job(path), instance, reexecution_options=options, tags=worker_tags(), raise_on_error=False
        ) as result:
            success, run_id = result.success, result.run_id
    else:
        try:
            days = args.days or load_preset(spec.preset).lookback_days
            first, day = date_window(args.end, days)
        except LaunchError as exc:
            print(f"quant_organism: {exc}", file=sys.stderr)
            return 2
        window = history_window(terminal, first, day, days, end_given=args.end is not None)
        if window is None:
            return 1
        first, day = window
        status = ingest_phase(terminal, instance, first, day)
        if status is not None:
            return status
        run_config = {**base_run_config(), "ops": {"plan": {"config": {"evolution_date": day}}}}
        result = code_location.execute(instance, reconstructable_workflow_job(path), run_config=run_config, tags=worker_tags())
        success, run_id = result.success, result.run_id
    write_run_log(instance, run_id, terminal.log_file)
    run = instance.get_run_by_id(run_id)
    root_id = run.root_run_id or run_id
    if not success:
        return terminal.fail(
            f"workflow {spec.name}",
            f"run {run_id}",
            "a phase failed (see the log)",
            f"fix the cause, then resume: python -m quant_organism run --workflow {args.workflow} --resume {run_id}",
        )
    for line in phase_lines(spec, WorkflowStore(settings.data_dir(), spec.name, root_id, str(day))):
        terminal.say("      " + line)
    terminal.say(
        f"[workflow] {spec.name} done in {time.perf_counter() - started:.1f}s (run {run_id[:8]}, "
        f"correlation id {root_id}); query: python -m quant_organism query "
        f"\"SELECT phase, count(*) FROM populations WHERE run_id = '{root_id}' GROUP BY phase\""
    )
    return 0


def phase_lines(spec: WorkflowSpec, store: WorkflowStore) -> list[str]:
    lines = []
    for i, phase in enumerate(spec.order(), 1):
        result = store.load(phase.name)
        if result is None:
            lines.append(f"[{i}/{len(spec.phases)}] {phase.name}: no result")
            continue
        s = result.summary
        if phase.type == "optimization":
            detail = (
                f"{s.get('evaluations')} evaluations ({s.get('inherited')} inherited seeds), best {s.get('objective')} "
                f"{s.get('best_objective') if s.get('best_objective') is None else round(s['best_objective'], 3)}, "
                f"{len(result.winners)} winners"
            )
        elif phase.type == "backtest":
            detail = (
                f"{s.get('strategies')} strategies at {s.get('position_pct')}% size on the held-out windows: "
                f"{s.get('positive_in_both_windows')} positive in both, best walk-forward Sharpe "
                f"{s.get('best_walk_forward_sharpe') if s.get('best_walk_forward_sharpe') is None else round(s['best_walk_forward_sharpe'], 2)}"
            )
        else:
            detail = f"{s.get('passed')}/{s.get('candidates')} pass validation ({s.get('mode')}), SPA p {s.get('spa_pvalue')}"
        lines.append(f"[{i}/{len(spec.phases)}] {phase.name} ({phase.type}, {s.get('wall_s', 0):.1f}s): {detail}")
    return lines
