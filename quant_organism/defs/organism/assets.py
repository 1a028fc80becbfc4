"""`organism/retrospective`: the organism's track record, one evolution date per partition (monthly by default).

Each partition runs the production chain on the lake's bars before its date (the preset's whole lookback, or on
a shorter history every day since the lake's first, the windows shrunk alike as the nightly run's are), with the
previous partition's deployment as incumbents, and paper-trades what it deploys until the next partition's date,
beside cash, naive (the in-sample best) and equal-weight buy-and-hold (reporting/retrospective.py). The previous
partition must be materialised first (a backfill runs them in order); a rerun rewrites the same files.
"""

from pathlib import Path
from typing import Optional

import dagster as dg
import pandas as pd
from pydantic import Field

from quant_organism import settings
from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.market.regime_assets import REGIME
from quant_organism.defs.shared.history import fit_to_history
from quant_organism.defs.shared.numbers import rounded
from quant_organism.defs.shared.partitions import ProjectPartitions, partitioned
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource
from quant_organism.defs.shared.upstream import days_between, missing_upstream
from quant_organism.deployment.chain import ChainSettings
from quant_organism.evolution.evolution_config import load_preset
from quant_organism.market.frames import load_market_frames
from quant_organism.reporting import retrospective_store as store
from quant_organism.reporting.plots import markdown_image, retrospective_curves
from quant_organism.reporting.retrospective import RetrospectiveSettings, chained
from quant_organism.settings import ProjectSettings

RETROSPECTIVE = dg.AssetKey(["organism", "retrospective"])
PREVIOUS_DATE = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def _first_date(project: ProjectSettings) -> pd.Timestamp:
    """The first evolution date with the production preset's shortest history after the partitions' start (its
    windows shrunk alike, as the nightly run's would be then)."""
    days = load_preset(project.production_preset).shortest_lookback_days
    return pd.Timestamp(project.start_date) + pd.Timedelta(days=days)


def retrospective_partitions(parts: ProjectPartitions) -> dg.TimeWindowPartitionsDefinition:
    """One partition an evolution date, on the project's retrospective cadence, from the first date with history."""
    first = _first_date(parts.project).strftime("%Y-%m-%d")
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule=parts.project.retrospective_cron,
        start=first,
        end=max(parts.end, first) if parts.end else None,  # none before the first
        fmt="%Y-%m-%d",
        timezone="UTC",
    )


class RetrospectiveConfig(dg.Config):
    preset: Optional[str] = Field(default=None, description="evolution preset (default: the production preset)")
    executor: Optional[str] = Field(default=None, description="evolution executor override (serial | process | ray | auto)")


@partitioned(
    dg.asset,
    retrospective_partitions,
    key=RETROSPECTIVE,
    # Each date reads the lake's history before it (a lookback that grows with the data) and paper-trades the bars
    # up to the next date: any day of the market data may feed it, hence all partitions.
    deps=[
        dg.AssetDep(RETROSPECTIVE, partition_mapping=PREVIOUS_DATE),
        *(dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in (CANDLES, FUNDING, REGIME)),
    ],
    group_name="organism",
    kinds={"python", "parquet"},
)
def retrospective(
    context: dg.AssetExecutionContext, config: RetrospectiveConfig, lake: LakeResource, artifacts: ArtifactsResource
) -> dg.MaterializeResult:
    """The organism's track record: the production chain on the lake's bars strictly before the date (the previous
    date's deployment as incumbents, judged on their forward record), its deployment paper-traded through the runtime
    until the next date, beside cash, the naive in-sample best and equal-weight buy-and-hold. Every figure is forward:
    on bars after the data that chose it."""
    window = context.partition_time_window
    date, until = pd.Timestamp(window.start).tz_convert("UTC"), pd.Timestamp(window.end).tz_convert("UTC")
    preset = config.preset or settings.production_preset()
    preset_config = load_preset(preset, **({"executor": config.executor} if config.executor else {}))
    evening = (date - pd.Timedelta(days=1)).strftime("%Y-%m-%d")  # the chain runs after the day before `date` closes
    evolution = fit_to_history(context, preset_config, lake, evening)
    lookback = evolution.lookback_days
    start = date - pd.Timedelta(days=lookback)
    loaded = load_market_frames(lake.lake(), settings.coins(), start, until, settings.interval())
    if not any((f.index >= date).any() for f in loaded.frames.values()):
        raise missing_upstream(
            "market/candles",
            days_between(date, until - pd.Timedelta(days=1)),
            "no bars on or after the evolution date to trade forward",
        )
    dates = context.assets_def.partitions_def
    previous = (
        None
        if context.partition_key == dates.get_first_partition_key()
        else pd.Timestamp(dates.get_prev_partition_window(window.start).start).tz_convert("UTC")
    )
    track = store.track_name(settings.source_name(), settings.interval(), preset, None)
    spec = RetrospectiveSettings(ChainSettings(evolution=evolution))
    try:
        outcome = store.judge_and_save(Path(artifacts.root), track, loaded.frames, date, until, previous, spec)
    except store.MissingPreviousDate as missing:
        raise dg.Failure(description=str(missing)) from None
    row = outcome.row()
    rows, curves = store.load_track(Path(artifacts.root), track, up_to=date)
    summary = chained(rows, curves)
    context.log.info(
        f"retrospective {date.date()}: deployed {row['deployed'] or 'nothing'}; forward return organism "
        f"{row['organism_return']:+.2%}, naive {'none' if row['naive'] is None else format(row['naive_return'], '+.2%')}, "
        f"buy-and-hold {row['buy_and_hold_return']:+.2%}" + "".join(f"; {note}" for note in row["notes"][:1])
    )
    table = pd.DataFrame(rows).reindex(columns=["date", "until", "deployed", "spa_pvalue", "detectable_sharpe_50", "organism_return", "naive_return",
                                "buy_and_hold_return", "organism_drawdown", "turnover", "costs", "parity_ok"])  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "span": "forward (bars after the data that chose every figure's subject)",
            "deployed": dg.MetadataValue.json(outcome.deployed),
            "retired": dg.MetadataValue.json(outcome.retired),
            "notes": dg.MetadataValue.json(row["notes"]),  # why nothing was deployed, why no naive, parity problems
            "forward_return": dg.MetadataValue.json(
                {c: row[f"{c}_return"] for c in ("organism", "cash", "naive", "buy_and_hold", "plain_rule")}
            ),
            "spa_pvalue": rounded(row["spa_pvalue"], 4),
            "detectable_sharpe_50": rounded(row.get("detectable_sharpe_50"), 2),
            "paper_matches_backtest": dg.MetadataValue.bool(bool(row["parity_ok"])),
            "chained": dg.MetadataValue.json(summary),
            "dates": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".4f")),
            "equity_plot": dg.MetadataValue.md(markdown_image(retrospective_curves(curves, track), "retrospective")),
            "track": track,
            "lookback_days": dg.MetadataValue.int(lookback),
        }
    )
