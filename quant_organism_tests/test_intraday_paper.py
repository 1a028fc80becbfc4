"""Intraday paper trading: `runtime/paper_bars` trades each hour as it closes into the one ledger.

Everything comes through the real Hyperliquid SDK from the local replay server on 127.0.0.1 serving the
synthetic market's bars: the lake's history (ingest), and the bars of a day not ingested yet (the live
market as the hourly run sees it). Checked:
- hour by hour, the book's record equals the vectorised backtest after every hour (`paper_matches_backtest`);
- a rerun of an hour rewrites identical rows (idempotent);
- the daily asset is the day's roll-up: it leaves the hourly ledger exactly as it was;
- hours of a day not yet in the lake are traded from the source, and the day's roll-up after its ingest
  keeps them unchanged.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.definitions import load_definitions
from quant_organism.defs.shared.resources import OperatorPolicyResource, project_resources
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger
from quant_organism_tests.support.hl_replay_server import HyperliquidReplayServer
from quant_organism_tests.support.instance import product_instance
from quant_organism_tests.support.paper_book import COINS, FIRST, PAPER_DAYS
from quant_organism_tests.support.paper_book import deploy_long_windows as _deploy

DAY1, DAY2 = PAPER_DAYS[0], PAPER_DAYS[1]
TABLES = ("orders", "fills", "positions", "pnl", "trades")


@pytest.fixture
def exchange():
    """The replay server with the synthetic market's BTC and ETH bars and funding up to the end of DAY2."""
    source, end = SyntheticSource(), pd.Timestamp(DAY2, tz="UTC") + pd.Timedelta(days=1)
    with HyperliquidReplayServer(candle_cap=5000, funding_cap=500) as server:
        for coin in COINS:
            server.add_candles(coin, source.candles(coin, FIRST, end), "1h")
            server.add_funding(coin, source.funding(coin, FIRST, end))
        yield server


def _ledger_rows(ledger: PaperLedger, day: str | None = None) -> dict[str, pd.DataFrame]:
    out = {}
    for name in TABLES:
        frame = ledger.table(name)
        key = "exit_time" if name == "trades" else "bar_time"
        if day is not None:
            frame = frame[frame[key].dt.strftime("%Y-%m-%d") == day]
        out[name] = frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)
    return out


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.mark.timeout(600)
def test_each_closed_hour_is_traded_into_the_one_ledger_and_the_day_rolls_up(data_dir: Path, exchange):
    resources = {
        **project_resources(data_dir, source="hyperliquid", base_url=exchange.url),
        "operator_policy": OperatorPolicyResource(max_drawdown=0, daily_loss=0, max_asset_exposure=0),
    }
    defs = load_definitions()
    definitions = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources)
    ingest, daily, hourly = (definitions.resolve_job_def(j) for j in ("ingest_market_data", "paper_trade", "paper_trade_bars"))
    ledger = PaperLedger(data_dir / LEDGER_FILE)

    def trade_hour(day: str, hour: int) -> None:
        result = hourly.execute_in_process(instance=instance, partition_key=f"{day}-{hour:02d}:00")
        [check] = result.get_asset_check_evaluations()
        assert check.passed and check.metadata["books"].value == 3 * len(COINS), (day, hour, check.metadata)
        [materialization] = result.asset_materializations_for_node("runtime__paper_bars")
        assert materialization.metadata["bars"].value == 1

    def ingest_until(last: str) -> None:
        for coin in COINS:
            tags = {"dagster/asset_partition_range_start": f"{coin}|{FIRST}",
                    "dagster/asset_partition_range_end": f"{coin}|{last}"}  # fmt: skip
            assert ingest.execute_in_process(instance=instance, tags=tags).success

    with product_instance() as instance:
        ingest_until(DAY1)
        names = _deploy(StrategyStore(data_dir / STORE_DIR))
        for hour in range(24):  # every hour of DAY1, parity judged after each
            trade_hour(DAY1, hour)
        hourly_record = _ledger_rows(ledger)
        assert len(hourly_record["pnl"]) == 24 * 3 * len(COINS) and set(hourly_record["pnl"]["strategy"]) == set(names)

        trade_hour(DAY1, 7)  # a rerun of one hour: the same rows
        _same(_ledger_rows(ledger), hourly_record)
        assert daily.execute_in_process(instance=instance, partition_key=DAY1).success  # the day's roll-up
        _same(_ledger_rows(ledger), hourly_record)

        for hour in range(3):  # DAY2 is not in the lake: its first hours come from the exchange
            trade_hour(DAY2, hour)
        early = _ledger_rows(ledger, DAY2)
        assert len(early["pnl"]) == 3 * 3 * len(COINS)
        ingest_until(DAY2)
        assert daily.execute_in_process(instance=instance, partition_key=DAY2).success
        rolled = _ledger_rows(ledger, DAY2)
        assert len(rolled["pnl"]) == 24 * 3 * len(COINS)
        _same(_first_hours(early, 3), _first_hours(rolled, 3))


def _first_hours(rows: dict[str, pd.DataFrame], hours: int) -> dict[str, pd.DataFrame]:
    """Each table's rows of the day's first `hours` (trades by when they closed)."""
    return {name: frame[frame["exit_time" if name == "trades" else "bar_time"].dt.hour < hours].reset_index(drop=True)
            for name, frame in rows.items()}  # fmt: skip


def test_the_hourly_condition_trades_the_hour_that_closed_and_leaves_a_failed_one_to_the_retries(data_dir):
    """It waits while nothing holds capital or the lake lacks the day before; then it asks for the hours that
    closed, once; a failed hour is Dagster's run retries' to repeat, not the condition's."""
    from datetime import datetime, timezone

    from quant_organism import settings
    from quant_organism.defs.market.assets import CANDLES
    from quant_organism.defs.runtime.intraday import PAPER_BARS
    from quant_organism.runtime.operator import POLICY_FILE
    from quant_organism_tests.support.paper_book import deployed_config as strategy

    defs = load_definitions()
    cursor = None

    def requested(hour: int, minute: int) -> set[str]:
        nonlocal cursor
        at = datetime(2024, 4, 11, hour, minute, tzinfo=timezone.utc)
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=dg.AssetSelection.assets(PAPER_BARS), evaluation_time=at, cursor=cursor
        )
        cursor = result.cursor
        return set(result.get_requested_partitions(PAPER_BARS))

    with product_instance() as instance:
        assert requested(9, 59) == set()
        assert requested(10, 4) == set()  # nothing holds capital
        StrategyStore(data_dir / STORE_DIR).save_strategy(strategy("holder", allocation=0.3))
        assert requested(10, 5) == set()  # the lake lacks 04-10: the book waits for the nightly ingest
        for coin in settings.coins():
            instance.report_runless_asset_event(dg.AssetMaterialization(CANDLES, partition=f"{coin}|2024-04-10"))
        assert requested(10, 6) == {"2024-04-11-08:00", "2024-04-11-09:00"}  # the hours that closed, once
        assert requested(10, 30) == set()
        (data_dir / POLICY_FILE).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / POLICY_FILE).write_text("{not json")  # the hour's run fails on the operator policy
        failed = dg.materialize(
            [defs.get_assets_def(PAPER_BARS)], partition_key="2024-04-11-09:00", instance=instance,
            resources=project_resources(data_dir), raise_on_error=False,
        )  # fmt: skip
        assert not failed.success
        assert requested(11, 4) == {"2024-04-11-10:00"}  # the new hour; 08:00 never ran, and fell out of the window
