"""Jobs: the ingest of market data, and the evolution chain with the packaged presets as run config."""

import dagster as dg

from quant_organism.defs.deployment.assets import DEPLOYED, REPORT
from quant_organism.defs.evolution.assets import POPULATION, STRATEGY_CONFIGS, EvolutionRunConfig
from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.market.regime_assets import REGIME, SENTIMENT
from quant_organism.defs.reporting.research_memory import MEMORY
from quant_organism.defs.runtime.assets import PAPER
from quant_organism.defs.validation.assets import VALIDATED
from quant_organism.defs.validation.documented_tier import DOCUMENTED
from quant_organism.defs.validation.portfolio_search_asset import PORTFOLIO
from quant_organism.operations.job_names import EVOLVE_FULL_JOB, EVOLVE_JOB, INGEST_JOB, MEMORY_JOB, PAPER_JOB, REGIME_JOB

ingest_job = dg.define_asset_job(
    INGEST_JOB,
    selection=dg.AssetSelection.assets(CANDLES, FUNDING),
    description="Fetch, quality-check and store candles and funding rates for date × coin partitions.",
)

regime_job = dg.define_asset_job(
    REGIME_JOB,
    selection=dg.AssetSelection.assets(SENTIMENT, REGIME),
    executor_def=dg.in_process_executor,
    description="The Fear & Greed index and the market regimes for daily partitions (after their candles).",
)

EVOLUTION_CHAIN = dg.AssetSelection.assets(POPULATION, STRATEGY_CONFIGS, VALIDATED, DEPLOYED, REPORT, DOCUMENTED, PORTFOLIO)


def _evolution_job(name: str, preset: str):
    """One job per packaged preset: the launchpad opens with that preset's run config, editable."""
    return dg.define_asset_job(
        name,
        selection=EVOLUTION_CHAIN,
        # One process for the chain: a process per step would re-import the stack (~30 s each here);
        # the parallelism lives inside the population step (process pool or Ray).
        executor_def=dg.in_process_executor,
        config=dg.RunConfig(ops={"evolution__population": EvolutionRunConfig(preset=preset)}),
        description=f"population -> configs -> validated, the documented tier and the portfolio search on the same frames -> "
        f"deployed (every tier's passers in one decision) -> report, for one evolution date, '{preset}' preset.",
    )


paper_job = dg.define_asset_job(
    PAPER_JOB,
    selection=dg.AssetSelection.assets(PAPER),
    description="Paper-trade the deployed set on one day's bars after deployment and update its configs.",
)

evolve_job = _evolution_job(EVOLVE_JOB, "test")
evolve_full_job = _evolution_job(EVOLVE_FULL_JOB, "full")


memory_job = dg.define_asset_job(
    MEMORY_JOB,
    selection=dg.AssetSelection.assets(MEMORY),
    executor_def=dg.in_process_executor,
    description="Refresh the memory views over every run's results and the cross-run plots.",
)
