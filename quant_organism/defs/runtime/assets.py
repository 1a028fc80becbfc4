"""`runtime/paper_performance`: the deployed set paper-traded on the bars after its deployment."""

import dagster as dg
import pandas as pd
from pydantic import Field

from quant_organism import settings
from quant_organism.defs.deployment.assets import DEPLOYED, REPORT
from quant_organism.defs.shared.partitions import daily_partitions
from quant_organism.defs.shared.resources import LakeResource, PaperLedgerResource, StrategyStoreResource
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.manifest import load_current_deployment
from quant_organism.market.frames import load_market_frames
from quant_organism.reporting.plots import equity_curves, markdown_image
from quant_organism.runtime import DecayRules, PaperLedger, PaperTrader, StrategyRuntimeEngine, mark_decaying

PAPER = dg.AssetKey(["runtime", "paper_performance"])
# Bars of history before the traded day so that indicators are warm when paper trading starts.
WARMUP_DAYS = 30
PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


_RULES = DecayRules()


class PaperConfig(dg.Config):
    decay_min_days: int = Field(default=_RULES.min_days, description="paper days before decay rules apply")
    decay_min_sharpe: float = Field(default=_RULES.min_sharpe, description="decaying below this paper Sharpe")
    decay_max_drawdown: float = Field(default=_RULES.max_drawdown, description="decaying above this paper drawdown")


@dg.asset(
    key=PAPER,
    partitions_def=daily_partitions,
    # Day D trades the deployment evolved on data up to D-1 (the nightly run after D-1 closes).
    deps=[
        dg.AssetDep(DEPLOYED, partition_mapping=PREVIOUS_DAY),
        dg.AssetDep(REPORT, partition_mapping=PREVIOUS_DAY),
    ],
    group_name="runtime",
    kinds={"duckdb"},
    description="Paper trading of the deployed set on the day's bars after deployment (fees, slippage, funding as in "
    "backtests), in a persistent DuckDB ledger; feeds paper figures back into the configs and flags decay.",
)
def paper_performance(
    context: dg.AssetExecutionContext,
    config: PaperConfig,
    lake: LakeResource,
    catalog: StrategyStoreResource,
    paper_ledger: PaperLedgerResource,
) -> dg.MaterializeResult:
    day = pd.Timestamp(context.partition_key, tz="UTC")
    store = catalog.store()
    deployment = load_current_deployment(store)
    live = store.load_strategies(status=LIVE_STATUSES)
    if not live or deployment is None:
        return dg.MaterializeResult(metadata={"strategies": 0, "note": "nothing is deployed: no paper trading"})
    deployed_for = pd.Timestamp(deployment.get("evolution_date") or day.date())
    deployed_for = deployed_for.tz_localize("UTC") if deployed_for.tzinfo is None else deployed_for
    if day <= deployed_for:
        return dg.MaterializeResult(
            metadata={"strategies": len(live), "note": f"deployment uses data up to {deployed_for.date()}: no bars after it yet"}
        )
    start, end = day - pd.Timedelta(days=WARMUP_DAYS), day + pd.Timedelta(days=1)
    loaded = load_market_frames(lake.lake(), settings.coins(), start, end, settings.interval())
    if not any((f.index >= day).any() for f in loaded.frames.values()):
        raise dg.Failure(description=f"no bars for {day.date()} in the lake: materialise market/candles for that day first")
    ledger = paper_ledger.ledger()
    engine = StrategyRuntimeEngine(store)
    summary = PaperTrader(engine, ledger).run(loaded.frames, start=day, end=day + pd.Timedelta(days=1))
    metrics, decaying = mark_decaying(
        store, ledger, DecayRules(min_days=config.decay_min_days, min_sharpe=config.decay_min_sharpe, max_drawdown=config.decay_max_drawdown)
    )
    context.log.info(f"paper-traded {summary.books} books over {summary.bars} bars; {len(decaying)} strategies decaying")
    table = ["| strategy | days | trades | return | sharpe | max dd |", "|---|---|---|---|---|---|"]
    table += [
        f"| {m.strategy} | {m.days} | {m.trade_count} | {m.total_return:.2%} | {m.sharpe:.2f} | {m.max_drawdown:.2%} |"
        for m in metrics.values()
    ]
    curves = {name: m.equity for name, m in metrics.items() if len(m.equity)}
    return dg.MaterializeResult(
        metadata={
            "strategies": dg.MetadataValue.int(len(metrics)),
            "bars": dg.MetadataValue.int(summary.bars),
            "ledger_rows": dg.MetadataValue.json(summary.rows),
            "decaying": dg.MetadataValue.json([v.strategy for v in decaying]),
            "paper": dg.MetadataValue.md("\n".join(table)),
            "equity_plot": dg.MetadataValue.md(markdown_image(equity_curves(curves, "paper equity"), "paper equity")),
            "ledger": dg.MetadataValue.path(str(ledger.path)),
        }
    )


