"""The steal board's bookkeeping (plain Python, no Ray) and which islands a victim may hand to a thief."""

from __future__ import annotations

import time
from types import SimpleNamespace

from quant_organism.evolution.executors.steal_board import WAIT, StealBoard
from quant_organism.evolution.executors.stealing import _fits


def test_a_thief_is_sent_to_the_worker_that_offers_most_and_gets_what_it_gives():
    board = StealBoard()
    board.offer("a", 3)
    board.offer("b", 5)
    assert board.asked_of("b") == WAIT
    assert board.ask("t", deadline=123.0) == WAIT
    assert board.asked_of("b") == (123.0,) and board.asked_of("a") == WAIT
    assert board.ask("t", deadline=123.0) == WAIT  # asking again while the victim has not answered
    assert board.give("b", [b"x", b"y"], left=3) is True
    assert board.ask("t", deadline=123.0) == [b"x", b"y"]
    assert board.offered["b"] == 3 and board.moved == 2


def test_a_worker_with_fewer_than_two_items_is_never_a_victim_and_then_the_thief_is_done():
    board = StealBoard()
    board.offer("a", 1)
    assert board.ask("t", None) is None


def test_a_victim_that_declines_is_not_asked_again_by_that_thief():
    board = StealBoard()
    board.offer("a", 4)
    board.offer("b", 2)
    assert board.ask("t", None) == WAIT
    assert board.give("a", [], left=4) is True  # nothing fits the thief's deadline
    assert board.ask("t", None) == WAIT and "b" in board.asked  # the next victim
    assert board.give("b", [], left=2) is True
    assert board.ask("t", None) is None


def test_a_thief_waiting_on_a_worker_that_finishes_looks_elsewhere():
    board = StealBoard()
    board.offer("a", 4)
    board.offer("b", 3)
    assert board.ask("t", None) == WAIT and "a" in board.asked
    assert board.ask("a", None) == WAIT  # a's own islands are done: it asks in turn, and offers nothing
    assert "a" not in board.offered and board.asked_of("a") is None
    assert board.asked == {"b": ("a", None)}
    assert board.ask("t", None) is None  # b is taken by a; nobody else offers


def test_a_thief_that_gave_up_takes_nothing_and_the_victim_keeps_its_items():
    board = StealBoard()
    board.offer("a", 4)
    assert board.ask("t", None) == WAIT
    board.withdraw("t")
    assert board.give("a", [b"x"], left=3) is False
    assert "t" not in board.parcels and board.moved == 0


def test_a_worker_that_leaves_is_no_victim_and_its_parcel_is_dropped():
    board = StealBoard()
    board.offer("a", 4)
    assert board.ask("t", None) == WAIT
    board.leave("a")
    assert board.ask("t", None) is None
    board.parcels["t"] = [b"x"]
    board.leave("t")
    assert "t" not in board.parcels


def _island(limit_s: float | None, elapsed_s: float, clock_scale: int = 1) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(batch_timeout_s=limit_s), clock_scale=clock_scale, elapsed=lambda: elapsed_s)


def test_only_islands_that_stop_themselves_well_before_the_thiefs_hard_limit_are_handed_on():
    now = time.time()
    assert _fits(_island(None, 5.0), now + 1.0, grace_s=30.0)  # no time limit: no hard limit either
    assert _fits(_island(10.0, 0.0), None, grace_s=30.0)
    assert _fits(_island(10.0, 4.0), now + 6.0 + 15.0 + 1.0, grace_s=30.0)  # stops in 6 s, half a grace to spare
    assert not _fits(_island(10.0, 4.0), now + 6.0 + 14.0, grace_s=30.0)
    assert _fits(_island(10.0, 14.0, clock_scale=2), now + 6.0 + 15.0 + 1.0, grace_s=30.0)  # a gang of two: 20 s
