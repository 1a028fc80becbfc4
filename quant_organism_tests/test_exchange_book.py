"""The capital book on the exchange (deployment/exchange_book.py), against the local exchange the testnet tests use:
a restart in the middle of an order does not duplicate it, a rejected order is retried then alerted, a partial
fill is completed at the next bar, reconciliation reports a position changed outside the organism, and the
kill switch flattens the book."""

from __future__ import annotations

import eth_account
import pytest
from hyperliquid.exchange import Exchange

from quant_organism.deployment.exchange_book import FILLED, GAVE_UP, ExchangeBook, MirrorConfig
from quant_organism_tests.support.hl_exchange_replay import ExchangeReplay
from quant_organism_tests.support.hl_replay_server import HyperliquidReplayServer

MIDS = {"BTC": 64123.5, "ETH": 3012.25}
ACCOUNT = eth_account.Account.from_key("0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
FAST = MirrorConfig(retries=2, backoff_s=(0.01, 0.02))


@pytest.fixture()
def venue():
    with HyperliquidReplayServer() as server:
        replay = ExchangeReplay(server, MIDS, signers=[ACCOUNT.address])
        exchange = Exchange(ACCOUNT, server.url, timeout=5)
        yield replay, exchange


def _book(exchange, tmp_path, alerts=None, config=FAST) -> ExchangeBook:
    sink = alerts if alerts is not None else []
    return ExchangeBook(exchange, ACCOUNT.address, tmp_path / "orders.jsonl", config,
                        alert=lambda kind, message: sink.append((kind, message)), sleep=lambda s: None)  # fmt: skip


class _LostAnswer:
    """The exchange takes the order, then the process dies before reading the answer."""

    def __init__(self, exchange) -> None:
        self.exchange, self.info = exchange, exchange.info

    def order(self, *args, **kwargs):
        self.exchange.order(*args, **kwargs)
        raise KeyboardInterrupt("killed between sending and recording")


def test_a_restart_in_the_middle_of_an_order_does_not_duplicate_it(venue, tmp_path):
    replay, exchange = venue
    crashing = _book(_LostAnswer(exchange), tmp_path)
    with pytest.raises(KeyboardInterrupt):
        crashing.follow({"BTC": 0.01}, MIDS, bar="2024-01-01T10:00", reason="bar")
    assert replay.positions == {"BTC": 0.01} and len(replay.fills) == 1

    alerts: list = []
    restarted = _book(exchange, tmp_path, alerts)  # the same journal, a new process
    assert restarted.reconcile(MIDS) == [] and alerts == []  # the lost order was found by its client id
    assert restarted.positions == {"BTC": 0.01}
    assert restarted.follow({"BTC": 0.01}, MIDS, bar="2024-01-01T10:00", reason="bar") == []
    assert len(replay.fills) == 1 and replay.positions == {"BTC": 0.01}
    assert list(restarted.journal.latest().values())[0]["status"] == FILLED


def test_a_rejected_order_is_retried_then_alerted(venue, tmp_path):
    replay, exchange = venue
    alerts: list = []
    book = _book(exchange, tmp_path, alerts)
    replay.reject_next = 2  # two rejections, then the third attempt fills
    [record] = book.follow({"ETH": 0.5}, MIDS, bar="b1", reason="bar")
    assert record["status"] == FILLED and replay.positions == {"ETH": 0.5} and alerts == []
    replay.reject_next = 10  # never accepted: 1 + 2 retries, then an alert
    [record] = book.follow({"ETH": 0.0}, MIDS, bar="b2", reason="bar")
    assert record["status"] == GAVE_UP and replay.reject_next == 7
    assert [kind for kind, _ in alerts] == ["order_rejected"] and "rejected 3 times" in alerts[0][1]
    assert replay.positions == {"ETH": 0.5}  # nothing changed on the exchange; the next bar tries again


def test_a_partial_fill_moves_the_position_by_its_part_and_the_rest_follows_at_the_next_bar(venue, tmp_path):
    replay, exchange = venue
    alerts: list = []
    book = _book(exchange, tmp_path, alerts)
    replay.fill_fraction = 0.5
    [record] = book.follow({"BTC": 0.02}, MIDS, bar="b1", reason="bar")
    assert record["status"] == "partial" and book.positions == {"BTC": 0.01} and alerts[0][0] == "partial_fill"
    replay.fill_fraction = 1.0
    book.follow({"BTC": 0.02}, MIDS, bar="b2", reason="bar")
    assert book.positions == {"BTC": pytest.approx(0.02)} and replay.positions == {"BTC": 0.02}
    assert book.summary()["partial"] == 1 and book.summary()["filled"] == 1


def test_reconciliation_reports_a_position_changed_outside_the_organism(venue, tmp_path):
    replay, exchange = venue
    alerts: list = []
    book = _book(exchange, tmp_path, alerts)
    book.follow({"BTC": 0.01}, MIDS, bar="b1", reason="bar")
    assert book.reconcile(MIDS) == []
    replay.positions["BTC"] = 0.03  # someone traded the account by hand
    found = book.reconcile(MIDS)
    assert found == ["BTC: the exchange holds 0.03, the organism expected 0.01"]
    assert alerts[-1][0] == "reconciliation" and book.positions == {"BTC": 0.03}  # the exchange's figure is adopted


def test_the_kill_switch_flattens_the_book_and_refuses_further_orders(venue, tmp_path):
    replay, exchange = venue
    book = _book(exchange, tmp_path)
    book.follow({"BTC": 0.01, "ETH": -0.5}, MIDS, bar="b1", reason="bar")
    assert replay.positions == {"BTC": 0.01, "ETH": -0.5}
    done = book.flatten(MIDS)
    assert {r["coin"] for r in done} == {"BTC", "ETH"} and all(r["reduce_only"] for r in done)
    assert all(p == 0.0 for p in replay.positions.values()) and book.killed
    assert book.follow({"BTC": 0.01}, MIDS, bar="b2", reason="bar") == []
