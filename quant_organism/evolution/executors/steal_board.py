"""A board where idle workers take work from busy ones (work stealing), kept by one Ray actor all workers call.

Generic: a busy worker offers its items and waits, in the background, to be asked for some (`BoardActor.
wait_asked`, a long poll: nothing is exchanged while nobody asks); a worker with nothing left asks, the board
names the worker that offered most as its victim, and the victim hands some of its items on as pickled blobs
(or none: it declines). The evolution executor shares islands through it (`evolution/executors/stealing.py` says why
and how). It lives in `core` so that the actor's process imports nothing heavy.
"""

from __future__ import annotations

import asyncio
import time

WAIT = "wait"
"""A board's answer that means: nothing yet, look again once the board changed."""


class StealBoard:
    """Who offers, who asked whom, and the items on their way: plain bookkeeping whose methods never block."""

    def __init__(self) -> None:
        self.offered: dict[str, int] = {}  # busy worker -> items it offered, as it last said
        self.asked: dict[str, tuple[str, float | None]] = {}  # victim -> (thief, the thief's hard deadline)
        self.parcels: dict[str, list[bytes]] = {}  # thief -> pickled items given to it
        self.declined: set[tuple[str, str]] = set()  # (victim, thief): the victim had nothing for that thief
        self.moved = 0
        self.version = 0  # counts the changes: a waiter wakes the others only after a look that changed the board

    def offer(self, worker: str, items: int) -> None:
        """A busy worker holds `items` it could share."""
        if self.offered.get(worker) != items:
            self.offered[worker] = items
            self.version += 1

    def asked_of(self, worker: str) -> tuple[float | None] | str | None:
        """For a worker that offered: `(the thief's deadline,)` once a thief asked it (it must then `give`, even
        nothing); `WAIT` until then; None once it no longer offers (it asked or left itself)."""
        if worker in self.asked:
            return (self.asked[worker][1],)
        return WAIT if worker in self.offered else None

    def give(self, worker: str, parcel: list[bytes], left: int) -> bool:
        """The items `worker` hands to the thief that asked it ([]: it declines), and how many it still offers.
        False when that thief has stopped waiting meanwhile: nobody takes the items, the worker keeps them."""
        if worker in self.offered:
            self.offered[worker] = left
        ask = self.asked.pop(worker, None)
        self.version += 1
        if ask is None:
            return False
        thief, _ = ask
        if parcel:
            self.parcels[thief] = parcel
            self.moved += len(parcel)
        else:
            self.declined.add((worker, thief))
        return True

    def withdraw(self, thief: str) -> None:
        """The thief stops waiting (its own time runs out): whoever it asked is asked no more."""
        for victim in [v for v, (t, _) in self.asked.items() if t == thief]:
            del self.asked[victim]
            self.version += 1

    def ask(self, thief: str, deadline: float | None) -> list[bytes] | str | None:
        """A worker whose items are done (it offers nothing from now on): the items given to it; `WAIT` while its
        victim has not answered; None when no other worker offers two items (the thief is done)."""
        if self.offered.pop(thief, None) is not None:
            self.version += 1
        if self.asked.pop(thief, None) is not None:  # a thief that waited for this worker looks elsewhere
            self.version += 1
        if thief in self.parcels:
            self.version += 1
            return self.parcels.pop(thief)
        if any(waiting == thief for waiting, _ in self.asked.values()):
            return WAIT
        victims = [w for w, n in self.offered.items() if n >= 2 and w not in self.asked and (w, thief) not in self.declined]
        if not victims:
            return None
        victim = max(victims, key=lambda w: (self.offered[w], w))
        self.asked[victim] = (thief, deadline)
        self.version += 1
        return WAIT

    def leave(self, worker: str) -> None:
        """`worker` is done for good (finished, failed or killed): nobody waits for it, and what it was given is lost."""
        self.offered.pop(worker, None)
        self.asked.pop(worker, None)
        self.parcels.pop(worker, None)
        self.version += 1


class BoardActor:
    """The board as an async Ray actor: calls run one at a time on its event loop, and the waiting ones
    (`wait_asked`, `ask`) wait there, without polling, until the board changes. A wait looks again every
    `patience_s` anyway, so a worker that died without a word (Ray re-runs it and it offers again) holds nobody
    forever."""

    def __init__(self, patience_s: float = 1.0) -> None:
        self.board = StealBoard()
        self.patience_s = patience_s
        self.changed = asyncio.Condition()

    async def _until(self, look):
        async with self.changed:
            while True:
                version = self.board.version
                answer = look()
                if self.board.version != version:  # this look changed the board (an ask named its victim)
                    self.changed.notify_all()
                if answer != WAIT:
                    return answer
                try:
                    await asyncio.wait_for(self.changed.wait(), self.patience_s)
                except asyncio.TimeoutError:
                    pass

    async def _change(self, change):
        async with self.changed:
            result = change()
            self.changed.notify_all()
            return result

    async def wait_asked(self, worker: str, items: int) -> tuple[float | None] | None:
        """Offer `items` and wait until a thief asks this worker (None: it stopped offering)."""
        await self._change(lambda: self.board.offer(worker, items))
        return await self._until(lambda: self.board.asked_of(worker))

    async def give(self, worker: str, parcel: list[bytes], left: int) -> bool:
        return await self._change(lambda: self.board.give(worker, parcel, left))

    async def ask(self, thief: str, deadline: float | None, give_up_at: float | None = None) -> list[bytes] | None:
        """The thief's items, or None: none to take, or still none at `give_up_at` (epoch seconds)."""

        def look():
            if give_up_at is not None and time.time() >= give_up_at:
                self.board.withdraw(thief)
                return self.board.parcels.pop(thief, None)
            return self.board.ask(thief, deadline)

        return await self._until(look)

    async def leave(self, worker: str) -> None:
        await self._change(lambda: self.board.leave(worker))
