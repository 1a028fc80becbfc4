"""A simulated month of unattended nights with the faults a real month brings (issue 23).

The project's real definitions run under Dagster's test harness (support/month.py): the assets' automation
conditions are evaluated through each night on a simulated clock, every request runs the real assets (ingest
through the Hyperliquid SDK from the local replay server, regimes, the evolution chain on the `test` preset,
the daily paper roll-up), failed runs are retried as Dagster's run retries do and go to the project's failure
recorder. Injected, one per few days:

| day        | fault                                                                             |
|------------|-----------------------------------------------------------------------------------|
| 2024-03-04 | the exchange answers 503 all night                                                |
| 2024-03-09 | a missing market day: the exchange has no SOL bars for it                         |
| 2024-03-13 | the evolution run is killed (SIGKILL in a child process, after its population)    |
| 2024-03-16 | a corrupt config file: the operator policy; a person removes it and re-executes    |
| 2024-03-19 | a duplicated evaluation (the automation sensor re-run with its old cursor)        |
| 2024-03-22 | a full disk on one write (the first durable file write of the evolution run)      |
| 2024-03-26 | a clock jump: the night after 03-26 never ticks; later the clock steps back a day |

Afterwards every day is materialised or failed with a recorded reason, the ledger is consistent bar by bar,
no deployment is lost or duplicated, every failure raised an alert and the health history shows each
incident. The table of what happened is written to the test's output (`pytest -s`).
"""

from __future__ import annotations

import errno
import functools
import json
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from quant_organism import settings
from quant_organism.catalog.manifest import DEPLOYMENTS_DIR, load_current_deployment
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.defs.automation.health_asset import check_health
from quant_organism.defs.deployment.assets import DEPLOYED, REPORT
from quant_organism.defs.evolution.assets import POPULATION, STRATEGY_CONFIGS
from quant_organism.defs.market.assets import CANDLES
from quant_organism.defs.market.regime_assets import REGIME
from quant_organism.defs.runtime.assets import PAPER
from quant_organism.defs.validation.assets import VALIDATED
from quant_organism.market.lake import MarketLake
from quant_organism.market.resilience import RetryPolicy
from quant_organism.market.sources import hyperliquid as hyperliquid_source
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.operations.alerts import read_alerts
from quant_organism.operations.failures import FAILURES_FILE, read_failures
from quant_organism.operations.health import history, record
from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger
from quant_organism.runtime.operator import POLICY_FILE
from quant_organism_tests.support.hl_replay_server import Fault, HyperliquidReplayServer
from quant_organism_tests.support.instance import one_event_log
from quant_organism_tests.support.month import NIGHT_TICKS, UTC, Month
from quant_organism_tests.support.paper_book import deploy_long_windows

HISTORY = ("2024-01-01", "2024-02-29")  # the test preset's 60-day lookback, ingested before the month
MONTH = [d.strftime("%Y-%m-%d") for d in pd.date_range("2024-03-01", periods=30, freq="D")]
OUTAGE, MISSING, KILLED, CORRUPT, DUPLICATE, FULL_DISK, ASLEEP = (
    "2024-03-04",
    "2024-03-09",
    "2024-03-13",
    "2024-03-16",
    "2024-03-19",
    "2024-03-22",
    "2024-03-26",
)
MISSING_COIN = "SOL"


@pytest.fixture
def exchange():
    """The synthetic market's bars and funding for the whole quarter, except SOL's bars of the missing day."""
    source, end = SyntheticSource(), pd.Timestamp("2024-04-01", tz="UTC")
    with HyperliquidReplayServer(candle_cap=5000, funding_cap=2000) as server:
        for coin in settings.coins():
            bars = source.candles(coin, HISTORY[0], end)
            if coin == MISSING_COIN:
                bars = bars[bars["timestamp"].dt.strftime("%Y-%m-%d") != MISSING]
            server.add_candles(coin, bars, "1h")
            server.add_funding(coin, source.funding(coin, HISTORY[0], end))
        yield server


class FullDisk:
    """The first durable file write after `arm()` fails with ENOSPC before any byte lands (a temp-file write that
    fails); every other write goes through."""

    def __init__(self, monkeypatch) -> None:
        from quant_organism.catalog import manifest, store

        self.armed, self.hit = False, None
        for module in (manifest, store):
            real = module.create_new

            def failing(path, data, *, sync=True, _real=real):
                if self.armed:
                    self.armed, self.hit = False, Path(path)
                    raise OSError(errno.ENOSPC, "No space left on device", str(path))
                return _real(path, data, sync=sync)

            monkeypatch.setattr(module, "create_new", failing)

    def arm(self) -> None:
        self.armed = True


def _deployment_versions(data_dir: Path) -> list[dict]:
    folder = data_dir / STORE_DIR / DEPLOYMENTS_DIR
    return [json.loads(p.read_text()) for p in sorted(folder.glob("2*.json"))] if folder.is_dir() else []


def _ledger_problems(path: Path) -> tuple[int, list[str]]:
    """(bars checked, problems): cash + position value = equity on every book's bar, the P&L table's equity
    equals the position table's, and each bar's P&L is its equity change."""
    if not path.exists():
        return 0, []
    ledger = PaperLedger(path)
    positions, pnl = ledger.table("positions"), ledger.table("pnl")
    problems = []
    value = positions["cash"] + positions["units"] * positions["close"]
    off = (value - positions["equity"]).abs() > 1e-6 * positions["equity"].abs().clip(lower=1.0)
    problems += [f"cash + units x close != equity at {r.strategy} {r.coin} {r.bar_time}" for r in positions[off].itertuples()]
    joined = positions.merge(pnl, on=["strategy", "coin", "bar_time"], suffixes=("", "_pnl"), how="outer", indicator=True)
    problems += [
        f"{r.strategy} {r.coin} {r.bar_time}: in one table only ({r._merge})"
        for r in joined[joined["_merge"] != "both"].itertuples()
    ]
    both = joined[joined["_merge"] == "both"].sort_values(["strategy", "coin", "bar_time"])
    problems += [
        f"equity differs at {r.strategy} {r.coin} {r.bar_time}"
        for r in both[(both["equity"] - both["equity_pnl"]).abs() > 1e-6].itertuples()
    ]
    change = both.groupby(["strategy", "coin"])["equity"].diff()
    jumps = (change - both["pnl"]).abs() > 1e-6 * both["equity"].abs().clip(lower=1.0)
    problems += [
        f"pnl is not the equity change at {r.strategy} {r.coin} {r.bar_time}" for r in both[jumps & change.notna()].itertuples()
    ]
    return len(positions), problems


def _day_outcome(month: Month, key: dg.AssetKey, partition: str) -> str:
    runs = month.runs(key, partition)
    ok = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
    if ok:
        return "ok" if len(runs) == 1 else f"ok at try {len(runs)}"
    return f"failed x{len(runs)}" if runs else "not run"


@pytest.mark.timeout(1500)
def test_a_simulated_month_with_faults_ends_consistent_with_every_incident_reported(data_dir, exchange, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_ORGANISM_PRESET", "test")  # the automation evolves on the production preset: here `test`
    # The SDK's retries keep their number, not their waits (backoff is tested in test_hyperliquid_source.py):
    # a night of 503s is 20 runs x 5 attempts, and real backoff would add minutes of sleep.
    monkeypatch.setattr(hyperliquid_source, "RetryPolicy", functools.partial(RetryPolicy, base_delay=0.001, max_delay=0.005))
    coins = settings.coins()
    full_disk = FullDisk(monkeypatch)
    instance_dir = tmp_path / "dagster"
    instance_dir.mkdir()
    injected: dict[str, str] = {}
    found: dict[str, str] = {}
    with dg.instance_for_test(temp_dir=str(instance_dir), overrides=one_event_log(instance_dir)) as instance:
        month = Month(instance, data_dir, exchange.url, instance_dir)
        month.ingest_history(coins, *HISTORY)
        # the book a running organism holds when the month starts (support/paper_book.py), deployed on its eve
        assert deploy_long_windows(StrategyStore(data_dir / STORE_DIR), evolved_on=HISTORY[1], first=HISTORY[0])
        policy_path = data_dir / POLICY_FILE
        for key in (POPULATION, STRATEGY_CONFIGS, VALIDATED, DEPLOYED, REPORT):  # the eve's evolution deployed that book
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=HISTORY[1]))
        month.tick(datetime(2024, 3, 1, 23, 0, tzinfo=UTC))  # the daemon was running before the month's first night

        for day in MONTH:
            night = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
            if day == ASLEEP:
                injected[day] = "the machine sleeps through the night after it: no tick at all"
                continue
            if day == OUTAGE:
                injected[day] = "the exchange answers HTTP 503 to every request all night"
                exchange.plan(Fault.http(503, "upstream unavailable", times=None))
            if day == MISSING:
                injected[day] = f"the exchange has no {MISSING_COIN} bars for the day"
            if day == KILLED:
                injected[day] = "the day's evolution run is SIGKILLed after saving its population"
                month.killer = (POPULATION, day)
            if day == CORRUPT:
                injected[day] = "the operator policy file is corrupt; after the night a person removes it and re-executes"
                policy_path.parent.mkdir(parents=True, exist_ok=True)
                policy_path.write_text('{"risk_mode": "defensive", ')
                corrupt = policy_path.read_bytes()
            if day == FULL_DISK:
                injected[day] = "the disk is full for the first durable write of the day's evolution run"
                before = load_current_deployment(StrategyStore(data_dir / STORE_DIR))
                after_full_disk = []

                def deployment_after_failure(launch, day=day, seen=after_full_disk):  # as the run ends, before Dagster's retry
                    if launch.status == "FAILURE" and launch.partition == day and "evolution/population" in launch.assets:
                        store = StrategyStore(data_dir / STORE_DIR)
                        seen.append((load_current_deployment(store), store.has_pending_commit()))

                month.observers.append(deployment_after_failure)

            for hour, minute in NIGHT_TICKS:
                if day == FULL_DISK and hour == 2:
                    full_disk.arm()  # the evolution runs at this tick, after the day's paper roll-up at 00:46
                previous_cursor = month.cursor
                month.tick(night + timedelta(hours=hour, minutes=minute))
                if day == DUPLICATE and hour == 2:
                    injected[day] = "the automation sensor's evaluation is repeated with its old cursor"
                    again = month.evaluate(night + timedelta(hours=2, minutes=30), cursor=previous_cursor, keep_cursor=False)
                    assert again == [] and len(month.runs(POPULATION, day)) == 1, again
                    found[day] = "the repeated evaluation requested nothing: the day's evolution had materialised"
                if day == FULL_DISK and hour == 2:
                    assert full_disk.hit is not None, "the evolution never wrote a file"
                    assert after_full_disk == [(before, False)], "the failed run changed the deployment in force"
                    assert [r.status.value for r in month.runs(POPULATION, day)][:1] == ["FAILURE"]
                    found[day] = (
                        f"write of {full_disk.hit.name} failed; the run failed, the deployment in force "
                        "stayed as it was; Dagster's retry succeeded"
                    )
            if day == CORRUPT:
                assert policy_path.read_bytes() == corrupt  # reported and left in place, never rewritten
                assert not month.succeeded(PAPER, day)
                policy_path.unlink()  # the person on call removes it: the defaults apply again
                month.reexecute(month.runs(PAPER, day)[-1], "a person")  # and re-executes the failed roll-up
            if day == OUTAGE:
                exchange.clear()

            report = check_health(instance, data_dir, MarketLake(data_dir / "lake"), now=night + timedelta(hours=6))
            record(report, data_dir)

            if day == "2024-03-28":  # the clock steps back a day: the night after 03-27 ticks again
                injected["clock back"] = (
                    "after the night that closed 03-28 the clock steps back a day: the night that closed 03-27 ticks again"
                )
                before_replay = len(month.launches)
                month.night(datetime.fromisoformat("2024-03-28").replace(tzinfo=UTC))
                relaunched = month.launches[before_replay:]
                assert relaunched == [], relaunched
                found["clock back"] = "nothing ran twice: every day it revisited was covered"

        month.record_failures()
        failures = read_failures(data_dir / FAILURES_FILE)
        alerts = read_alerts(data_dir)
        checks = history(data_dir)

    # --- every day: materialised, or failed with a recorded reason -----------------------------------------
    rows, unexplained = [], []
    for day in MONTH:
        outcome = {
            "ingest": ", ".join(f"{c} {o}" for c in coins if (o := _day_outcome(month, CANDLES, f"{c}|{day}")) != "ok") or "ok",
            "regime": _day_outcome(month, REGIME, day),
            "evolve": _day_outcome(month, REPORT, day),  # the chain's last asset: a retry re-executes from failure
            "paper": _day_outcome(month, PAPER, day),
        }
        reasons = sorted({f["error"].splitlines()[0][:90] for f in failures if day in str(f.get("partition"))})
        for job, text in outcome.items():
            if "ok" not in text and not reasons:
                unexplained.append(f"{day} {job}: {text} without a recorded failure")
        rows.append((day, outcome, reasons))
    assert unexplained == []
    for step in ("evolve", "paper"):
        missed = [
            (day, outcome, why)
            for day, outcome, why in rows
            if day not in (OUTAGE, MISSING) and not outcome[step].startswith("ok")
        ]
        assert missed == [], step

    # --- the faults were seen where they were injected --------------------------------------------------------
    ingests = [f for f in failures if "market/candles" in f["assets"]]
    outage = [f for f in ingests if OUTAGE in f["partition"]]
    assert len(outage) == 4 * len(coins) and all("503" in f["error"] for f in outage)  # 4 tries per coin, then given up
    assert sorted(f["retry"] for f in outage) == sorted([0, 1, 2, 3] * len(coins))  # the tries are Dagster's retries
    found[OUTAGE] = (
        f"{len(outage)} ingest runs failed (a run and Dagster's 3 retries per coin) with HTTP 503; then it waits for a person"
    )
    missing = [f for f in ingests if f["partition"] == f"{MISSING_COIN}|{MISSING}"]
    assert len(missing) == 4 and all("quality" in f["error"].lower() or "could not be ingested" in f["error"] for f in missing)
    found[MISSING] = f"{MISSING_COIN}'s ingest failed its quality gate 4 times; the regimes and the evolution waited"
    killed = [
        r
        for r in month.runs(POPULATION, KILLED)
        if r.tags.get("quant_organism/orphaned") == "true" and r.status == dg.DagsterRunStatus.FAILURE
    ]  # fmt: skip (a retry copies its parent's tags, the reaper's mark included)
    assert len(killed) == 1 and month.succeeded(REPORT, KILLED)
    found[KILLED] = "the reaper sensor marked the orphaned run failed at the next tick and Dagster's retry evolved the day"
    corrupt_failures = [f for f in failures if "runtime/paper_performance" in f["assets"] and f["partition"] == CORRUPT]
    assert corrupt_failures and all("policy" in f["error"].lower() for f in corrupt_failures)
    assert month.succeeded(PAPER, CORRUPT)
    found[CORRUPT] = (
        f"the paper roll-up failed {len(corrupt_failures)}x naming the policy file, which stayed in place; ok after the fix"
    )
    assert month.succeeded(REPORT, FULL_DISK)
    for day in (ASLEEP, "2024-03-27"):  # the night after the jump caught the skipped day up, in order
        assert month.succeeded(PAPER, day) and month.succeeded(REPORT, day)
        assert all(month.succeeded(CANDLES, f"{c}|{day}") for c in coins)
    found[ASLEEP] = "the next night ingested, rolled up and evolved both days, in order"
    paper_days = month.successful_days(PAPER)
    assert paper_days == sorted(paper_days) and len(paper_days) == len(set(paper_days))

    # --- the ledger, the deployments, the alerts, the health --------------------------------------------------
    bars, problems = _ledger_problems(data_dir / LEDGER_FILE)
    assert problems == [] and bars > 24 * 20, (bars, problems[:5])  # the book traded most of the month
    versions = _deployment_versions(data_dir)
    dates = [v["evolution_date"] for v in versions]
    assert len(dates) == len(set(dates)), f"a day deployed twice: {dates}"
    current = load_current_deployment(StrategyStore(data_dir / STORE_DIR))
    if versions:
        assert current == versions[-1]
        chain = {v["version"]: v["previous"] for v in versions}
        assert all(previous is None or previous in chain for previous in chain.values()), "a deployment went missing"
        stored = {c.name for c in StrategyStore(data_dir / STORE_DIR).load_strategies()}
        assert {s["name"] for s in current["strategies"]} <= stored

    failed_runs = {f["run_id"] for f in failures}
    alerted = {a["details"].get("run_id") for a in alerts if a["kind"] == "run_failure"}
    assert failed_runs and failed_runs <= alerted
    for day in (OUTAGE, MISSING, KILLED, CORRUPT, FULL_DISK):
        check = next(
            c
            for c in checks
            if c["checked_at"].startswith((datetime.fromisoformat(day) + timedelta(days=1)).strftime("%Y-%m-%d"))
        )
        incidents = next(c for c in check["components"] if c["name"] == "incidents")
        assert incidents["score"] < 1.0 and day in incidents["detail"], (day, incidents)
    calm = [c for c in checks if next(x for x in c["components"] if x["name"] == "incidents")["score"] == 1.0]
    assert calm, "no quiet day at all"

    table = ["| day | injected | ingest | regime | evolve | paper | found |", "|---|---|---|---|---|---|---|"]
    for day, outcome, reasons in rows:
        table.append(
            f"| {day} | {injected.get(day, '')} | {outcome['ingest']} | {outcome['regime']} | {outcome['evolve']} | "
            f"{outcome['paper']} | {found.get(day, '; '.join(reasons)[:160])} |"
        )
    table.append(f"| (clock) | {injected['clock back']} | | | | | {found['clock back']} |")
    summary = (
        f"{len(failures)} failed runs, all alerted ({len(alerts)} alerts); {len(versions)} deployments, none lost or "
        f"twice; ledger consistent on {bars} book-bars; health {min(c['score'] for c in checks):.2f}.."
        f"{max(c['score'] for c in checks):.2f} over {len(checks)} daily checks"
    )
    print("\n" + "\n".join(table) + "\n\n" + summary + "\n" + month.timing())
