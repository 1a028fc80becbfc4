"""The one entry point: every domain's Dagster definitions, loaded from the `defs/` folder.

Each `defs/<domain>/` folder declares that domain's assets, checks, jobs, schedules, sensors or
resources at module level; `load_from_defs_folder` (Dagster's project convention, `[tool.dg]` in
pyproject.toml) finds and merges them, so adding a definition never means editing this file.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from quant_organism import settings
    from quant_organism.core import faults

    faults.arm(settings.fault_to_inject())  # every process that loads the code location: runs, the CLI, the UI
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


def load_definitions() -> dg.Definitions:
    """The Definitions, loaded now (resources follow the environment at this call): what the CLI, benchmarks
    and tests resolve jobs from."""
    return defs()
