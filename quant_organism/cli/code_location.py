"""Runs the command line starts, created as runs of the code location the UI serves.

A run made by `JobDefinition.execute_in_process` carries no repository origin, so the UI cannot attribute it to a
job: Overview's timeline, a job's run history and the run's "job" link all leave it out. The UI's launchpad creates
a run with the remote origin of the job it came from (location and repository), and Dagster tags it with that
label (`.dagster/repository`). The command line does the same here, then executes the run in this process exactly
as `execute_in_process` would (every job of the project runs its steps in one process), so a run started by `make
demo` reads in the UI like one launched from it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.execution.execute_in_process import merge_run_tags
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

LOCATION_NAME = "quant_organism"
"""The code location's name, as `[tool.dg.project] code_location_name` in pyproject.toml gives it to `dg dev`."""
DEFINITIONS_MODULE = "quant_organism.definitions"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def job_origin(job_name: str) -> RemoteJobOrigin:
    """The origin the UI gives a run of `job_name` launched from its code location (what it attributes runs by)."""
    target = LoadableTargetOrigin(
        executable_path=sys.executable, module_name=DEFINITIONS_MODULE, working_directory=str(PROJECT_ROOT)
    )
    location = ManagedGrpcPythonEnvCodeLocationOrigin(loadable_target_origin=target, location_name=LOCATION_NAME)
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), job_name)


def execute(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition | ReconstructableJob,
    *,
    run_config: Mapping[str, object] | None = None,
    tags: Mapping[str, str] | None = None,
    partition_key: str | None = None,
) -> dg.JobExecutionResult:
    """Run `job` to the end in this process as a run of the code location (its success, run id and events). A
    reconstructable job (a workflow's) keeps its code origin, so a failed run can be re-executed from its failure."""
    run_config = dict(run_config or {})
    reconstructable = isinstance(job, ReconstructableJob)
    job_def = job.get_definition() if reconstructable else job
    runnable = job if reconstructable else InMemoryJob(job_def)
    merged = merge_run_tags(job_def, partition_key, tags, None, instance, run_config)
    plan = create_execution_plan(
        runnable, run_config=run_config, instance_ref=instance.get_ref() if instance.is_persistent else None, tags=merged
    )
    run = instance.create_run_for_job(
        job_def=job_def,
        execution_plan=plan,
        run_config=run_config,
        tags=merged,
        remote_job_origin=job_origin(job_def.name),
        job_code_origin=job.get_python_origin() if reconstructable else None,
    )
    return execute_run(runnable, run, instance, raise_on_error=False)
