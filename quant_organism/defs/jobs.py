"""Jobs: the ingest of market data, and the evolution chain with the packaged presets as run config."""

import dagster as dg

from quant_organism.defs.evolution import POPULATION, STRATEGY_CONFIGS, EvolutionRunConfig
from quant_organism.defs.market import CANDLES, FUNDING
from quant_organism.defs.deployment import DEPLOYED, REPORT
from quant_organism.defs.runtime import PAPER
from quant_organism.defs.validation import VALIDATED

ingest_job = dg.define_asset_job(
    "ingest_market_data",
    selection=dg.AssetSelection.assets(CANDLES, FUNDING),
    description="Fetch, quality-check and store candles and funding rates for date × coin partitions.",
)

EVOLUTION_CHAIN = dg.AssetSelection.assets(POPULATION, STRATEGY_CONFIGS, VALIDATED, DEPLOYED, REPORT)


def _evolution_job(name: str, preset: str):
    """One job per packaged preset: the launchpad opens with that preset's run config, editable."""
    return dg.define_asset_job(
        name,
        selection=EVOLUTION_CHAIN,
        # One process for the chain: a process per step would re-import the stack (~30 s each here);
        # the parallelism lives inside the population step (process pool or Ray).
        executor_def=dg.in_process_executor,
        config=dg.RunConfig(ops={"evolution__population": EvolutionRunConfig(preset=preset)}),
        description=f"population -> configs -> validated -> deployed -> report for one evolution date, '{preset}' preset.",
    )


paper_job = dg.define_asset_job(
    "paper_trade",
    selection=dg.AssetSelection.assets(PAPER),
    description="Paper-trade the deployed set on one day's bars after deployment and update its configs.",
)

evolve_job = _evolution_job("evolve", "test")
evolve_full_job = _evolution_job("evolve_full", "full")

DEFINITIONS = dg.Definitions(jobs=[ingest_job, evolve_job, evolve_full_job, paper_job])
