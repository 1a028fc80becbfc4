"""`operations/health`: the organism's health score with its components and history (see automation/health.py).

The asset gathers what the plain-Python scorer needs (lake, store, ledger, Dagster's run records, the Ray
address), records the check in the history file and shows the components and the score over time.
`python -m quant_organism status` runs the same check from the terminal.
"""

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd

from quant_organism import settings
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.defs.automation.conditions import health_condition
from quant_organism.defs.evolution.assets import POPULATION
from quant_organism.defs.market.assets import CANDLES
from quant_organism.defs.runtime.assets import PAPER
from quant_organism.defs.shared.numbers import rounded
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource, files_last_days
from quant_organism.market.lake import MarketLake
from quant_organism.operations import health
from quant_organism.operations.failures import FAILURES_FILE, read_failures
from quant_organism.reporting.plots import health_history, markdown_image
from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger

HEALTH = dg.AssetKey(["operations", "health"])


def _last_success(instance: dg.DagsterInstance, key: dg.AssetKey) -> datetime | None:
    """When `key` last materialised, whichever run (the automation's, a job's, the CLI's) did it."""
    event = instance.get_latest_materialization_event(key)
    return datetime.fromtimestamp(event.timestamp, timezone.utc) if event is not None else None


def check_health(
    instance: dg.DagsterInstance, data_root: Path, lake: MarketLake, now: datetime | None = None
) -> health.HealthReport:
    """Every component, scored now."""
    now = now or datetime.now(timezone.utc)
    stale = health.DEFAULT_STALE_DAYS
    components = health.freshness(
        lake.last_days("candles", settings.coins(), settings.interval()), now.date(), stale, files_last_days()
    )
    store = StrategyStore(data_root / STORE_DIR)
    live = store.load_strategies(status=LIVE_STATUSES)
    components += [
        health.last_success("ingest", _last_success(instance, CANDLES), now, stale),
        health.last_success("evolution", _last_success(instance, POPULATION), now, stale),
        health.last_success("paper", _last_success(instance, PAPER), now, stale, required=bool(live)),
    ]
    set_aside = len(list(store.directory.glob(".rejected-txn-*"))) if store.directory.is_dir() else 0
    components.append(health.store_component([p.reason for p in store.problems], set_aside, store.has_pending_commit()))
    ledger_path = data_root / LEDGER_FILE
    error, missing, trips = None, [], None
    if ledger_path.exists():
        try:
            ledger = PaperLedger(ledger_path, lock_timeout=10)
            recorded = set(ledger.strategies())
            missing = sorted(c.name for c in live if c.paper_trading_days and c.name not in recorded)
            events = ledger.risk_events()
            if len(events):
                recent = pd.to_datetime(events["bar_time"]) >= pd.Timestamp(now).tz_localize(None) - pd.Timedelta(days=1)
                trips = int((events["kind"].str.startswith("breaker") & recent).sum())
            else:
                trips = 0
        except Exception as exc:  # noqa: BLE001 - any failure to open or read is what this component reports
            error = f"{type(exc).__name__}: {exc}"
    components.append(health.ledger_component(error, missing))
    ray = health.ray_component(settings.ray_address())
    if ray is not None:
        components.append(ray)
    components.append(health.breakers_component(trips))
    components.append(health.incidents_component(read_failures(data_root / FAILURES_FILE), now.date()))
    return health.combine(components, now)


def components_table(report: health.HealthReport) -> str:
    rows = ["| component | score | detail |", "|---|---|---|"]
    rows += [f"| {c.name} | {c.score:.2f} | {c.detail} |" for c in report.components]
    return "\n".join(rows)


@dg.asset(key=HEALTH, automation_condition=health_condition(), group_name="operations", kinds={"python"})
def organism_health(context: dg.AssetExecutionContext, lake: LakeResource, artifacts: ArtifactsResource) -> dg.MaterializeResult:
    """The organism's health score (data freshness per coin, last successful ingest / evolution / paper day, store
    problems, ledger consistency, Ray reachability, breaker trips) with its history."""
    root = Path(artifacts.root)
    report = check_health(context.instance, root, lake.lake())
    health.record(report, root)
    past = health.history(root)
    plot = health_history(pd.Series([h["score"] for h in past], index=pd.to_datetime([h["checked_at"] for h in past], utc=True)))
    if report.status != "ok":
        context.log.warning(
            f"health {report.status} ({report.score:.2f}): "
            + "; ".join(f"{c.name} {c.detail}" for c in report.components if c.score < 1.0)
        )
    return dg.MaterializeResult(
        metadata={
            "score": rounded(report.score),
            "status": report.status,
            "components": dg.MetadataValue.md(components_table(report)),
            "history_plot": dg.MetadataValue.md(markdown_image(plot, "health over time")),
            "checks_in_history": dg.MetadataValue.int(len(past)),
        }
    )
