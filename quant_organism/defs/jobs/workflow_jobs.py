"""Research workflows as Dagster jobs.

- `workflow_<name>`: one job per packaged workflow (quant_organism/evolution/workflows/*.yaml) and per file in
  QUANT_ORGANISM_WORKFLOWS_DIR: a `plan` step, then one step per phase, wired by `inherit_best_from`, so the
  phases and their lineage show in the UI and "re-execute from failure" resumes at the failed phase (the
  finished phases' outputs are reloaded, not recomputed).
- `research_workflow`: any workflow by name or path, given in the launchpad; its phases run in one step,
  each kept as it finishes, so a re-execution of a failed run skips the finished phases (same correlation id).

A workflow file that does not parse fails before any work, naming the line and field.
"""

import os
import sys
from pathlib import Path
from typing import Optional

import dagster as dg
import pandas as pd
from pydantic import Field

from quant_organism import settings
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource, correlation_id
from quant_organism.defs.shared.upstream import missing_upstream, uncovered_days
from quant_organism.evolution.workflow_spec import (
    PhaseSpec,
    WorkflowError,
    WorkflowSpec,
    load_workflow,
    packaged_workflows,
    resolve_workflow,
)
from quant_organism.market.frames import load_market_frames
from quant_organism.operations.job_names import WORKFLOW_JOB
from quant_organism.research.workflow import PhaseResult, WorkflowStore, run_phase, workflow_windows


class WorkflowPlanConfig(dg.Config):
    evolution_date: str = Field(default="", description="YYYY-MM-DD; empty: the last day every coin has candles for")


class AnyWorkflowConfig(dg.Config):
    workflow: str = Field(default="discovery_refinement", description="a packaged workflow's name, or a YAML file's path")
    evolution_date: str = Field(default="", description="YYYY-MM-DD; empty: the last day every coin has candles for")


def _evolution_date(requested: str, lake: LakeResource) -> str:
    if requested:
        return requested
    last = lake.lake().last_days("candles", settings.coins(), settings.interval())
    if not last or any(d is None for d in last.values()):
        raise missing_upstream(
            "market/candles",
            [f"{pd.Timestamp.now(tz='UTC') - pd.Timedelta(days=1):%Y-%m-%d}"],
            f"the lake has no candles for every coin ({last})",
        )
    return min(last.values()).isoformat()


def _frames(spec: WorkflowSpec, day: str, lake: LakeResource):
    windows = workflow_windows(spec, day)
    loaded = load_market_frames(lake.lake(), settings.coins(), windows.train.start, windows.walk_forward.end, settings.interval())
    if loaded.coverage() < 0.9 or not loaded.frames:
        raise missing_upstream(
            "market/candles",
            uncovered_days(loaded.frames, settings.coins(), windows.train.start, windows.walk_forward.end)
            or [f"{windows.train.start:%Y-%m-%d}"],
            f"only {loaded.coverage():.0%} of {windows.train.start.date()} .. {windows.walk_forward.end.date()} is in the lake",
        )
    return loaded.frames


def _progress(context, phase: PhaseSpec, total: int | None):
    """Logs each island; a tqdm bar per phase on the terminal when the CLI asked for one."""
    bar = None
    if os.environ.get("QUANT_ORGANISM_PROGRESS") == "1" and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, desc=phase.name, unit="gen", file=sys.stderr, leave=False)

    def on_event(event: dict) -> None:
        if bar is not None and event.get("event") == "generation":
            bar.update(1)
        if event.get("event") == "batch_finished":
            context.log.info(
                f"{phase.name}: island {event.get('batch')} {event.get('status')}, "
                f"{event.get('evaluations')} evaluations, best {event.get('best_score')}"
            )
        if event.get("event") == "run_finished" and bar is not None:
            bar.close()

    return on_event


def _run_one(
    context,
    spec: WorkflowSpec,
    phase: PhaseSpec,
    plan: dict,
    inherited: Optional[PhaseResult],
    lake: LakeResource,
    artifacts: ArtifactsResource,
) -> PhaseResult:
    store = WorkflowStore(Path(artifacts.root), spec.name, plan["run_id"], plan["evolution_date"])
    context.log.info(
        f"phase {phase.name} ({phase.type})" + (f", from the winners of {phase.inherit_best_from}" if inherited else "")
    )
    result = run_phase(
        spec,
        phase,
        plan["evolution_date"],
        _frames(spec, plan["evolution_date"], lake),
        inherited,
        store,
        on_progress=_progress(context, phase, None),
        interval=settings.interval(),
        testnet_env=settings.testnet_environment(),
    )
    context.log.info(f"phase {phase.name} done: {result.summary}")
    return result


def _metadata(result: PhaseResult) -> dict:
    return {
        "summary": dg.MetadataValue.json(result.summary),
        "winners": dg.MetadataValue.json([g.seed_id for g in result.winners]),
        "table": dg.MetadataValue.md(result.table.head(40).to_markdown(index=False) if len(result.table) else "(empty)"),
    }


def build_workflow_job(spec: WorkflowSpec, source: str, resource_defs: Optional[dict] = None) -> dg.JobDefinition:
    """The job of one workflow: `plan`, then a step per phase with the inherited winners as its input."""

    @dg.op(name="plan", description=f"check the workflow ({source}), pick the evolution date, name the run")
    def plan(context: dg.OpExecutionContext, config: WorkflowPlanConfig, lake: LakeResource) -> dict:
        day = _evolution_date(config.evolution_date, lake)
        run_id = correlation_id(context)
        context.log.info(
            f"workflow {spec.name}: evolution date {day}, correlation id {run_id}, phases {[p.name for p in spec.order()]}"
        )
        return {"workflow": spec.name, "evolution_date": day, "run_id": run_id, "source": source}

    def phase_op(phase: PhaseSpec):
        ins = {"plan": dg.In(dict)}
        if phase.inherit_best_from:
            ins["inherited"] = dg.In(dict)

        @dg.op(
            name=phase.name,
            ins=ins,
            description=f"{phase.type} phase"
            + (f", starting from the winners of {phase.inherit_best_from}" if phase.inherit_best_from else ""),
        )
        def run(context: dg.OpExecutionContext, lake: LakeResource, artifacts: ArtifactsResource, **inputs) -> dict:
            inherited = PhaseResult.from_payload(inputs["inherited"]) if "inherited" in inputs else None
            result = _run_one(context, spec, phase, inputs["plan"], inherited, lake, artifacts)
            context.add_output_metadata(_metadata(result))
            return result.to_payload()

        return run

    ops = {p.name: phase_op(p) for p in spec.phases}

    @dg.graph(name=f"workflow_{spec.name}", description=spec.description or f"research workflow {spec.name}")
    def workflow_graph():
        planned = plan()
        outputs: dict[str, object] = {}
        for phase in spec.order():
            kwargs = {"plan": planned}
            if phase.inherit_best_from:
                kwargs["inherited"] = outputs[phase.inherit_best_from]
            outputs[phase.name] = ops[phase.name](**kwargs)

    return workflow_graph.to_job(
        executor_def=dg.in_process_executor,  # one process: phases run in order, sharing the imported stack
        resource_defs=resource_defs,
        tags={"workflow": spec.name},
    )


@dg.op(name="run_workflow", description="all phases of the named workflow in order, each kept as it finishes")
def run_workflow(
    context: dg.OpExecutionContext, config: AnyWorkflowConfig, lake: LakeResource, artifacts: ArtifactsResource
) -> dict:
    try:
        spec = load_workflow(resolve_workflow(config.workflow, _user_dirs()))
    except WorkflowError as exc:
        raise dg.Failure(description=str(exc)) from None
    day = _evolution_date(config.evolution_date, lake)
    plan = {"workflow": spec.name, "evolution_date": day, "run_id": correlation_id(context), "source": config.workflow}
    results: dict[str, PhaseResult] = {}
    for phase in spec.order():
        inherited = results.get(phase.inherit_best_from) if phase.inherit_best_from else None
        results[phase.name] = _run_one(context, spec, phase, plan, inherited, lake, artifacts)
    return {name: r.summary for name, r in results.items()}


research_workflow_job = dg.GraphDefinition(name=WORKFLOW_JOB, node_defs=[run_workflow]).to_job(
    executor_def=dg.in_process_executor, description="run any research workflow (by name or path) in one step"
)


def _user_dirs() -> tuple[Path, ...]:
    folder = settings.workflows_dir()
    return (folder,) if folder is not None else ()


def workflow_sources() -> dict[str, Path]:
    """Workflow files offered as jobs: the packaged ones, then the user's folder (a name clash: the packaged wins)."""
    sources = dict(packaged_workflows())
    for folder in _user_dirs():
        for path in sorted(Path(folder).glob("*.yaml")):
            sources.setdefault(path.stem, path)
    return sources


def workflow_job(name_or_path: str) -> dg.JobDefinition:
    """A workflow's job with the environment's resources (the CLI runs this; reconstructable by name or path)."""
    from quant_organism.defs.shared.resources import default_resources

    path = resolve_workflow(name_or_path, _user_dirs())
    return build_workflow_job(load_workflow(path), str(path), resource_defs=default_resources())


@dg.definitions
def workflow_jobs() -> dg.Definitions:
    jobs = [research_workflow_job]
    for path in workflow_sources().values():
        try:
            jobs.append(build_workflow_job(load_workflow(path), str(path)))
        except WorkflowError as exc:  # one user's broken file must not take the code location down
            import logging

            logging.getLogger(__name__).warning("workflow %s skipped: %s", path, exc)
    return dg.Definitions(jobs=jobs)
