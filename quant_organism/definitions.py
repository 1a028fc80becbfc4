"""The one entry point: the project's Dagster definitions, built by a function from one settings object.

Each `defs/<domain>/` folder declares that domain's assets, checks, jobs, schedules, sensors and resources;
`load_from_defs_folder` (Dagster's project convention, `[tool.dg]` in pyproject.toml) finds the module-level ones,
so adding a definition never means editing this file. The partitioned ones are declared with `partitioned(...)`
and built here on the partitions of the settings read at this load, with the resources of the same settings:
another first day, universe or data root is another load, and no module is imported twice.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import dagster as dg

from quant_organism.defs.shared.partitions import ProjectPartitions, build_partitioned, partitions_end
from quant_organism.defs.shared.resources import resources_for
from quant_organism.settings import ProjectSettings


def build_definitions(project: ProjectSettings) -> dg.Definitions:
    """Every domain's definitions for `project`: its partitions, its resources, one process per run."""
    return _built(project, partitions_end(project))


@lru_cache(maxsize=4)
def _built(project: ProjectSettings, last: str | None) -> dg.Definitions:
    """One build per distinct settings and data end: an unchanged load returns the same definitions."""
    declared = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    parts = ProjectPartitions(project, last)
    # One process per run, as the jobs have: the automation sensor launches the implicit asset job, and a process
    # per step would re-import the stack for each asset of the chain.
    rest = dg.Definitions(resources=resources_for(project), executor=dg.in_process_executor)
    return dg.Definitions.merge(declared, build_partitioned(parts), rest)


@dg.definitions
def defs() -> dg.Definitions:
    return load_definitions()


def load_definitions() -> dg.Definitions:
    """The Definitions for the environment of this call: what the UI, the CLI, benchmarks and tests resolve jobs from."""
    return build_definitions(ProjectSettings.from_environment())
