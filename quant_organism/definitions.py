"""The one entry point: every domain's Dagster definitions, loaded from the `defs/` folder.

Each `defs/<domain>/` folder declares that domain's assets, checks, jobs, schedules, sensors or
resources at module level; `load_from_defs_folder` (Dagster's project convention, `[tool.dg]` in
pyproject.toml) finds and merges them, so adding a definition never means editing this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    # One process per run, as the jobs have: the automation sensor launches the implicit asset job, and a process
    # per step would re-import the stack for each asset of the chain.
    return dg.Definitions.merge(loaded, dg.Definitions(executor=dg.in_process_executor))


def load_definitions() -> dg.Definitions:
    """The Definitions, loaded now: what the CLI, benchmarks and tests resolve jobs from. Resources and the
    partitions (the first day, the coin universe) follow the environment at this call: the partitions are built
    when the defs modules are imported, so modules imported under another first day or universe are imported
    afresh (else the coins of whichever call came first in the process would stay, whatever the environment
    says now)."""
    _forget_defs_built_for_other_partitions()
    return defs()


def _forget_defs_built_for_other_partitions() -> None:
    partitions = sys.modules.get("quant_organism.defs.shared.partitions")
    if partitions is None or partitions.BUILT_FOR == partitions.partition_settings():
        return
    for name in [m for m in sys.modules if m == "quant_organism.defs" or m.startswith("quant_organism.defs.")]:
        del sys.modules[name]
