"""`reporting/research_memory`: every run's results as DuckDB views, and the cross-run plots.

Unpartitioned: it reads the history of all dates and runs (core/run_history.py). Materialise it after
evolution runs (the main command does) to refresh the plots; the views in the catalogue file stay live,
as they read the history's Parquet files by glob.
"""

from pathlib import Path

import dagster as dg
import duckdb as duckdb_lib
from dagster_duckdb import DuckDBResource

from quant_organism.defs.deployment.assets import REPORT
from quant_organism.defs.shared.resources import ArtifactsResource, PaperLedgerResource
from quant_organism.reporting.memory import (
    best_fitness_by_night,
    create_views,
    family_survival,
    gate_failure_rates,
    open_memory,
    views_in,
)
from quant_organism.reporting.plots import markdown_image
from quant_organism.reporting.plots import research_memory as memory_plot

MEMORY = dg.AssetKey(["reporting", "research_memory"])


def _table(frame, limit: int = 30) -> str:
    return frame.head(limit).to_markdown(index=False) if len(frame) else "(no rows yet)"


@dg.asset(key=MEMORY, deps=[REPORT], group_name="reporting", kinds={"duckdb"})
def research_memory(
    context: dg.AssetExecutionContext, artifacts: ArtifactsResource, duckdb: DuckDBResource, paper_ledger: PaperLedgerResource
) -> dg.MaterializeResult:
    """Every run's populations, verdicts, deployments and reports as DuckDB views (run_id, evolution_date), with
    cross-run plots: best fitness per night, gate failure rates, seed-family survival."""
    root = Path(artifacts.root)
    with open_memory(root, Path(paper_ledger.path)) as con:
        views = views_in(con)
        best, gates, families = best_fitness_by_night(con), gate_failure_rates(con), family_survival(con)
        runs = con.execute("SELECT count(DISTINCT run_id) FROM runs").fetchone()[0] if "runs" in views else 0
    catalog_views: list[str] = []
    try:  # the same views (history only: the ledger is attached per query) in the project's catalogue file
        with duckdb.get_connection() as con:
            catalog_views = create_views(con, root)
    except duckdb_lib.IOException as exc:
        context.log.warning(f"catalogue busy, views not refreshed there this time: {exc}")
    context.log.info(f"memory: {runs} runs, views {views}")
    return dg.MaterializeResult(
        metadata={
            "runs": dg.MetadataValue.int(int(runs)),
            "views": dg.MetadataValue.json(views),
            "catalog_views": dg.MetadataValue.json(catalog_views),
            "memory_plot": dg.MetadataValue.md(markdown_image(memory_plot(best, gates, families), "memory")),
            "best_fitness_by_night": dg.MetadataValue.md(_table(best)),
            "gate_failure_rates": dg.MetadataValue.md(_table(gates)),
            "family_survival": dg.MetadataValue.md(_table(families)),
        }
    )
