"""When each asset of the nightly chain runs: Dagster automation conditions on the assets.

Dagster's automation-condition sensor (`automation_sensor`) evaluates them and launches the runs, and the UI
shows per asset and partition which part of its condition held and which did not. The chain:
- market candles, funding and sentiment after 00:15 UTC for each closed day (the `CATCH_UP` days before
  included, so a night the daemon missed is ingested the next night);
- regimes as soon as every coin's candles of the day are in, their quality checks passed;
- the population (and with it configs, validation, deployment, report) after 02:00, once the day's inputs
  are in, the lake holds enough history, and the day's paper roll-up has run;
- the paper roll-up after 00:45, one day after the other; the hourly paper book a few minutes after each
  hour closes; the health score every hour.

A failed run is retried by Dagster's run retries (`RETRY_TAGS` on every run the sensor launches; the
instance file enables the retry daemon), never by a condition: each condition excludes a partition whose
last run failed, so after the retries the failure waits for a person (the failure log and alerts). What the
conditions ask of the project's own state (history held, the paper roll-up, capital held) is decided in
plain Python (`automation/days.py`) and queried here; each is a labelled condition, so the UI names it.
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Collection
from datetime import timedelta

import dagster as dg
import pandas as pd

from quant_organism import operations as orch
from quant_organism import settings
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.defs.shared.keys import CANDLES, PAPER, REGIME
from quant_organism.defs.shared.partitions import open_daily, partition_coin_day, partitioned
from quant_organism.evolution.evolution_config import load_preset
from quant_organism.market.lake import MarketLake

CATCH_UP = timedelta(days=3)  # closed days a condition looks back at: a night the daemon slept through is not lost
INGEST_CRON, PAPER_CRON, EVOLVE_CRON = "15 0 * * *", "45 0 * * *", "0 2 * * *"
HOURLY_PAPER_CRON, HEALTH_CRON = "3 * * * *", "5 * * * *"
MAX_RETRIES = 3  # Dagster retries a failed run 3 times: 4 tries per asset and partition, then a person looks
RETRY_TAGS = {"dagster/max_retries": str(MAX_RETRIES)}

AC = dg.AutomationCondition
MATERIALIZED, FAILED = "MATERIALIZED", "FAILED"


def _status(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def, partitions: Collection[str]) -> dict[str, str]:
    """{partition: MATERIALIZED | FAILED | IN_PROGRESS} for the given partitions of `key` that have one."""
    wanted = [p for p in partitions if partitions_def.has_partition_key(p)]
    found = (instance.get_status_by_partition(key, wanted, partitions_def) or {}) if wanted else {}
    return {p: s.value for p, s in found.items() if s is not None}


def candle_days(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    """Every (coin, day) whose candles are materialised: one query."""
    return {partition_coin_day(key) for key in instance.get_materialized_partitions(CANDLES)}


def complete_days(instance: dg.DagsterInstance, lake: MarketLake, days, coins, interval: str) -> list[str]:
    """The `days` on which every coin's candles are materialised and passed their stored quality (automation/days.py)."""
    complete, _ = orch.complete_days(
        days, coins, candle_days(instance), lambda coin, day: lake.quality("candles", coin, day, interval)
    )
    return complete


class ProjectCondition(dg.AutomationCondition):
    """A condition on the project's own state: true for the candidate partitions `holds` keeps.

    `holds(instance, partitions, now)` returns the partitions it holds for at the evaluation time `now`; the
    rule itself is plain Python where it is more than a query."""

    label_text: str = ""

    @property
    def name(self) -> str:
        return self.label_text or type(self).__name__

    @abc.abstractmethod
    def holds(self, instance: dg.DagsterInstance, partitions: list[str], now: pd.Timestamp) -> set[str]: ...

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        candidates = sorted(context.candidate_subset.expensively_compute_partition_keys())
        if not candidates:
            return dg.AutomationResult(context=context, true_subset=context.get_empty_subset())
        held = self.holds(context.asset_graph_view.instance, candidates, pd.Timestamp(context.evaluation_time))
        return dg.AutomationResult(
            context=context, true_subset=context.candidate_subset.compute_intersection_with_partition_keys(held)
        )


class DayInputsIn(ProjectCondition):
    """Every coin's candles of the day are in with passing quality (per the lake) and the day's regimes are."""

    label_text: str = "the day's candles (every coin, quality passed) and regimes are in"

    def holds(self, instance, partitions, now):
        complete = complete_days(instance, MarketLake(settings.lake_dir()), partitions, settings.coins(), settings.interval())
        regimes = instance.get_materialized_partitions(REGIME)
        return {day for day in complete if day in regimes}


class HistoryHeld(ProjectCondition):
    """The lake holds `days.HISTORY_SHARE` of the production preset's shortest lookback before the day, in every
    coin: evolution would only fail on less (a lake that ends months before yesterday, as `make demo` leaves it)."""

    label_text: str = "the lake holds the lookback's history"

    def holds(self, instance, partitions, now):
        min_days = load_preset(settings.production_preset()).shortest_lookback_days
        materialised = candle_days(instance)
        return {d for d in partitions if orch.short_history(d, settings.coins(), materialised, min_days) is None}


def _book_started(instance: dg.DagsterInstance) -> str | None:
    """The first day the paper roll-up materialised (None while the book has not started)."""
    done = sorted(instance.get_materialized_partitions(PAPER))
    return done[0] if done else None


def _settled_days(instance: dg.DagsterInstance, days: Collection[str]) -> set[str]:
    """Days whose paper roll-up materialised or failed (its retries spent or pending: Dagster retries it)."""
    return {d for d, s in _status(instance, PAPER, open_daily(), days).items() if s in (MATERIALIZED, FAILED)}


class PaperRolledUp(ProjectCondition):
    """The day's paper roll-up has run (or failed), or the book had not started by then: the deployment decided
    on the day reads the paper record up to it, and a deployment made first would leave the day untraded."""

    label_text: str = "the day's paper roll-up has run"

    def holds(self, instance, partitions, now):
        started = _book_started(instance)
        if started is None:
            return set(partitions)
        return {d for d in partitions if d < started} | _settled_days(instance, partitions)


class PaperInOrder(ProjectCondition):
    """Each day's book starts where the day before ended: a day is rolled up after the day before has run (or
    failed). A book that has not started starts on the latest closed day only."""

    label_text: str = "the day before is rolled up"

    def holds(self, instance, partitions, now):
        started = _book_started(instance)
        if started is None:  # a new book starts on the latest closed day
            latest = (now.tz_convert("UTC").floor("D") - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
            return {latest} & set(partitions)
        before = {d: _day_before(d) for d in partitions}
        settled = _settled_days(instance, set(before.values()))
        return {d for d in partitions if d > started and before[d] in settled}


def _day_before(day: str) -> str:
    return (pd.Timestamp(day) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")


def traded_coins(live) -> tuple[str, ...]:
    """The universe's coins that the strategies trade (their data windows' coins; all for one without)."""
    universe = settings.coins()
    wanted = set()
    for config in live:
        wanted |= set(config.data_window.coins) if config.data_window is not None and config.data_window.coins else set(universe)
    return tuple(c for c in universe if c in wanted)


class BookTradable(ProjectCondition):
    """A deployed strategy holds capital and the lake holds the day before the hour's day (the nightly ingest)."""

    label_text: str = "a strategy holds capital and the lake holds the day before"

    def holds(self, instance, partitions, now):
        holders = [
            c
            for c in StrategyStore(settings.data_dir() / STORE_DIR).load_strategies(status=LIVE_STATUSES)
            if (c.allocation or 0.0) > 0
        ]
        if not holders:
            return set()
        stored = candle_days(instance)
        coins = traded_coins(holders)
        ready = set()
        for hour in partitions:
            before = _day_before(hour[:10])
            if all((coin, before) in stored for coin in coins):
                ready.add(hour)
        return ready


def _recent(window: timedelta = CATCH_UP) -> dg.AutomationCondition:
    return AC.in_latest_time_window(window)


def _fresh_attempt() -> dg.AutomationCondition:
    """Missing, not running, and its last run did not fail (a failed run is Dagster's run retries' to repeat)."""
    return (AC.missing() & ~AC.in_progress() & ~AC.execution_failed()).with_label("missing, not running, not failed")


def _clock(cron: str) -> str:
    """'15 0 * * *' -> '00:15' (a daily cron's time of day, for the labels the UI shows)."""
    minute, hour = cron.split()[:2]
    return f"{int(hour):02d}:{int(minute):02d}" if hour.isdigit() else f"minute {minute} of every hour"


def _after(cron: str) -> dg.AutomationCondition:
    return AC.cron_tick_passed(cron, "UTC").since_last_handled()


def ingest_condition() -> dg.AutomationCondition:
    return (_recent() & _after(INGEST_CRON) & _fresh_attempt()).with_label(f"each closed day after {_clock(INGEST_CRON)} UTC")


def regime_condition() -> dg.AutomationCondition:
    ready = ~AC.any_deps_missing() & ~AC.any_deps_in_progress() & AC.all_deps_blocking_checks_passed()
    return (_recent() & _fresh_attempt() & ready).with_label("when the day's candles are all in")


def sentiment_condition() -> dg.AutomationCondition:
    """The day's Fear & Greed value, with the day's ingest (the regimes read it; `any_downstream_conditions`
    would tie it to them, but recurses through the regimes' own dependency on it in Dagster 1.13)."""
    return (_recent() & _after(INGEST_CRON) & _fresh_attempt()).with_label(f"each closed day after {_clock(INGEST_CRON)} UTC")


def population_condition() -> dg.AutomationCondition:
    return (
        _recent()
        & _after(EVOLVE_CRON)
        & _fresh_attempt()
        & ~AC.any_deps_in_progress()
        & DayInputsIn()
        & HistoryHeld()
        & PaperRolledUp()
    ).with_label(f"nightly after {_clock(EVOLVE_CRON)} UTC, once the day is complete")


def chain_condition() -> dg.AutomationCondition:
    """The assets downstream of the population, in the same run (or after a population materialised by hand)."""
    return AC.eager().replace("in_latest_time_window", _recent())


def chain_asset(**asset_args):
    """`dg.asset` for a step of the night's chain after the population: daily partitioned, run by `chain_condition`."""
    return partitioned(dg.asset, "daily", automation_condition=chain_condition(), **asset_args)


def paper_condition() -> dg.AutomationCondition:
    # the day's bars: each coin's ingest done or failed (a day the exchange never delivered is tried, and reported)
    ingesting = (AC.missing() & ~AC.execution_failed()) | AC.in_progress()
    bars_settled = (~AC.any_deps_match(ingesting).allow(dg.AssetSelection.assets(CANDLES))).with_label("the day's ingest has run")
    return (_recent() & _after(PAPER_CRON) & _fresh_attempt() & bars_settled & PaperInOrder()).with_label(
        f"each closed day after {_clock(PAPER_CRON)} UTC"
    )


def hourly_paper_condition() -> dg.AutomationCondition:
    return (_recent(timedelta(hours=2)) & _after(HOURLY_PAPER_CRON) & _fresh_attempt() & BookTradable()).with_label(
        "each hour a few minutes after it closes"
    )


def health_condition() -> dg.AutomationCondition:
    return AC.on_cron(HEALTH_CRON, "UTC")


def automation_status() -> dg.DefaultSensorStatus:
    """RUNNING unless QUANT_ORGANISM_AUTOMATION=off (settings.automation_on)."""
    return dg.DefaultSensorStatus.RUNNING if settings.automation_on() else dg.DefaultSensorStatus.STOPPED


def make_automation_sensor(name: str = "automation_sensor") -> dg.AutomationConditionSensorDefinition:
    with warnings.catch_warnings():  # use_user_code_server is beta in Dagster 1.13: the project's conditions need it
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _automation_sensor(name)


def _automation_sensor(name: str) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        name,
        target=dg.AssetSelection.all(),
        run_tags=RETRY_TAGS,
        default_status=automation_status(),
        use_user_code_server=True,  # the project's own conditions (history, paper roll-up) are evaluated in its code
        emit_backfills=False,  # a run per partition: days caught up after a missed night run one by one
        minimum_interval_seconds=60,
        description="Evaluates the assets' automation conditions: the nightly chain, the paper book and the health score.",
    )


automation_sensor = make_automation_sensor()
