"""The one entry point: every domain's Dagster definitions merged, with resources from the environment."""

from __future__ import annotations

import dagster as dg

from quant_organism.defs import market
from quant_organism.defs.jobs import DEFINITIONS as JOBS
from quant_organism.defs.resources import default_resources

defs = dg.Definitions.merge(
    market.DEFINITIONS,
    JOBS,
    dg.Definitions(resources=default_resources()),
)
