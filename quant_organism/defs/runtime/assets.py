"""`runtime/paper_performance`: the deployed set paper-traded on the bars after its deployment."""

from dataclasses import dataclass

import dagster as dg
import pandas as pd
from pydantic import Field

from quant_organism import settings
from quant_organism.catalog.config import LIVE_STATUSES, StrategyConfig
from quant_organism.catalog.manifest import deployed_rules, deployment_stages, load_current_deployment
from quant_organism.core.faults import fault_point
from quant_organism.defs.automation.conditions import paper_condition
from quant_organism.defs.deployment.assets import DEPLOYED, REPORT
from quant_organism.defs.runtime.rule_books import trade_rules
from quant_organism.defs.shared.keys import CANDLES, PAPER
from quant_organism.defs.shared.numbers import rounded
from quant_organism.defs.shared.partitions import all_coins_of_day, partitioned
from quant_organism.defs.shared.resources import (
    ArtifactsResource,
    LakeResource,
    OperatorPolicyResource,
    PaperLedgerResource,
    StrategyStoreResource,
)
from quant_organism.defs.shared.upstream import missing_upstream
from quant_organism.deployment.probation import ProbationEntry
from quant_organism.market.frame_cache import FrameCache
from quant_organism.market.frames import load_market_frames
from quant_organism.reporting.inline_figure import line_figure
from quant_organism.reporting.plots import equity_curves, markdown_image
from quant_organism.runtime import DecayRules, PaperTrader, RiskLimits, StrategyRuntimeEngine, mark_decaying, retire_decayed
from quant_organism.runtime.forward import first_interventions
from quant_organism.runtime.ledger import PaperLedger
from quant_organism.runtime.operator import PolicyFileError
from quant_organism.runtime.parity import ledger_parity
from quant_organism.runtime.weekly_stop import WeeklyStop

# History before the traded day for a strategy without a data window (its own anchor is preferred).
WARMUP_DAYS = 30
PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


_RULES = DecayRules()
_LIMITS = RiskLimits()


class PaperConfig(dg.Config):
    decay_min_days: int = Field(default=_RULES.min_days, description="paper days before decay rules apply")
    decay_min_sharpe: float = Field(default=_RULES.min_sharpe, description="decaying below this paper Sharpe")
    decay_max_drawdown: float = Field(default=_RULES.max_drawdown, description="decaying above this paper drawdown")
    decay_size_factor: float = Field(default=_LIMITS.decay_size_factor, description="entry size of decaying strategies")
    retire_after_decaying_days: int = Field(default=7, ge=1, description="decaying this many days: retired with a post-mortem")


PARITY_CHECK = "paper_matches_backtest"


def _anchor(config: StrategyConfig, day: pd.Timestamp) -> pd.Timestamp:
    """Where the strategy's history starts: the first bar of the data it was evolved and validated on (its
    signals, recursive indicators and ML refits are anchored there in the backtest), else a fixed warm-up."""
    if config.data_window is not None:
        return pd.Timestamp(config.data_window.start).tz_convert("UTC")
    return day - pd.Timedelta(days=WARMUP_DAYS)


@partitioned(
    dg.asset,
    "daily",
    key=PAPER,
    automation_condition=paper_condition(),
    # Day D trades the deployment evolved on data up to D-1 (the nightly run after D-1 closes), on D's bars.
    deps=[
        dg.AssetDep(DEPLOYED, partition_mapping=PREVIOUS_DAY),
        dg.AssetDep(REPORT, partition_mapping=PREVIOUS_DAY),
        dg.AssetDep(CANDLES, partition_mapping=all_coins_of_day),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            PARITY_CHECK,
            asset=PAPER,
            description="every paper book's positions equal the vectorised backtest's on the same bars and its "
            "equity agrees within 1e-9 (relative): paper trades exactly what validation approved",
        )
    ],
    group_name="runtime",
    kinds={"duckdb"},
)
def paper_performance(
    context: dg.AssetExecutionContext,
    config: PaperConfig,
    lake: LakeResource,
    catalog: StrategyStoreResource,
    paper_ledger: PaperLedgerResource,
    artifacts: ArtifactsResource,
    operator_policy: OperatorPolicyResource,
) -> dg.MaterializeResult:
    """Paper trading of the deployed set on the day's bars after deployment (fees, slippage, funding and sizing as in
    backtests; each strategy's history anchored where its backtest's was), in a persistent DuckDB ledger; feeds paper
    figures back into the configs and flags decay; checks parity with the backtest."""
    day = pd.Timestamp(context.partition_key, tz="UTC")
    try:
        policy, policy_source = operator_policy.policy(catalog.store())
    except PolicyFileError as exc:
        raise dg.Failure(description=str(exc)) from None
    store = catalog.store()
    book = _book_in_force(store, day)
    if isinstance(book, dg.MaterializeResult):
        return book
    end = day + pd.Timedelta(days=1)

    cache = paper_ledger.frame_cache()

    def frames_from(anchor: pd.Timestamp) -> dict[str, pd.DataFrame]:
        loaded = carried_frames(context, cache, lake.lake(), settings.coins(), anchor, end, settings.interval())
        if not any((f.index >= day).any() for f in loaded.values()):
            raise missing_upstream("market/candles", [f"{day:%Y-%m-%d}"], "no bars of the day to paper-trade")
        return loaded

    ledger = paper_ledger.ledger()
    with ledger.session():
        return _paper_day(context, config, store, artifacts, book, frames_from, ledger, policy, policy_source)


def _paper_day(context, config: PaperConfig, store, artifacts, book, frames_from, ledger, policy, policy_source):
    """Trade the day into the ledger, then judge decay, retire and report (one ledger session throughout)."""
    deployment, live, probation, deployed = book
    day = pd.Timestamp(context.partition_key, tz="UTC")
    traded = _trade(
        context,
        live,
        deployment,
        frames_from,
        day,
        day + pd.Timedelta(days=1),
        policy,
        policy_source,
        policy.risk_limits(config.decay_size_factor),
        ledger,
    )
    ruled = trade_rules(context, deployed, frames_from, day, ledger)
    ledger, events, broken, parity = traded.ledger, traded.events, traded.broken, traded.parity
    bars, rows, judged = traded.bars, traded.rows, traded.judged
    rows = {**rows, "rule_days": ruled.rows}
    rules = DecayRules(min_days=config.decay_min_days, min_sharpe=config.decay_min_sharpe, max_drawdown=config.decay_max_drawdown)
    fault_point("paper:traded")
    metrics, decaying = mark_decaying(store, ledger, rules, untrusted={b.strategy for b in broken})
    retired = retire_decayed(store, ledger, context.partition_key, config.retire_after_decaying_days)
    _alert(context, artifacts, live, decaying, events, retired, config.retire_after_decaying_days)
    if broken:
        context.log.error(f"paper/backtest parity broken for {sorted({b.strategy for b in broken})}: decay not judged on them")
    if ruled.broken:
        context.log.error(f"paper/backtest parity broken for documented rules {[b.strategy for b in ruled.broken]}")
    context.log.info(
        f"paper-traded {len(live)} strategies over {bars} bars and {len(deployed)} documented rules; "
        f"{len(decaying)} strategies decaying"
    )
    table = _paper_table(metrics, ruled.records)
    curves = {name: m.equity for name, m in metrics.items() if len(m.equity)}
    curves |= {r.strategy: r.equity for r in ruled.records if len(r.equity)}
    return dg.MaterializeResult(
        metadata={
            "strategies": dg.MetadataValue.int(len(metrics) + len(ruled.records)),
            "documented_rules": dg.MetadataValue.json(sorted(deployed)),
            "on_probation": dg.MetadataValue.json(probation),
            "bars": dg.MetadataValue.int(bars),
            "ledger_rows": dg.MetadataValue.json(rows),
            "decaying": dg.MetadataValue.json([v.strategy for v in decaying]),
            "paper": dg.MetadataValue.md("\n".join(table)),
            "equity_figure": dg.MetadataValue.md(
                line_figure("paper equity", curves, None, "each strategy's paper equity over the paper days (first three)")
            ),
            "equity_plot": dg.MetadataValue.md(markdown_image(equity_curves(curves, "paper equity"), "paper equity")),
            "ledger": dg.MetadataValue.path(str(ledger.path)),
            "risk_events": dg.MetadataValue.json(
                [
                    {"time": str(e.time), "kind": e.kind, "strategy": e.strategy, "coin": e.coin, "detail": e.detail}
                    for e in events
                ][:50]
            ),
            "retired": dg.MetadataValue.json([p.strategy for p in retired]),
            "policy": dg.MetadataValue.json({**policy.model_dump(), "source": policy_source}),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=PARITY_CHECK,
                passed=not broken and not ruled.broken,
                metadata={
                    "books": dg.MetadataValue.int(len(parity) + len(ruled.parity)),
                    "rule_books": dg.MetadataValue.json([b.to_dict() for b in ruled.parity]),
                    "judged": judged,
                    "max_equity_gap": rounded(max((b.max_equity_gap for b in parity), default=0.0), 6),
                    "differing": dg.MetadataValue.json([b.to_dict() for b in broken][:20]),
                },
            )
        ],
    )


def _alert(context, artifacts, live, decaying, events, retired, retire_after: int) -> None:
    """The day's alerts: a strategy newly decaying, a breaker's trip, a retirement."""
    was_decaying = {c.name for c in live if c.deployment_status.value == "decaying"}
    for verdict in decaying:
        if verdict.strategy not in was_decaying:
            artifacts.alert("decay", f"{verdict.strategy} is decaying after {context.partition_key}",
                            {"strategy": verdict.strategy, "day": context.partition_key, "reasons": list(verdict.reasons)})  # fmt: skip
    for event in events:
        if event.kind.startswith("breaker"):
            context.log.error(f"circuit breaker tripped at {event.time}: {event.detail}")
            artifacts.alert("breaker_trip", f"circuit breaker tripped at {event.time}: {event.detail}",
                            {"kind": event.kind, "time": str(event.time), "detail": event.detail})  # fmt: skip
    for post in retired:
        context.log.warning(f"{post.strategy} retired after {retire_after}+ days decaying; post-mortem {post.path}")
        artifacts.alert("retirement", f"{post.strategy} retired after decaying; post-mortem {post.path.name}",
                        {"strategy": post.strategy, "post_mortem": str(post.path)})  # fmt: skip


def _paper_table(metrics, records) -> list[str]:
    """The paper records as Markdown rows: the strategies', then the documented rules'."""
    table = ["| strategy | days | trades | return | sharpe | max dd |", "|---|---|---|---|---|---|"]
    table += [f"| {m.strategy} | {m.days} | {m.trade_count} | {m.total_return:.2%} | {m.sharpe:.2f} | {m.max_drawdown:.2%} |"
              for m in metrics.values()]  # fmt: skip
    table += [f"| {r.strategy} (documented rule) | {r.days} | daily rebalance | {r.total_return:.2%} | {_fmt(r.sharpe)} | "
              f"{_fmt(r.max_drawdown, '.2%')} |" for r in records]  # fmt: skip
    return table


def carried_frames(context, cache: FrameCache | None, lake, coins, anchor: pd.Timestamp, end: pd.Timestamp, interval: str):
    """The coins' frames from `anchor` to `end` through the paper runs' frame cache (only new or rewritten lake
    days are read; without a cache, all of them); what the cache did is logged. Caches no run has written for a
    week are removed."""
    if cache is None:
        return load_market_frames(lake, coins, anchor, end, interval).frames
    read = cache.load(lake, coins, anchor, end, interval)
    if read.note:
        context.log.warning(read.note)
    fresh = "none" if read.read_from is None else f"from {read.read_from:%Y-%m-%d}"
    context.log.info(f"history from {anchor:%Y-%m-%d}: {read.cached_days} day(s) carried, lake read {fresh}")
    for path in cache.prune_unused(max_age=pd.Timedelta(days=7)):
        context.log.info(f"removed the frame cache {path.name}: unused for a week")
    return read.frames.frames


def _book_in_force(store, day: pd.Timestamp):
    """(deployment, the strategies holding capital, the probationers, the documented rules holding capital) for
    trading `day`, or an idle result saying why nothing trades (nothing deployed, only probationers, or a deployment
    not older than the day)."""
    deployment = load_current_deployment(store)
    live = store.load_strategies(status=LIVE_STATUSES)
    # Probationers trade at their incubation allocation (deployment/probation.py); with an incubation of 0 they
    # hold nothing and are not run: their forward record is then only judged at deployment.
    probation = sorted(name for name, stage in deployment_stages(store).items() if stage == "probation")
    live = [c for c in live if (c.allocation or 0.0) > 0.0]
    rules = {name: entry for name, entry in deployed_rules(store).items() if float(entry.get("allocation") or 0.0) > 0.0}
    if (not live and not rules) or deployment is None:
        note = (f"{len(probation)} strategies on probation at zero capital, none holds capital yet: no paper trading"
                if probation and deployment is not None else "nothing is deployed: no paper trading")  # fmt: skip
        return _idle({"strategies": 0, "on_probation": dg.MetadataValue.json(probation), "note": note})
    deployed_for = pd.Timestamp(deployment.get("evolution_date") or day.date())
    deployed_for = deployed_for.tz_localize("UTC") if deployed_for.tzinfo is None else deployed_for
    if day <= deployed_for:
        return _idle(
            {
                "strategies": len(live) + len(rules),
                "note": f"deployment uses data up to {deployed_for.date()}: no bars after it yet",
            }
        )
    return deployment, live, probation, rules


@dataclass
class _Traded:
    ledger: PaperLedger
    bars: int
    rows: dict
    events: list
    parity: list
    broken: list
    judged: str


def _trade(context, live, deployment, frames_from, start, end, policy, policy_source, limits, ledger: PaperLedger) -> _Traded:
    """Paper-trade the bars of [start, end) of every strategy holding capital into the ledger (idempotently:
    a rerun restarts from the state saved before `start`), then judge parity with the backtest on the
    ledger's whole record. `frames_from(anchor)`: the coins' frames from that history anchor to `end`."""
    if not live:  # only documented rules hold capital (defs/runtime/rule_books.py trades them)
        return _Traded(ledger, 0, {}, [], [], [], "no evolved strategy holds capital")
    if ledger.record_policy(policy.to_json(), policy_source, pd.Timestamp.now(tz="UTC")):
        context.log.warning(f"operator policy changed ({policy_source}): {policy.to_json()}")
    day = start.floor("D")
    anchors = {c.name: _anchor(c, day) for c in live}
    frames_by_anchor = {anchor: frames_from(anchor) for anchor in sorted(set(anchors.values()))}
    stops = weekly_stops(deployment)
    bars, rows, events = 0, {}, []
    for anchor, frames in frames_by_anchor.items():  # one engine per history anchor: each strategy sees its own
        group = [c for c in live if anchors[c.name] == anchor]
        # Signals computed once on the anchored history and proven on prefixes (no lookahead), rather than
        # recomputed from the anchor at every bar: the same numbers, a fraction of the work (ML refits).
        # The backtest's sizing, plus the operator's policy and the portfolio's risk controls (breakers per engine:
        # one anchor, one portfolio in the usual case); where they act, the ledger says so and parity is judged
        # up to there.
        engine = StrategyRuntimeEngine(group, coins=deployment.get("traded_coins"), policy=policy.runtime_policy(),
                                       signal_mode="precomputed", risk=limits, weekly_stops=stops)  # fmt: skip
        summary = PaperTrader(engine, ledger, version=deployment.get("version")).run(frames, start=start, end=end)
        events += summary.result.risk_events
        bars = max(bars, summary.bars)
        rows = {k: rows.get(k, 0) + v for k, v in summary.rows.items()}
    until = first_interventions(ledger, [c.name for c in live])
    judged = (
        f"up to the first intervention ({min(until.values())}): the operator's policy or a risk control "
        "made the book differ from the backtest from there"
        if until
        else "every bar: no intervention"
    )
    parity = ledger_parity(ledger, live, lambda c, coin: frames_by_anchor[anchors[c.name]].get(coin), until=until, before=end)
    return _Traded(ledger, bars, rows, events, parity, [b for b in parity if not b.ok], judged)


def weekly_stops(deployment: dict) -> dict[str, WeeklyStop]:
    """The weekly stop of every deployed strategy with a probation record (runtime/weekly_stop.py): the evidence that
    promotes it, and the decay watch that demotes it, count its weeks stopped, so it trades them stopped."""
    return {s["name"]: ProbationEntry.from_dict(s["probation"]).weekly_stop()
            for s in deployment.get("strategies", []) if s.get("probation")}  # fmt: skip


def _fmt(value, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _idle(metadata: dict) -> dg.MaterializeResult:
    """Nothing traded: the parity check holds vacuously, and says so."""
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(check_name=PARITY_CHECK, passed=True, metadata={"books": 0, "note": metadata["note"]})
        ],
    )
