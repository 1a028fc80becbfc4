"""`python -m quant_organism status`: the deployed set, paper P&L, health and the last runs, as terminal tables."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from quant_organism import settings
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.manifest import load_current_deployment
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.cli.launch import persistent_instance
from quant_organism.defs.automation.health_asset import check_health
from quant_organism.market.lake import MarketLake
from quant_organism.operations import health
from quant_organism.operations.alerts import read_alerts


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _runs(instance: dg.DagsterInstance, limit: int = 8) -> list[list[str]]:
    rows = []
    for record in instance.get_run_records(limit=limit):
        run = record.dagster_run
        started = datetime.fromtimestamp(record.start_time, timezone.utc).strftime("%Y-%m-%d %H:%M") if record.start_time else "—"
        partition = run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start", "—")
        rows.append([run.run_id[:8], run.job_name, partition, run.status.value, started])
    return rows


def _rule_rows(store: StrategyStore, root) -> list[list[str]]:
    """The deployed documented rules (manifest entries, runtime/rule_book.py), with their books' paper figures."""
    from quant_organism.catalog.manifest import deployed_rules
    from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger
    from quant_organism.runtime.rule_ledger import record_figures, rule_record

    rules = deployed_rules(store)
    if not rules:
        return []
    ledger = PaperLedger(root / LEDGER_FILE)
    rows = []
    for name, entry in sorted(rules.items()):
        record = rule_record(ledger, name)
        days, sharpe, drawdown = record_figures(record)
        total = float((1.0 + record).prod() - 1.0) if len(record) else None
        rows.append([
            name, f"rule ({entry.get('stage', 'capital')}, since {entry['since']})", f"{float(entry.get('allocation') or 0):.1%}",
            str(days), "—" if sharpe is None else f"{sharpe:.2f}", "—" if total is None else f"{total:.2%}",
            "—" if drawdown is None else f"{drawdown:.1%}",
        ])  # fmt: skip
    return rows


def print_status() -> int:
    root = settings.data_dir()
    store = StrategyStore(root / STORE_DIR)
    live = store.load_strategies(status=LIVE_STATUSES)
    try:
        manifest = load_current_deployment(store)
    except ValueError as exc:
        manifest = {"version": f"unreadable ({exc})"}
    print(f"quant_organism status — data root {root}")
    print(f"\ndeployment {((manifest or {}).get('version')) or 'none yet'}:")
    rows = [
        [
            c.name,
            c.deployment_status.value,
            f"{c.allocation or 0:.1%}",
            str(c.paper_trading_days),
            "—" if c.paper_sharpe is None else f"{c.paper_sharpe:.2f}",
            "—" if c.metrics.get("paper_total_return") is None else f"{float(c.metrics['paper_total_return']):.2%}",
            "—" if c.max_drawdown is None else f"{c.max_drawdown:.1%}",
        ]
        for c in live
    ]
    rows += _rule_rows(store, root)
    print(
        _table(["strategy", "status", "allocation", "paper days", "paper Sharpe", "paper P&L", "drawdown"], rows)
        if rows
        else "  nothing deployed"
    )
    instance = persistent_instance()
    report = check_health(instance, root, MarketLake(settings.lake_dir()))
    health.record(report, root)
    print(f"\nhealth: {report.status} ({report.score:.2f})")
    print(_table(["component", "score", "detail"], [[c.name, f"{c.score:.2f}", c.detail] for c in report.components]))
    print("\nlast runs:")
    runs = _runs(instance)
    print(_table(["run", "job", "partition", "status", "started (UTC)"], runs) if runs else "  none")
    alerts = read_alerts(root)[-5:]
    if alerts:
        print("\nlast alerts:")
        print(_table(["at", "kind", "message"], [[a["at"][:19], a["kind"], a["message"][:90]] for a in alerts]))
    return 0 if report.status != "failing" else 1
