"""Work stealing between Ray workers: a worker whose islands are done takes some from a worker still busy.

Why: the islands run in one gang per worker, gangs of equal work, yet on a shared machine (or a cluster of
unequal nodes) the cores do not run at one speed. On this 2-core VM two gangs of 3,742 evaluations each took
3.86 and 2.47 s (2026-11-27): the run waited 1.4 s on one core with the other idle. Islands do not depend on
each other, so the idle worker can go on with some of the busy one's islands from their next generation on,
and every island's result stays the one it has alone.

How: the workers meet at a `core.steal_board.StealBoard` kept by one Ray actor (`BoardActor`). A busy worker
offers its islands and waits in the background to be asked; a worker whose islands are done asks (already as it
starts the round they all end with: `ask_ahead`), and the board names the worker that offered most as its
victim. At the end of its current round the victim pickles half of its islands (`island.Island` carries its
state and its own clock) and gives them on; the thief adopts them as a new gang. A worker asks again when its
adopted islands are done, until no worker has two islands to share. Where islands have a time limit, only
those that would stop themselves half a grace before the thief's hard limit are given.

What can go wrong is left to the executor: an island handed to a worker that then dies is run again from its
start (`executors.run_ray`), and an outcome that arrives twice (a victim re-run by Ray after giving islands
away) counts once; islands are deterministic, so either copy is the same.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Mapping
from typing import Any

from quant_organism.evolution.island import Island

log = logging.getLogger(__name__)
PATIENCE_S = 5.0


class RayExchange:
    """A worker's side of the board (`island.Exchange`): `worker` names its gang, `deadline` is its hard limit
    (epoch seconds; None without one) and `grace_s` the grace an adopted island keeps before it.

    The worker offers its islands through a long poll (`BoardActor.wait_asked`) that returns only when a thief
    asks it, and looks between rounds whether it has returned, which costs no call to the actor: a blocking report
    to the board every round cost more than the skew it could save (2026-11-27). A thief waits a few rounds for
    its victim's islands at most (`_give_up_at`). A board that cannot be reached (its actor died), or any
    other error while sharing, only ends the sharing: the worker goes on with the islands it holds."""

    def __init__(self, board: Any, worker: str, deadline: float | None, grace_s: float) -> None:
        self.board, self.worker, self.deadline, self.grace_s = board, worker, deadline, grace_s
        self._asked: Any = None  # the long poll's future: answers once a thief asked this worker
        self._ahead: Any = None  # an ask sent during this worker's last round (`ask_ahead`), answered in `adopt`
        self._round_s, self._last = 0.0, None  # this worker's latest round: how long a thief waits for a victim

    def give_away(self, live: Mapping[int, Island]) -> list[int]:
        import ray

        now = time.perf_counter()
        self._round_s, self._last = (now - self._last if self._last is not None else 0.0), now
        if self.board is None:
            return []
        try:
            if self._asked is None:
                self._asked = self.board.wait_asked.remote(self.worker, len(live)).future()
                return []
            if not self._asked.done():  # a flag Ray's callback sets: `ray.wait(timeout=0)` took 0.1-0.4 ms a round
                return []
            answer, self._asked = self._asked.result(), None
            if answer is None:
                return []
            (deadline,) = answer
            fitting = [b for b in live if _fits(live[b], deadline, self.grace_s)]
            chosen = fitting[len(fitting) - min(len(live) // 2, len(fitting)) :]
            parcel = [pickle.dumps(live[b], protocol=pickle.HIGHEST_PROTOCOL) for b in chosen]
            if not ray.get(self.board.give.remote(self.worker, parcel, len(live) - len(chosen))):
                chosen = []  # the thief stopped waiting: nobody took them
            self._asked = self.board.wait_asked.remote(self.worker, len(live) - len(chosen)).future()
        except Exception as exc:  # noqa: BLE001 - sharing is an optimisation: never lose the gang over it
            self._lost(exc)
            return []
        return chosen

    def ask_ahead(self) -> None:
        """Ask while this worker runs its last round rather than after it: a victim answers at the end of its own
        round, and a thief that asked only once done waited idle for that, 0.04-0.07 s a move in runs of about
        1.4 s (2026-11-27); asked ahead, the islands travel while both work."""
        if self.board is None or self._ahead is not None:
            return
        try:
            self._ahead = self.board.ask.remote(self.worker, self.deadline, self._give_up_at())
        except Exception as exc:  # noqa: BLE001
            self._lost(exc)

    def adopt(self) -> list[Island]:
        import ray

        if self.board is None:
            return []
        try:
            ask, self._ahead = self._ahead, None
            if ask is None:
                ask = self.board.ask.remote(self.worker, self.deadline, self._give_up_at())
            parcel = ray.get(ask)
        except Exception as exc:  # noqa: BLE001
            self._lost(exc)
            return []
        self._asked = None  # answered None by the ask: this worker offers nothing any more
        return [pickle.loads(blob) for blob in parcel or []]

    def _give_up_at(self) -> float:
        """When a thief stops waiting for its victim (epoch seconds): a victim answers at the end of its round, so
        a few of this worker's rounds (at least `PATIENCE_S`) are plenty unless it died (its retry may need this
        very CPU); and never within half a grace of this worker's hard limit."""
        give_up_at = time.time() + max(PATIENCE_S, 4.0 * self._round_s)
        return min(give_up_at, self.deadline - self.grace_s / 2.0) if self.deadline is not None else give_up_at

    def _lost(self, exc: Exception) -> None:
        log.warning("sharing islands failed (%s: %s); %s goes on without", type(exc).__name__, exc, self.worker)
        try:  # so that no thief waits for a worker that no longer looks
            self.board.leave.remote(self.worker)
        except Exception:  # noqa: BLE001 - the board is gone
            pass
        self.board = None


def _fits(island: Island, deadline: float | None, grace_s: float) -> bool:
    """Whether the island stops itself (its time limit, on its own clock) at least half a grace before `deadline`."""
    limit = island.config.batch_timeout_s
    if deadline is None or not limit:
        return True
    stops_at = time.time() + max(0.0, limit * island.clock_scale - island.elapsed())
    return stops_at + grace_s / 2.0 <= deadline
