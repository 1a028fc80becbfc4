"""Operator controls through the paper asset: each control of the `operator_policy` resource (launchpad
overrides) and of `python -m quant_organism policy` (the standing file) changes what the book trades, is
recorded in the ledger with its time and source, and parity is judged up to the first intervention.

Three long-window strategies on BTC and ETH (test_runtime_parity's) hold capital; day 1 is traded under
the neutral policy, day 2 under the control being tested, from the same ledger state.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.cli.main import main as cli
from quant_organism.definitions import load_definitions
from quant_organism.defs.shared.resources import project_resources
from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger
from quant_organism_tests.support.paper_book import COINS, FIRST, PAPER_DAYS
from quant_organism_tests.support.paper_book import deploy_long_windows as _deploy

DAY1, DAY2 = PAPER_DAYS[0], PAPER_DAYS[1]
NO_BREAKERS = {"max_drawdown": 0, "daily_loss": 0, "max_asset_exposure": 0}


@pytest.fixture(scope="module")
def traded_day1(tmp_path_factory):
    """A data root with the lake ingested, the strategies deployed and DAY1 paper-traded (neutral policy):
    each test copies it, so every control starts from the same book."""
    root = tmp_path_factory.mktemp("operator") / "data"
    root.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANT_ORGANISM_DATA_DIR", str(root))
        definitions = _definitions(root)
        with dg.instance_for_test() as instance:
            ingest = definitions.resolve_job_def("ingest_market_data")
            for coin in COINS:
                tags = {"dagster/asset_partition_range_start": f"{coin}|{FIRST}",
                        "dagster/asset_partition_range_end": f"{coin}|{DAY2}"}  # fmt: skip
                assert ingest.execute_in_process(instance=instance, tags=tags).success
            names = _deploy(StrategyStore(root / STORE_DIR))
            result = _paper(definitions, instance, DAY1, NO_BREAKERS)
            assert result.success
    return root, names


def _definitions(root: Path) -> dg.Definitions:
    defs = load_definitions()
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=project_resources(root))


def _paper(definitions, instance, day: str, policy: dict | None = None):
    run_config = {"resources": {"operator_policy": {"config": policy}}} if policy else None
    return definitions.resolve_job_def("paper_trade").execute_in_process(
        instance=instance, partition_key=day, run_config=run_config, raise_on_error=False
    )


@pytest.fixture
def book(traded_day1, tmp_path, monkeypatch):
    """A private copy of the day-1 book; `book.trade(policy)` paper-trades DAY2 under the policy's overrides."""
    import shutil

    source, names = traded_day1
    root = tmp_path / "data"
    shutil.copytree(source, root)
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(root))

    class Book:
        def __init__(self):
            self.root, self.names, self.ledger = root, names, PaperLedger(root / LEDGER_FILE)

        def trade(self, policy: dict | None = None):
            with dg.instance_for_test() as instance:
                result = _paper(_definitions(root), instance, DAY2, policy)
            assert result.success
            [check] = result.get_asset_check_evaluations()
            materialization = result.asset_materializations_for_node("runtime__paper_performance")[0]
            return check, materialization.metadata

        def day(self, table: str) -> pd.DataFrame:
            frame = self.ledger.table(table)
            key = "exit_time" if table == "trades" else "bar_time"
            return frame[frame[key].dt.strftime("%Y-%m-%d") == DAY2]

    return Book()


def _open_at_day1_close(book) -> pd.DataFrame:
    positions = book.ledger.table("positions")
    last = positions[positions["bar_time"].dt.strftime("%Y-%m-%d") == DAY1]
    return last.sort_values("bar_time").groupby(["strategy", "coin"]).tail(1)


def test_the_neutral_policy_trades_the_backtest_and_records_itself_once(book):
    check, metadata = book.trade(NO_BREAKERS)
    assert check.passed and check.metadata["judged"].value == "every bar: no intervention"
    changes = book.ledger.policy_changes()
    assert len(changes) == 1 and "launchpad override" in changes["source"].iloc[0]  # the same policy both days
    assert metadata["policy"].value["risk_mode"] == "normal"


def test_halt_flattens_every_book_at_the_next_bar_and_opens_nothing(book):
    held = _open_at_day1_close(book)
    assert (held["direction"] != 0).any(), "the test needs open positions at the end of day 1"
    check, metadata = book.trade({**NO_BREAKERS, "risk_mode": "halt"})
    positions = book.day("positions")
    first_bar = positions["bar_time"].min()
    assert (positions[positions["bar_time"] > first_bar]["direction"] == 0).all()  # flat from the first fill on
    orders = book.day("orders")
    assert len(orders) and (orders["target"] == 0).all() and orders["reason"].str.contains("halt").all()
    assert check.passed and "up to the first intervention" in check.metadata["judged"].value
    events = book.ledger.risk_events()
    assert (events["kind"] == "policy").any() and "risk_mode=halt" in events[events["kind"] == "policy"]["detail"].iloc[-1]
    changes = book.ledger.policy_changes()
    assert json.loads(changes["policy"].iloc[-1])["risk_mode"] == "halt" and "risk_mode" in changes["source"].iloc[-1]


def test_defensive_halves_every_entry(book):
    neutral = _entries(book, NO_BREAKERS)
    defensive = _entries(book, {**NO_BREAKERS, "risk_mode": "defensive"})
    assert len(neutral) and set(defensive.index) <= set(neutral.index)
    both = defensive.index
    assert ((defensive.loc[both, "size"] / neutral.loc[both, "size"]).round(9) == 0.5).all()


def _entries(book, policy: dict) -> pd.DataFrame:
    book.trade(policy)
    orders = book.day("orders")
    return orders[orders["target"] != 0].set_index(["strategy", "coin", "bar_time"])


def test_deny_and_allow_lists_keep_coins_and_strategies_flat(book):
    # spelled otherwise than the universe and the store spell them: matched case-insensitively, not ignored
    book.trade({**NO_BREAKERS, "deny_coins": ["eth"], "allow_strategies": [book.names[0].upper()]})
    positions = book.day("positions")
    later = positions[positions["bar_time"] > positions["bar_time"].min()]
    assert (later[later["coin"] == "ETH"]["direction"] == 0).all()
    assert (later[later["strategy"] != book.names[0]]["direction"] == 0).all()
    entries = book.day("orders").query("target != 0")
    assert set(entries["coin"]) <= {"BTC"} and set(entries["strategy"]) <= {book.names[0]}


def test_cooldown_and_confidence_floor_hold_entries_back(book):
    book.trade({**NO_BREAKERS, "cooldown_bars": 1000, "min_confidence": 0.9})
    orders = book.day("orders")
    assert orders.query("target != 0").empty  # every book decided on day 1: the cooldown holds all entries
    assert (book.ledger.risk_events()["kind"] == "policy").any()


def test_breaker_limits_from_the_launchpad_trip_the_breaker(book):
    check, metadata = book.trade({"max_drawdown": 0.0001, "daily_loss": 0, "max_asset_exposure": 0})
    kinds = set(book.ledger.risk_events()["kind"])
    assert "breaker_drawdown" in kinds
    assert metadata["policy"].value["max_drawdown"] == 0.0001 and metadata["policy"].value["daily_loss"] is None


def test_the_standing_policy_set_from_the_cli_applies_and_is_recorded(book, capsys):
    assert cli(["policy", "set", "--risk-mode", "halt", "--max-drawdown", "off", "--daily-loss", "off",
                "--max-asset-exposure", "off"]) == 0  # fmt: skip
    check, metadata = book.trade()  # no launchpad override: the standing policy
    assert metadata["policy"].value["risk_mode"] == "halt" and metadata["policy"].value["source"].startswith("cli")
    assert (book.day("orders")["target"] == 0).all()
    changes = book.ledger.policy_changes()
    assert changes["source"].iloc[-1].startswith("cli") and len(changes) == 2  # day 1's neutral, the CLI's halt
    (book.root / "paper" / "policy.json").write_text("{not json")
    with dg.instance_for_test() as instance:
        failed = _paper(_definitions(book.root), instance, DAY2)
    assert not failed.success
    assert (book.root / "paper" / "policy.json").read_text() == "{not json"  # reported, left in place
    assert cli(["policy", "show"]) == 1 and "unreadable" in capsys.readouterr().err


def test_a_name_in_the_lists_that_nothing_holds_is_refused_not_traded_on(book, capsys):
    """A typo in an allow-list would flatten the whole book, one in a deny-list would deny nothing: the CLI
    refuses it and keeps the standing policy, a launchpad override fails the run before any bar is traded."""
    from quant_organism.runtime.operator import OperatorPolicy, UnknownNameError, resolve_names

    resolved = resolve_names(OperatorPolicy(deny_coins=("btc",), allow_strategies=("A_1",)), ["BTC", "kPEPE"], {"a_1"})
    assert resolved.deny_coins == ("BTC",) and resolved.allow_strategies == ("a_1",)
    with pytest.raises(UnknownNameError, match=r"--allow-coins DOGEX: coin not in the universe \(BTC, kPEPE\)"):
        resolve_names(OperatorPolicy(allow_coins=("DOGEX", "kpepe")), ["BTC", "kPEPE"], set())

    before = (book.root / "paper" / "policy.json").read_text() if (book.root / "paper" / "policy.json").exists() else None
    assert cli(["policy", "set", "--allow-coins", "BTC,DOGEX"]) == 2
    assert "--allow-coins DOGEX: coin not in the universe (BTC, ETH, SOL, DOGE, XRP)" in capsys.readouterr().err
    assert cli(["policy", "set", "--deny-strategies", "no_such_strategy"]) == 2
    assert "--deny-strategies no_such_strategy: strategy not in the strategy store" in capsys.readouterr().err
    assert cli(["policy", "set", "--max-drawdown", "15"]) == 2
    assert "--max-drawdown 15.0: input should be less than 1 (limits are fractions: 0.15 is 15%)" in capsys.readouterr().err
    after = (book.root / "paper" / "policy.json").read_text() if (book.root / "paper" / "policy.json").exists() else None
    assert after == before  # refused: the standing policy is untouched
    assert cli(["policy", "set", "--deny-coins", "eth", "--max-drawdown", "20%"]) == 0
    standing = json.loads((book.root / "paper" / "policy.json").read_text())["policy"]
    assert standing["deny_coins"] == ["ETH"] and standing["max_drawdown"] == 0.2

    trades_before = len(book.ledger.table("orders"))
    with dg.instance_for_test() as instance:
        failed = _paper(_definitions(book.root), instance, DAY2, {**NO_BREAKERS, "allow_coins": ["BTCC"]})
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert "operator_policy (launchpad): --allow-coins BTCC: coin not in the universe" in failure.step_failure_data.error.message
    assert len(book.ledger.table("orders")) == trades_before  # nothing traded under a policy that was not meant
