"""`python -m quant_organism run|status|ui`: the main job end to end, the organism's state, or the Dagster UI.

The terminal gets a few lines per phase; Dagster's event stream goes to a log file under the data root
(its path is printed), so a failure is stated as what failed, where, why and what to do, with the
full detail one `less` away.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from quant_organism import settings
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.cli.launch import (
    LaunchError,
    date_window,
    evolve,
    failure_text,
    paper_trade,
    persistent_instance,
    prepare_dagster_home,
    remember,
    run_overrides,
    write_run_log,
)
from quant_organism.cli.phases import Terminal, history_window, ingest_phase
from quant_organism.core import artifacts
from quant_organism.core.durable import sweep_stale_temps
from quant_organism.runtime.ledger import LEDGER_FILE

log = logging.getLogger("quant_organism")


@contextlib.contextmanager
def _quiet_libraries(log_file: Path) -> Iterator[None]:
    """Project INFO and library chatter to the log file; warnings and errors to the terminal. The root logger
    gets its handlers and levels back afterwards, and the progress-bar switch is unset again if the run set it:
    `main` called in a process that goes on (a test, a notebook) must not leave its run's log file collecting
    everyone's records."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root, project = logging.getLogger(), logging.getLogger("quant_organism")
    levels = root.level, project.level
    root.setLevel(logging.WARNING)
    project.setLevel(logging.INFO)
    root.addHandler(handler)
    console = logging.StreamHandler()
    console.setLevel(logging.ERROR)
    root.addHandler(console)
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", module="dagster")
    progress_was_set = "QUANT_ORGANISM_PROGRESS" in os.environ
    os.environ.setdefault("QUANT_ORGANISM_PROGRESS", "1")  # evolution draws a progress bar on a terminal
    try:
        yield
    finally:
        if not progress_was_set:
            os.environ.pop("QUANT_ORGANISM_PROGRESS", None)
        for added in (handler, console):
            root.removeHandler(added)
            added.close()
        root.setLevel(levels[0])
        project.setLevel(levels[1])


def _run(args: argparse.Namespace) -> int:
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    terminal = Terminal(settings.data_dir().resolve() / "logs" / f"run-{stamp}.log")
    with _quiet_libraries(terminal.log_file):
        return _run_logged(args, terminal)


def _run_logged(args: argparse.Namespace, terminal: Terminal) -> int:
    from quant_organism.defs.automation.orphans import reap_orphaned_runs
    from quant_organism.evolution.evolution_config import load_preset

    preset = "test" if args.test_mode else (args.preset or settings.production_preset())
    try:
        ops, resources = run_overrides(
            preset, args.strategies, args.generations, args.hours, args.validation_mode, args.cost_limit, args.executor
        )
    except ValueError as exc:
        print(f"quant_organism: {str(exc).strip()}", file=sys.stderr)
        return 2
    if args.workflow:
        from quant_organism.cli.workflow_command import run_workflow_command

        return run_workflow_command(args, terminal)
    if args.paper_days < 0 or (args.days is not None and args.days < 1) or args.evolve_every < 0:
        print("--paper-days and --evolve-every must be >= 0 and --days >= 1", file=sys.stderr)
        return 2
    # The lake must hold the preset's lookback before the evolution day (or --days of it: a shorter history
    # shrinks the evolution's windows, down to the preset's minimum), and the paper-trading days after it.
    days = (args.days or load_preset(preset).lookback_days) + args.paper_days
    try:
        first, last = date_window(args.end, days)
    except LaunchError as exc:
        print(f"quant_organism: {exc}", file=sys.stderr)
        return 2
    terminal.say(f"quant_organism: source={settings.source_name()} coins={','.join(settings.coins())} days={first}..{last}")
    terminal.say(f"data root: {settings.data_dir()}   log: {terminal.log_file}")
    window = history_window(terminal, first, last, days, end_given=args.end is not None)
    if window is None:
        return 1
    first, last = window
    evolve_day = (pd.Timestamp(last) - pd.Timedelta(days=args.paper_days)).strftime("%Y-%m-%d")
    paper_days = [d.strftime("%Y-%m-%d") for d in pd.date_range(evolve_day, last, freq="D")[1:]]
    # Re-evolutions inside the paper days, each traded from the day after it (the nightly chain, every N days).
    re_evolve = {d for d in paper_days[args.evolve_every - 1 :: args.evolve_every] if d != last} if args.evolve_every else set()
    if first > evolve_day:
        return terminal.fail(
            "evolve", evolve_day, "no history before the evolution day", "pick a later --end or fewer --paper-days"
        )
    swept = sweep_stale_temps(settings.data_dir())
    if swept:
        terminal.say(f"cleanup: removed {len(swept)} temp file(s) left by killed runs")
    instance = persistent_instance()
    for run_id, reason in reap_orphaned_runs(instance, heartbeat_timeout=settings.run_heartbeat_timeout()):
        terminal.say(f"cleanup: run {run_id[:8]} was left running by a dead process ({reason}); marked failed")

    status = ingest_phase(terminal, instance, first, last)
    if status is not None or args.ingest_only:
        return status or 0
    status = _evolve_phase(terminal, instance, evolve_day, preset, ops, resources)
    if status is not None:
        return status
    return _paper_phase(
        terminal,
        instance,
        paper_days,
        re_evolve,
        lambda day: _evolve_phase(terminal, instance, day, preset, ops, resources, brief=True),
    )


def _evolve_phase(
    terminal: Terminal, instance, day: str, preset: str, ops: dict, resources: dict, brief: bool = False
) -> int | None:
    """Evolve -> validate -> deploy -> report for `day`, then its headline; `brief` (a re-evolution) leaves out
    the budget and paths lines the first evolution printed."""
    from quant_organism.reporting.report import budget_line

    started = time.perf_counter()
    result = evolve(instance, day, preset, ops, resources)
    write_run_log(instance, result.run_id, terminal.log_file)
    if not result.success:
        return terminal.fail(
            f"evolve ({preset} preset)",
            f"evolution day {day}, run {result.run_id[:8]}",
            failure_text(result),
            "read the reason above; the previous deployment is untouched. Rerun after fixing it, "
            "or re-execute from the failure in the UI (make ui)",
        )
    report_dir = artifacts.phase_dir("reports", day, settings.data_dir())
    report = json.loads((report_dir / "report.json").read_text())
    counts = report["counts"]
    terminal.say(
        f"[evolve] {day} ({preset} preset): {counts['generated']} evaluations, "
        f"{counts['passed_validation']}/{counts['validated_candidates']} candidates pass validation, "
        f"{counts['deployed']} deployed, in {time.perf_counter() - started:.1f}s"
    )
    universe_line = _universe_line(day)
    if universe_line:
        terminal.say("      " + universe_line)
    verdicts_path = artifacts.phase_dir("validation", day, settings.data_dir()) / "verdicts.json"
    mode_note = json.loads(verdicts_path.read_text()).get("mode_note") if verdicts_path.exists() else None
    if mode_note:
        terminal.say("      " + mode_note)
    deployment_path = artifacts.phase_dir("deployment", day, settings.data_dir()) / "deployment.json"
    deployment = json.loads(deployment_path.read_text()) if deployment_path.exists() else {}
    for line in _report_lines(report) + _life_cycle_lines(deployment):
        terminal.say("      " + line)
    documented_path = artifacts.phase_dir("validation", day, settings.data_dir()) / "documented_tier.json"
    if documented_path.exists():
        terminal.say("      " + _documented_line(json.loads(documented_path.read_text())))
    portfolio_path = artifacts.phase_dir("validation", day, settings.data_dir()) / "portfolio_search.json"
    if portfolio_path.exists():  # the portfolio search's own one-line summary (validation/searched_rules.py)
        terminal.say("      " + json.loads(portfolio_path.read_text())["summary"])
    evolution = report["phases"]["evolution"]
    if evolution.get("executor_reason") and not brief:
        terminal.say(f"      executor {evolution['executor']}: {evolution['executor_reason']}")
    if report.get("budget") and not brief:
        terminal.say("      " + budget_line(report["budget"], counts["generated"]))
    memory = remember(instance)
    write_run_log(instance, memory.run_id, terminal.log_file)
    if not brief:
        terminal.say(f"      report: {report_dir / 'report.md'}   configs: {settings.data_dir() / STORE_DIR}")
    return None


def _universe_line(day: str) -> str | None:
    """The night's point-in-time universe and train window in one line (None outside a point-in-time universe)."""
    folder = artifacts.phase_dir("evolution", day, settings.data_dir())
    if not (folder / "universe.json").exists():
        return None
    universe = json.loads((folder / "universe.json").read_text())
    members, train = universe["members"], universe["train"]
    shown = ", ".join(members[:10]) + (", ..." if len(members) > 10 else "")
    return (f"universe: top {universe['top_n']} point in time, {len(members)} members trading from the day after "
            f"({shown}), {len(universe['seen'])} coins seen in the lookback; train {train['start'][:10]} .. "
            f"{train['end'][:10]}")  # fmt: skip


def _documented_line(verdict: dict) -> str:
    """The documented tier's verdict of the day in one line (validation/documented_tier); its passers competed for
    capital in the night's decision, whose outcome the life-cycle lines show."""
    trend = next((f for f in verdict["families"] if f["family"] == "ts_trend"), {})
    reach = (trend.get("power") or {}).get("detectable_sharpe_50")
    passed = f"passed {', '.join(verdict['passed'])}" if verdict["passed"] else "nothing passed"
    could = f"; its trend test could see Sharpe >= {reach:.2f}" if reach else f"; {trend.get('reason') or 'not judged'}"
    skipped = "".join(
        f"; {f['family']} skipped: {f['reason']}" for f in verdict["families"] if not f["tested"] and "funding" in f["reason"]
    )
    return (
        f"documented tier ({verdict['span']['days']} days of evidence, its passers compete for capital): {passed}{could}{skipped}"
    )


def _report_lines(report: dict) -> list[str]:
    """The report's headline: why nothing was deployed (the deployed set is in the life-cycle lines)."""
    lines = []
    if not report.get("deployed"):
        notes = report["phases"]["deployment"].get("notes") or []
        lines.append(notes[0] if notes else "nothing deployed")
        none_valid = report["phases"]["evolution"].get("none_valid")
        if none_valid:
            lines.append(none_valid)
        rejections = report.get("rejections") or {}
        gates = rejections.get("by_gate") if isinstance(rejections, dict) else None
        if gates:
            lines.append("rejected by gate: " + ", ".join(f"{g} {n}" for g, n in list(gates.items())[:4]))
    stats = report.get("statistics") or {}
    if stats.get("candidates_spa_pvalue") is not None:
        pbo = stats.get("pbo")
        shown = "not computed" if pbo is None else f"{pbo:.2f}"  # 0.00 is a figure (a stable edge), not a gap
        lines.append(f"SPA p-value of the candidates {stats['candidates_spa_pvalue']:.3f}, PBO {shown}")
    reach = stats.get("detectable_sharpe")
    if reach:
        passed = stats.get("candidates_superior", 0)
        lead = f"{passed} superior at the gate" if passed else "nothing passed the gate"
        lines.append(f"{lead}; {reach['sentence']}")
    return lines


def _life_cycle_lines(deployment: dict) -> list[str]:
    """What the deployment changed in the strategies' lives: probation looks (promoted or retired), entries on
    probation, and strategies archived."""
    plan = deployment.get("plan") or {}
    lines = []
    retired = {r["name"]: r["reason"] for r in plan.get("rejected", []) if r["reason"].startswith("failed validation: futile")}
    for name, look in sorted((plan.get("probation_looks") or {}).items()):
        figures = (f"{look.get('probation_weeks')} forward weeks, anytime p {look.get('probation_forward_p', 1.0):.3g} "
                   f"against its level {look.get('probation_alpha', 0.0):.3%}")  # fmt: skip
        if look.get("probation_promoted"):
            lines.append(f"PROMOTED from probation: {name} ({figures})")
        elif name in retired:
            lines.append(f"RETIRED from probation: {name} ({retired[name].removeprefix('failed validation: ')})")
        else:
            lines.append(f"on probation: {name} ({figures})")
    waiting = [c for c in plan.get("chosen", []) if c.get("stage") == "probation"]
    if waiting:
        lines.append(f"on probation at {waiting[0]['allocation']:.1%} each: {', '.join(c['name'] for c in waiting)}")
    holders = [c for c in plan.get("chosen", []) if c.get("stage", "capital") == "capital" and c["allocation"] > 0]
    if holders:
        lines.append("capital: " + ", ".join(f"{c['name']} {c['allocation']:.1%}" for c in holders))
    if deployment.get("archived"):
        lines.append(f"archived: {', '.join(deployment['archived'])}")
    return lines


def _paper_phase(terminal: Terminal, instance, days: list[str], re_evolve: set[str] = frozenset(), evolve_on=None) -> int:
    """Paper-trade the deployment on each day after the evolution day (re-evolving after each day of
    `re_evolve`, as the nightly chain would), then print the paper record per strategy."""
    if not days:
        return 0
    started, checks = time.perf_counter(), []
    for day in days:
        result = paper_trade(instance, day)
        write_run_log(instance, result.run_id, terminal.log_file)
        if not result.success:
            return terminal.fail(
                "paper trading",
                f"day {day}, run {result.run_id[:8]}",
                failure_text(result),
                "the ledger keeps every finished day; rerun the command to continue from here",
            )
        checks += [e.passed for e in result.get_asset_check_evaluations()]
        if day in re_evolve and evolve_on is not None:
            status = evolve_on(day)
            if status is not None:
                return status
    from quant_organism.runtime.ledger import PaperLedger

    store = StrategyStore(settings.data_dir() / STORE_DIR)
    live = store.load_strategies(status=LIVE_STATUSES)
    ledger_path = settings.data_dir() / LEDGER_FILE
    traded = set(PaperLedger(ledger_path).strategies()) if ledger_path.exists() else set()
    terminal.say(
        f"[paper] {days[0]}..{days[-1]}: {len(live)} live strateg{'y' if len(live) == 1 else 'ies'}, "
        f"paper_matches_backtest passed on {sum(checks)}/{len(checks)} days, in {time.perf_counter() - started:.1f}s "
        f"(ledger {ledger_path})"
    )
    from quant_organism.catalog.manifest import deployment_stages

    stages = deployment_stages(store)
    by_name = {c.name: c for c in live}
    for name in sorted(set(by_name) | traded, key=lambda n: (n not in by_name, n)):  # live first, then retired
        config = by_name.get(name)
        now = (
            f"{config.deployment_status.value} ({stages.get(name, 'capital')}), allocation {config.allocation or 0:.1%}"
            if config is not None
            else "retired"
        )
        record = "not traded (zero capital)"
        if name in traded:
            metrics = PaperLedger(ledger_path).metrics(name)
            record = (
                f"{metrics.days} paper day(s), P&L {metrics.total_return:+.2%} of its sleeve, Sharpe {metrics.sharpe:.2f}, "
                f"{metrics.trade_count} trades"
            )
        terminal.say(f"      {name}: {now}; {record}")
    terminal.say("see it all in the UI: make ui  (status: python -m quant_organism status)")
    return 0


def _status(args: argparse.Namespace) -> int:
    from quant_organism.cli.status import print_status

    return print_status()


def _query(args: argparse.Namespace) -> int:
    """Run SQL over the memory views (docs/memory-and-workflows.md, "Memory") and print the rows."""
    import duckdb

    from quant_organism.reporting.memory import open_memory, views_in
    from quant_organism.runtime.ledger import LEDGER_FILE

    root = settings.data_dir()
    with open_memory(root, root / LEDGER_FILE) as con:
        _attach_market_views(con, settings.duckdb_path())
        if not args.sql:
            names = sorted(set(views_in(con)))
            print("views: " + ", ".join(names) if names else f"no runs under {root / 'history'} yet")
            return 0
        try:
            frame = con.execute(args.sql).df()
        except duckdb.Error as exc:
            names = sorted(set(views_in(con)))
            shown = ", ".join(names) if names else f"none yet under {root} (run `python -m quant_organism run` first)"
            print(f"query failed: {str(exc).splitlines()[0]}\nviews: {shown}", file=sys.stderr)
            return 2
    print(frame.to_csv(index=False) if args.csv else (frame.to_string(index=False) if len(frame) else "(no rows)"))
    return 0


def _attach_market_views(con, catalog: Path) -> None:
    """The market catalogue's views (candles, funding_rates, quarantine, partition_quality: docs/data.md) beside
    the memory's, read-only, so one command answers "which days failed the quality gate, and why"."""
    import duckdb

    from quant_organism.reporting.memory import views_in

    if not catalog.is_file():
        return
    mine = set(views_in(con))
    try:
        con.execute(f"ATTACH '{catalog}' AS market (READ_ONLY)")
    except duckdb.Error as exc:  # e.g. a writer holds its lock this instant: the memory views still answer
        print(f"(market views not attached: {str(exc).splitlines()[0]})", file=sys.stderr)
        return
    for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE database_name = 'market' AND NOT internal").fetchall():
        if name not in mine:
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM market."{name}"')


def _universe(args: argparse.Namespace) -> int:
    """Save the top N perpetuals as the universe (QUANT_ORGANISM_UNIVERSE=topN reads it): from the exchange by 24h
    volume, or, over a folder of files (`--files`, or the files source), point in time on `--as-of`."""
    from quant_organism.core.artifacts import write_json
    from quant_organism.market.universe import UNIVERSE_HISTORY_DIR, record_membership

    files = args.files or (settings.files_dir() if settings.source_name() == "files" else None)
    record = _files_universe(Path(files), args.top, args.as_of) if files else _exchange_universe(args)
    if record is None:
        return 1
    path = settings.data_dir() / settings.UNIVERSE_FILE
    write_json(path, record)
    history = record_membership(settings.data_dir() / UNIVERSE_HISTORY_DIR, record["as_of"], record)
    coins = record["coins"]
    print(f"universe: top {len(coins)} perpetuals by {record['by']} saved to {path}: {', '.join(coins[:10])}"
          + (" ..." if len(coins) > 10 else ""))  # fmt: skip
    print(f"membership as of {record['as_of']} recorded in {history} (a point-in-time universe reads the latest before a date)")
    print(f"use it: QUANT_ORGANISM_SOURCE={record['source']} QUANT_ORGANISM_UNIVERSE=top{len(coins)}")
    return 0


def _exchange_universe(args: argparse.Namespace) -> dict | None:
    from quant_organism.market.schema import MarketDataError
    from quant_organism.market.sources.hyperliquid import HyperliquidSource

    url = args.url or settings.hyperliquid_url()
    source = HyperliquidSource(url) if url else HyperliquidSource()
    try:
        listed = source.top_coins(None)  # every listed perpetual, through the SDK's metadata
    except MarketDataError as exc:
        print(f"quant_organism: universe not saved: {exc}", file=sys.stderr)
        return None
    finally:
        source.close()
    top = listed[: args.top]
    saved_at = pd.Timestamp.now(tz="UTC")
    return {"source": "hyperliquid", "by": "24h notional volume", "saved_at": saved_at.isoformat(),
            "as_of": saved_at.strftime("%Y-%m-%d"), "coins": [row["coin"] for row in top], "detail": top,
            "listed": sorted(row["coin"] for row in listed)}  # fmt: skip


def _files_universe(folder: Path, top: int, as_of: str | None) -> dict | None:
    """The point-in-time members on `as_of` (default: the day after the files' last daily bar), chosen from the
    days before it only (market/universe.py): what a run dated then could have known, delisted coins never
    ranked by their future."""
    from quant_organism.market.panel import load_folder_panel
    from quant_organism.market.universe import MIN_HISTORY_DAYS, members_on, point_in_time_members, trailing_dollar_volume

    try:
        panel = load_folder_panel(folder, "1d")
    except (FileNotFoundError, ValueError) as error:
        print(f"quant_organism: universe not saved: cannot read {folder}: {error}", file=sys.stderr)
        return None
    day = pd.Timestamp(as_of, tz="UTC") if as_of else panel.dollar_volume.index[-1] + pd.Timedelta(days=1)
    volume = panel.dollar_volume.loc[panel.dollar_volume.index <= day]
    volume = volume.reindex(volume.index.union([day]))  # the day itself: membership reads only the rows before it
    coins = members_on(point_in_time_members(volume, top), day)
    if not coins:
        print(f"quant_organism: universe not saved: no coin of {folder} has {MIN_HISTORY_DAYS} days of bars before "
              f"{day.date()}", file=sys.stderr)  # fmt: skip
        return None
    trailing = trailing_dollar_volume(volume).loc[day, coins].sort_values(ascending=False)
    return {"source": "files", "by": "trailing 30-day dollar volume, point in time", "folder": str(folder),
            "as_of": day.strftime("%Y-%m-%d"), "coins": list(trailing.index),
            "detail": [{"coin": c, "dollar_volume_30d": round(float(v), 2)} for c, v in trailing.items()]}  # fmt: skip


def _ui(args: argparse.Namespace) -> int:
    """Serve the Dagster UI on 127.0.0.1 over the persistent instance the main command wrote to, with `dg dev`
    (Dagster 1.13 reports `dagster dev` as superseded by it) from the project root, whose pyproject.toml names the
    code location ([tool.dg.project]); it runs the definitions in this Python's environment."""
    prepare_dagster_home()
    # Range runs planned as one partition-subset event (the CLI's switch, prepare_dagster_home) leave a failed
    # run's partitions missing rather than failed: the automation conditions, which never request a failed
    # partition again (Dagster's run retries do), would request them at every evaluation. Not under the daemon.
    os.environ.pop("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", None)
    root = str(Path(__file__).resolve().parents[2])  # the project root, where pyproject.toml is
    bin_dir = os.path.dirname(sys.executable)
    beside_python = os.path.join(bin_dir, "dg")
    dg_cli = beside_python if os.path.exists(beside_python) else "dg"
    os.environ["VIRTUAL_ENV"] = os.path.dirname(bin_dir)  # the environment dg runs the code location in
    command = [dg_cli, "dev", "--host", args.host, "--port", str(args.port), "--use-active-venv"]
    print(f"serving http://{args.host}:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    os.chdir(root)
    os.execvp(command[0], command)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    """Every command and flag of `python -m quant_organism` (the README's commands are parsed by it in the tests)."""
    parser = argparse.ArgumentParser(prog="python -m quant_organism", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the main job: ingest, then evolve -> validate -> deploy -> report for the last day")
    run.add_argument("--end", help="last UTC day ingested (default: yesterday)")
    run.add_argument(
        "--days",
        type=int,
        default=None,
        help="days of history to ingest up to the evolution day (default: the preset's lookback; "
        "fewer shrink the windows, down to the preset's min_lookback_days)",
    )
    run.add_argument(
        "--preset",
        default=None,
        choices=["test", "full"],
        help="evolution preset (default QUANT_ORGANISM_PRESET, else full: the real search)",
    )
    run.add_argument(
        "--paper-days", type=int, default=0, help="evolve on --end minus N days, then paper-trade the N days after it (default 0)"
    )
    run.add_argument(
        "--evolve-every",
        type=int,
        default=0,
        help="re-evolve every N of the paper days, as the nightly chain would (default 0: once)",
    )
    run.add_argument("--ingest-only", action="store_true", help="stop after ingesting market data")
    run.add_argument("--strategies", type=int, help="population size (the preset's total_strategies)")
    run.add_argument("--generations", type=int, help="generations per island")
    run.add_argument(
        "--executor",
        choices=["serial", "process", "ray", "auto"],
        help="where the islands evolve (default: the preset's; the production preset's auto asks the machine: a "
        "configured Ray cluster, a local Ray from 4 CPUs, else one process); serial keeps the run in one process",
    )
    run.add_argument(
        "--hours",
        type=float,
        help="time budget of the evolve/validate/deploy/report run, in hours "
        "(shares: 50%% evolution, 37.5%% validation, 12.5%% deployment and report)",
    )
    run.add_argument("--validation-mode", choices=["minimal", "fast", "full"], help="validation stages (default fast)")
    run.add_argument("--cost-limit", type=float, help="refuse to start when the estimated compute cost (USD) is above")
    run.add_argument("--test-mode", action="store_true", help="the quick test preset (same as --preset test)")
    run.add_argument("--workflow", help="run a YAML research workflow (a packaged name or a file) instead of the chain")
    run.add_argument("--resume", metavar="RUN_ID", help="with --workflow: re-execute that failed run from its failed phase")
    run.set_defaults(handler=_run)
    status = sub.add_parser("status", help="the deployed set, paper P&L, health and the last runs")
    status.set_defaults(handler=_status)
    query = sub.add_parser("query", help="SQL over every run's results (views: populations, verdicts, deployments, ...)")
    query.add_argument("sql", nargs="?", help="the query; none lists the views")
    query.add_argument("--csv", action="store_true", help="print CSV")
    query.set_defaults(handler=_query)
    universe = sub.add_parser("universe", help="save the top N perpetuals by volume as the universe (exchange or files)")
    universe.add_argument("--top", type=int, default=50)
    universe.add_argument(
        "--files", help="a folder of candle files (default: QUANT_ORGANISM_FILES_DIR with the files source): rank point in time"
    )
    universe.add_argument("--as-of", help="with files: the day the members are chosen for, from the days before it")
    universe.add_argument(
        "--url", help="Hyperliquid API URL (default QUANT_ORGANISM_HYPERLIQUID_URL, else mainnet; read-only info call)"
    )
    universe.set_defaults(handler=_universe, reads_universe=False)  # it makes the file QUANT_ORGANISM_UNIVERSE reads
    from quant_organism.cli import retrospective_command as retrospective_cli

    retrospective_cli.add_parser(sub)
    from quant_organism.cli import documented_command as documented_cli

    documented_cli.add_parser(sub)
    from quant_organism.cli import operator_policy as policy_cli

    policy_cli.add_parser(sub)
    from quant_organism.cli import live as live_cli

    live_cli.add_parser(sub)
    from quant_organism.cli import dashboard as dashboard_cli

    dashboard_cli.add_parser(sub)
    ui = sub.add_parser("ui", help="start the Dagster UI (dg dev) on the project's instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=_ui)
    return parser


RAY_AUTH_NOTICE = "Token authentication is enabled for this Ray cluster"
"""Ray 2.60 announces its default (token auth on a new local instance) on every start; the setting is the
user's (docs/operations.md), so the CLI leaves it alone and only drops the announcement."""


def _quiet_api_notices() -> None:
    """Notices that speak to this code's authors, not to the person at the terminal: Dagster's that an API is in
    beta or preview (the version is pinned and locked), and Ray's announcement of its default auth mode."""
    warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
    logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(_not_the_ray_auth_notice)


def _not_the_ray_auth_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(RAY_AUTH_NOTICE)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "reads_universe", True):
            settings.check_environment()
    except ValueError as exc:
        print(f"quant_organism: {exc}", file=sys.stderr)
        return 2
    _quiet_api_notices()
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
