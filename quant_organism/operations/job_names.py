"""The project's job names: one definition, used by the jobs, the sensors and the CLI."""

INGEST_JOB = "ingest_market_data"
EVOLVE_JOB = "evolve"  # the evolution chain with the `test` preset (CI, quick looks)
EVOLVE_FULL_JOB = "evolve_full"  # the same chain with the production (`full`) preset
PAPER_JOB = "paper_trade"
MEMORY_JOB = "research_memory"  # refresh the views and cross-run plots over every run's results
WORKFLOW_JOB = "research_workflow"  # a YAML workflow by name or path, all phases in one run
REGIME_JOB = "market_regime"  # sentiment and regimes for a range of days, after the candles are in

EVOLVE_JOBS_BY_PRESET = {"test": EVOLVE_JOB, "full": EVOLVE_FULL_JOB}
PAPER_BARS_JOB = "paper_trade_bars"  # the deployed set on one hour's closed bars (hourly partitions)
