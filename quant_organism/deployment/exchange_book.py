"""The capital book mirrored onto the exchange: orders with idempotent ids, retries, partial fills, reconciliation
and a kill switch. Nothing here runs unless the live process was started with the mirror and the endpoint
passed the testnet stage's opt-ins (`check_endpoint`: testnet or a local server; mainnet only with both
`allow_mainnet` and QUANT_ORGANISM_ALLOW_MAINNET=1).

Why each piece:
- **idempotent client order ids.** An order's `cloid` is a hash of what it is for (the book, the coin, the bar,
  the reason, the target), so after a crash the same intent has the same id. Each intent is written to the
  journal (`orders.jsonl`) before it is sent and again with its outcome. On start, an intent sent but never
  answered is looked up on the exchange by its id (`orderStatus`); if the exchange knows it, its fill is taken
  and it is not sent again. So a restart in the middle of an order does not duplicate it.
- **retries.** A rejected or unanswered order is retried `retries` times with exponential backoff; then the
  book alerts and leaves the difference for the next bar.
- **partial fills.** Orders are immediate-or-cancel at most `max_slippage` from the reference price; a part
  filled moves the position by that part, the rest is ordered again at the next bar (the target is recomputed
  from the position).
- **reconciliation.** On start and at every bar, the exchange's positions (`user_state`) are compared with the
  book's; a difference (a position changed outside the organism) is alerted and the exchange's figure adopted.
- **kill switch.** `flatten` closes every position with reduce-only orders.

Each fill is recorded beside the reference price it was sent at (the paper book's), in basis points, so the
paper and exchange books can be compared fill by fill.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quant_organism.validation.exchange_orders import limit_price, order_outcome
from quant_organism.validation.testnet_stage import MIN_ORDER_USD

log = logging.getLogger(__name__)

SENT, FILLED, PARTIAL, REJECTED, GAVE_UP = "sent", "filled", "partial", "rejected", "gave_up"


@dataclass(frozen=True)
class MirrorConfig:
    book_id: str = "capital"  # part of every client order id: two books never share one
    capital_ratio: float = 1.0  # exchange units per paper unit
    max_slippage: float = 0.01
    retries: int = 3
    backoff_s: tuple[float, float] = (0.5, 8.0)
    tolerance_usd: float = 1.0  # a position difference worth less than this is rounding, not a change


class OrderJournal:
    """Every intent and outcome, one JSON line each; the lines of a client id merged are its state. The file is read
    once, when the book starts; later lines are merged in memory as they are written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._state: dict[str, dict[str, Any]] = {}
        for record in self._records():
            self._merge(record)

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")
            handle.flush()
        self._merge(record)

    def _merge(self, record: dict[str, Any]) -> None:
        self._state[record["cloid"]] = {**self._state.get(record["cloid"], {}), **record}

    def _records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # a line cut by a crash: the order is looked up on the exchange instead
                continue
        return out

    def latest(self) -> dict[str, dict[str, Any]]:
        return self._state


def client_order_id(*parts: Any) -> str:
    """A 16-byte hex id fixed by what the order is for (the SDK's `Cloid` format)."""
    return "0x" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


class ExchangeBook:
    def __init__(
        self,
        exchange,
        address: str,
        journal_path: str | Path,
        config: MirrorConfig | None = None,
        *,
        alert: Callable[[str, str], None] = lambda kind, message: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.exchange, self.info, self.address = exchange, exchange.info, address
        self.journal = OrderJournal(journal_path)
        self.config, self.alert, self.sleep = config or MirrorConfig(), alert, sleep
        self.positions: dict[str, float] = self._journal_positions()
        self.killed = False

    def _journal_positions(self) -> dict[str, float]:
        """The positions the journal's fills add up to: what the organism believes it holds."""
        held: dict[str, float] = {}
        for record in self.journal.latest().values():
            if record.get("status") in (FILLED, PARTIAL) and record.get("filled_sz") is not None:
                sign = 1.0 if record["side"] == "buy" else -1.0
                held[record["coin"]] = held.get(record["coin"], 0.0) + sign * float(record["filled_sz"])
        return {c: p for c, p in held.items() if abs(p) > 1e-12}

    # --- the exchange's view ------------------------------------------------------------------------
    def exchange_positions(self) -> dict[str, float]:
        state = self.info.user_state(self.address)
        return {p["position"]["coin"]: float(p["position"]["szi"]) for p in state.get("assetPositions", [])}

    def reconcile(self, prices: Mapping[str, float] | None = None) -> list[str]:
        """Resolve intents left unanswered, then compare positions with the exchange's; the differences found."""
        self._resolve_unanswered()
        held = self.exchange_positions()
        found = []
        for coin in sorted(set(held) | set(self.positions)):
            mine, theirs = self.positions.get(coin, 0.0), held.get(coin, 0.0)
            price = (prices or {}).get(coin)
            worth = abs(theirs - mine) * price if price else abs(theirs - mine)
            if abs(theirs - mine) > 1e-12 and worth >= self.config.tolerance_usd:
                found.append(f"{coin}: the exchange holds {theirs:g}, the organism expected {mine:g}")
        if found:
            self.alert("reconciliation", "position changed outside the organism: " + "; ".join(found))
        self.positions = {c: p for c, p in held.items() if p != 0.0}
        return found

    def _resolve_unanswered(self) -> None:
        for cloid, record in self.journal.latest().items():
            if record.get("status") != SENT:
                continue
            self._look_up(cloid, record, "on start")

    # --- orders -------------------------------------------------------------------------------------
    def follow(self, targets: Mapping[str, float], prices: Mapping[str, float], *, bar: str, reason: str) -> list[dict]:
        """Order each coin's difference between `targets` (paper units) and the position held; the orders' records."""
        if self.killed:
            return []
        done = []
        for coin in sorted(set(targets) | set(self.positions)):
            want = targets.get(coin, 0.0) * self.config.capital_ratio
            record = self._order_to(coin, want, prices.get(coin), bar=bar, reason=reason)
            if record is not None:
                done.append(record)
        return done

    def flatten(self, prices: Mapping[str, float], reason: str = "kill switch") -> list[dict]:
        """Close every position (reduce-only) and refuse further orders: the kill switch."""
        self.reconcile(prices)
        done = [r for coin in sorted(self.positions)
                if (r := self._order_to(coin, 0.0, prices.get(coin), bar="kill", reason=reason, reduce_only=True))]  # fmt: skip
        self.killed = True
        left = {c: p for c, p in self.exchange_positions().items() if p != 0.0}
        if left:
            self.alert("kill_switch", f"positions still open after flattening: {left}")
        return done

    def _order_to(self, coin, want, price, *, bar, reason, reduce_only=False) -> dict | None:
        sz_decimals = self.info.asset_to_sz_decimals[self.info.name_to_asset(coin)]
        delta = round(want - self.positions.get(coin, 0.0), sz_decimals)
        if delta == 0.0 or price is None or not math.isfinite(price):
            return None
        if abs(delta) * price < MIN_ORDER_USD and want != 0.0:
            return None  # under the exchange's minimum: wait until the difference is worth an order
        cloid = client_order_id(self.config.book_id, coin, bar, reason, f"{want:.10g}")
        known = self.journal.latest().get(cloid)
        if known is not None and known.get("status") in (FILLED, PARTIAL):
            return None  # this intent was carried out before a restart
        is_buy = delta > 0
        px = limit_price(price * (1 + self.config.max_slippage if is_buy else 1 - self.config.max_slippage), sz_decimals)
        intent = {"cloid": cloid, "coin": coin, "side": "buy" if is_buy else "sell", "sz": abs(delta), "limit_px": px,
                  "reference_px": price, "bar": bar, "reason": reason, "reduce_only": reduce_only}  # fmt: skip
        delay, last = self.config.backoff_s[0], None
        for attempt in range(1, self.config.retries + 2):
            self.journal.write({**intent, "status": SENT, "attempt": attempt, "at": time.time()})
            try:
                answer = self.exchange.order(coin, is_buy, abs(delta), px, {"limit": {"tif": "Ioc"}},
                                             reduce_only=reduce_only, cloid=_cloid(cloid))  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - no answer: the exchange may have it; look it up before sending again
                last = f"no answer: {str(exc)[:200]}"
                if self._filled_meanwhile(cloid, coin, is_buy):
                    return self.journal.latest()[cloid]
            else:
                status, detail = order_outcome(answer)
                if status == "filled":
                    return self._filled(intent, detail, is_buy)
                last = f"{status}: {str(detail)[:200]}"
            self.journal.write({"cloid": cloid, "status": REJECTED, "attempt": attempt, "why": last, "at": time.time()})
            if attempt <= self.config.retries:
                self.sleep(delay)
                delay = min(delay * 2, self.config.backoff_s[1])
        self.journal.write({"cloid": cloid, "status": GAVE_UP, "why": last, "at": time.time()})
        self.alert("order_rejected", f"{coin} {intent['side']} {abs(delta):g}: rejected {self.config.retries + 1} times ({last})")
        return {**intent, "status": GAVE_UP, "why": last}

    def _filled(self, intent: dict, detail: dict, is_buy: bool) -> dict:
        filled, avg = float(detail["totalSz"]), float(detail["avgPx"])
        coin = intent["coin"]
        self.positions[coin] = self.positions.get(coin, 0.0) + (filled if is_buy else -filled)
        sign = 1.0 if is_buy else -1.0
        status = FILLED if filled >= intent["sz"] - 1e-12 else PARTIAL
        record = {"cloid": intent["cloid"], "status": status, "filled_sz": filled, "avg_px": avg,
                  "slippage_bps": round(sign * (avg / intent["reference_px"] - 1.0) * 1e4, 3), "at": time.time()}  # fmt: skip
        self.journal.write(record)
        if status == PARTIAL:
            self.alert(
                "partial_fill", f"{coin} {intent['side']}: filled {filled:g} of {intent['sz']:g}; the rest at the next bar"
            )
        return {**intent, **record}

    def _filled_meanwhile(self, cloid: str, coin: str, is_buy: bool) -> bool:
        """After a lost answer: did the exchange take the order? Then its fill is the position's."""
        try:
            answer = self.info.query_order_by_cloid(self.address, _cloid(cloid))
        except Exception:  # noqa: BLE001 - still unreachable: the retry decides
            return False
        if not (isinstance(answer, dict) and answer.get("status") == "order" and answer["order"]["status"] == "filled"):
            return False
        self._look_up(cloid, self.journal.latest()[cloid], "after a lost answer", answer)
        return True

    def _look_up(self, cloid: str, intent: dict, when: str, answer: Any = None) -> None:
        """Settle an order whose answer never came from what the exchange says of its client id."""
        if answer is None:
            answer = self.info.query_order_by_cloid(self.address, _cloid(cloid))
        known = isinstance(answer, dict) and answer.get("status") == "order"
        status = answer["order"]["status"] if known else "unknown"
        record = {"cloid": cloid, "status": FILLED if status == "filled" else REJECTED, "resolved": f"{when}: {status}",
                  "at": time.time()}  # fmt: skip
        if status == "filled":
            filled = float(answer["order"]["order"]["sz"])
            record["filled_sz"] = filled
            sign = 1.0 if intent["side"] == "buy" else -1.0
            self.positions[intent["coin"]] = self.positions.get(intent["coin"], 0.0) + sign * filled
        self.journal.write(record)

    def pnl(self, prices: Mapping[str, float]) -> float:
        """The exchange book's P&L before fees since its journal began: the fills' cash plus the positions at `prices`."""
        cash = 0.0
        for record in self.journal.latest().values():
            if record.get("status") in (FILLED, PARTIAL) and record.get("avg_px") is not None:
                sign = 1.0 if record["side"] == "buy" else -1.0
                cash -= sign * float(record["filled_sz"]) * float(record["avg_px"])
        return cash + sum(units * prices.get(coin, 0.0) for coin, units in self.positions.items())

    def summary(self) -> dict[str, Any]:
        """What the journal says: orders, fills, partial fills, give-ups, and the fills' mean slippage."""
        latest = list(self.journal.latest().values())
        fills = [r for r in latest if r.get("status") in (FILLED, PARTIAL) and r.get("slippage_bps") is not None]
        return {"orders": len(latest), "filled": sum(r.get("status") == FILLED for r in latest),
                "partial": sum(r.get("status") == PARTIAL for r in latest), "gave_up": sum(r.get("status") == GAVE_UP for r in latest),
                "mean_slippage_bps": sum(r["slippage_bps"] for r in fills) / len(fills) if fills else None,
                "positions": dict(self.positions), "killed": self.killed}  # fmt: skip


def _cloid(text: str):
    from hyperliquid.utils.types import Cloid

    return Cloid.from_str(text)
