"""`runtime/paper_bars`: the deployed set paper-traded on each bar shortly after it closes (hourly partitions).

The ledger stays the one record: an hour's run writes that hour's bars (a rerun rewrites them identically,
restarting from the state saved before the hour), and the daily `runtime/paper_performance` is the day's
roll-up: it re-trades the day on the stored, quality-checked bars (identical when the source did not revise
them), then judges decay and retirement. Bars of a day not ingested yet come straight from the market
source (the `hyperliquid` source: the live exchange), so the book follows the market as bars close.
"""

import dagster as dg
import pandas as pd

from quant_organism import settings
from quant_organism.defs.automation.conditions import hourly_paper_condition, traded_coins
from quant_organism.defs.deployment.assets import DEPLOYED
from quant_organism.defs.runtime.assets import PARITY_CHECK, PREVIOUS_DAY, _book_in_force, _trade, carried_frames
from quant_organism.defs.shared.numbers import rounded
from quant_organism.defs.shared.partitions import partitioned
from quant_organism.defs.shared.resources import (
    LakeResource,
    MarketSource,
    OperatorPolicyResource,
    PaperLedgerResource,
    StrategyStoreResource,
)
from quant_organism.market.frames import extend_with_source
from quant_organism.market.schema import interval_delta
from quant_organism.operations.job_names import PAPER_BARS_JOB
from quant_organism.runtime.operator import PolicyFileError

PAPER_BARS = dg.AssetKey(["runtime", "paper_bars"])


@partitioned(
    dg.asset,
    "hourly",
    key=PAPER_BARS,
    automation_condition=hourly_paper_condition(),
    deps=[dg.AssetDep(DEPLOYED, partition_mapping=PREVIOUS_DAY)],
    check_specs=[
        dg.AssetCheckSpec(
            PARITY_CHECK,
            asset=PAPER_BARS,
            description="every paper book's record so far equals "
            "the vectorised backtest's on the same bars (judged after every hour)",
        )
    ],
    group_name="runtime",
    kinds={"duckdb"},
)
def paper_bars(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    market_source: MarketSource,
    catalog: StrategyStoreResource,
    paper_ledger: PaperLedgerResource,
    operator_policy: OperatorPolicyResource,
) -> dg.MaterializeResult:
    """The deployed set paper-traded on one hour's closed bars, into the same ledger as the day's roll-up
    (runtime/paper_performance); bars not ingested yet come from the market source."""
    window = context.partition_time_window
    start, end = pd.Timestamp(window.start).tz_convert("UTC"), pd.Timestamp(window.end).tz_convert("UTC")
    if end > pd.Timestamp.now(tz="UTC"):
        raise dg.Failure(description=f"the bars of {start:%Y-%m-%d %H:00} have not closed yet")
    try:
        policy, policy_source = operator_policy.policy(catalog.store())
    except PolicyFileError as exc:
        raise dg.Failure(description=str(exc)) from None
    book = _book_in_force(catalog.store(), start.floor("D"))
    if isinstance(book, dg.MaterializeResult):
        return book
    deployment, live, probation, _ = book  # documented rules act at the day's close: the daily paper asset steps them
    coins, interval = traded_coins(live), settings.interval()

    def frames_from(anchor: pd.Timestamp) -> dict[str, pd.DataFrame]:
        stored = carried_frames(context, paper_ledger.frame_cache(), lake.lake(), coins, anchor, end, interval)
        day, step = start.floor("D"), interval_delta(interval)
        stale = {coin: (f"ends {stored[coin].index[-1]}" if coin in stored else "has no bars")
                 for coin in coins if coin not in stored or stored[coin].index[-1] < day - step}  # fmt: skip
        if stale:
            raise dg.Failure(
                description=f"the lake is not up to the day before {day:%Y-%m-%d} ("
                + "; ".join(f"{c} {why}" for c, why in stale.items())
                + "): the book trades on every earlier bar. Materialise market/candles up to that day "
                "(the nightly ingest keeps it there), then rerun this hour"
            )
        frames = extend_with_source(lake.lake(), stored, market_source.client(), coins, start.floor("D"), end, interval)
        if not any(((f.index >= start) & (f.index < end)).any() for f in frames.values()):
            raise dg.Failure(description=f"no closed bar in {start:%Y-%m-%d %H:00}..{end:%H:00} from the lake or the source")
        return frames

    ledger = paper_ledger.ledger()
    with ledger.session():
        traded = _trade(context, live, deployment, frames_from, start, end, policy, policy_source, policy.risk_limits(), ledger)
    context.log.info(f"paper-traded {len(live)} strategies over {traded.bars} bar(s) of {start:%Y-%m-%d %H:00}")
    return dg.MaterializeResult(
        metadata={
            "strategies": dg.MetadataValue.int(len(live)),
            "on_probation": dg.MetadataValue.json(probation),
            "bars": dg.MetadataValue.int(traded.bars),
            "ledger_rows": dg.MetadataValue.json(traded.rows),
            "policy": dg.MetadataValue.json({**policy.model_dump(), "source": policy_source}),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=PARITY_CHECK,
                passed=not traded.broken,
                metadata={
                    "books": dg.MetadataValue.int(len(traded.parity)),
                    "judged": traded.judged,
                    "max_equity_gap": rounded(max((b.max_equity_gap for b in traded.parity), default=0.0), 6),
                    "differing": dg.MetadataValue.json([b.to_dict() for b in traded.broken][:20]),
                },
            )
        ],
    )


paper_bars_job = dg.define_asset_job(
    PAPER_BARS_JOB,
    selection=dg.AssetSelection.assets(PAPER_BARS),
    description="Paper-trade the deployed set on one hour's closed bars.",
)
