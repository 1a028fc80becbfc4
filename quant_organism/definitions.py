"""The one entry point: every domain's Dagster definitions merged, with resources from the environment."""

from __future__ import annotations

import dagster as dg

from quant_organism.defs import automation, deployment, evolution, jobs, market, runtime, validation
from quant_organism.defs.resources import default_resources

# Domain modules are imported as modules: Dagster allows one Definitions object at module scope.
defs = dg.Definitions.merge(
    market.DEFINITIONS,
    evolution.DEFINITIONS,
    validation.DEFINITIONS,
    deployment.DEFINITIONS,
    runtime.DEFINITIONS,
    automation.DEFINITIONS,
    jobs.DEFINITIONS,
    dg.Definitions(resources=default_resources()),
)
