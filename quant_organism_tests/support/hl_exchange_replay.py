"""A small order book behind the replay server's `/exchange` route, answering like Hyperliquid does.

`ExchangeReplay(server, mids, signers)` adds `allMids` and `openOrders` to /info and routes
`/exchange`. Every action's signature is recovered with the SDK's own recovery function (testnet
chain, as the SDK signs for any non-mainnet URL); an unknown signer gets the exchange's
`{"status":"err","response":"User or API Wallet 0x... does not exist."}`. Orders are checked the
way the exchange does (asset id, tick rules, $10 minimum, post-only crossing the book) and rest
with a fresh oid; cancels answer "success" or the exchange's "never placed" error. Answers follow
the exchange's wire format:
  order:  {"status":"ok","response":{"type":"order","data":{"statuses":[{"resting":{"oid":N}}]}}}
  cancel: {"status":"ok","response":{"type":"cancel","data":{"statuses":["success"]}}}
Knobs for failure paths: `book_mids` (the book the matching engine sees, e.g. moved since allMids),
`forget_orders` (orders vanish before the cancel arrives, as if filled or expired). A marketable order
(IOC or GTC crossing the book) fills at once at mid x (1 +/- `half_spread`) when its limit allows, and is
kept in `fills`; an IOC order that cannot match is answered with the exchange's error.
For the live mirror: fills move the account's `positions` (served as `clearinghouseState`, the SDK's
`user_state`); an order's client id (`c`) is kept and answered by `orderStatus` (`query_order_by_cloid`);
`reject_next` rejects that many orders with a margin error; `fill_fraction` fills only that part of an order
(a partial fill); a test may set `positions` itself, as a trade made outside the organism would.
"""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal
from typing import Any

from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action

from quant_organism_tests.support.hl_replay_server import HyperliquidReplayServer, RecordedRequest, Reply, format_decimal


class ExchangeReplay:
    def __init__(
        self,
        server: HyperliquidReplayServer,
        mids: dict[str, float],
        signers: list[str] | None = None,
    ) -> None:
        self.server = server
        self.mids = dict(mids)
        self.book_mids: dict[str, float] = dict(mids)
        self.signers = {s.lower() for s in signers or []}
        self.forget_orders = False
        self.half_spread = 0.0  # a marketable order fills at mid x (1 +/- half_spread), within its limit
        self.fills: list[dict[str, Any]] = []
        self.open: dict[int, dict[str, Any]] = {}
        self.placed: list[dict[str, Any]] = []
        self.cancelled: list[int] = []
        self.recovered: list[str] = []
        self._oids = itertools.count(77_738_308)
        self._lock = threading.Lock()
        self.positions: dict[str, float] = {}
        self.by_cloid: dict[str, dict[str, Any]] = {}
        self.reject_next = 0
        self.fill_fraction = 1.0
        server.on_info("allMids", lambda body: {c: format_decimal(p) for c, p in self.mids.items()})
        server.on_info("openOrders", lambda body: list(self.open.values()))
        server.on_info("clearinghouseState", lambda body: self._account())
        server.on_info("orderStatus", self._order_status)
        server.route("/exchange", self._exchange)

    # ------------------------------------------------------------------------------------------
    def _exchange(self, request: RecordedRequest) -> Reply:
        body = request.body
        if not isinstance(body, dict) or not {"action", "nonce", "signature"} <= set(body):
            return Reply(422, "Failed to deserialize the JSON body into the target type", {"Content-Type": "text/plain"})
        action = body["action"]
        signer = recover_agent_or_user_from_l1_action(
            action, body["signature"], body.get("vaultAddress"), body["nonce"], body.get("expiresAfter"), False
        )
        self.recovered.append(signer)
        if signer.lower() not in self.signers:
            return Reply(200, {"status": "err", "response": f"User or API Wallet {signer.lower()} does not exist."})
        kind = action.get("type")
        if kind == "order":
            statuses = [self._place(wire) for wire in action["orders"]]
        elif kind == "cancel":
            statuses = [self._cancel(c["a"], c["o"]) for c in action["cancels"]]
        else:
            return Reply(200, {"status": "err", "response": f"unsupported action {kind!r} in the replay"})
        return Reply(200, {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}})

    def _universe(self) -> list[dict[str, Any]]:
        return self.server.meta["universe"]

    def _place(self, wire: dict[str, Any]) -> dict[str, Any]:
        asset = wire["a"]
        universe = self._universe()
        if not 0 <= asset < len(universe):
            return {"error": f"Invalid asset {asset}"}
        coin, sz_decimals = universe[asset]["name"], universe[asset]["szDecimals"]
        px, sz = Decimal(wire["p"]), Decimal(wire["s"])
        if not _valid_price(px, sz_decimals):
            return {"error": f"Order has invalid price. asset={asset}"}
        if sz <= 0 or -sz.as_tuple().exponent > sz_decimals:
            return {"error": f"Order has invalid size. asset={asset}"}
        if px * sz < 10:
            return {"error": f"Order must have minimum value of $10. asset={asset}"}
        with self._lock:
            if self.reject_next > 0:
                self.reject_next -= 1
                return {"error": f"Insufficient margin to place order. asset={asset}"}
        mid = Decimal(str(self.book_mids[coin]))
        tif = wire["t"].get("limit", {}).get("tif")
        crosses = px >= mid if wire["b"] else px <= mid
        if tif == "Alo" and crosses:
            return {"error": f"Post only order would have immediately matched, bbo was {mid}@{mid}. asset={asset}"}
        touch = mid * (1 + Decimal(str(self.half_spread))) if wire["b"] else mid * (1 - Decimal(str(self.half_spread)))
        crosses = crosses and (px >= touch if wire["b"] else px <= touch)
        if crosses:
            size = round(float(sz) * self.fill_fraction, sz_decimals)
            fill = {"totalSz": format_decimal(size), "avgPx": format_decimal(float(touch)), "oid": next(self._oids)}
            with self._lock:
                self.fills.append({"coin": coin, "side": "B" if wire["b"] else "A", "cloid": wire.get("c"), **fill})
                self.positions[coin] = round(self.positions.get(coin, 0.0) + (size if wire["b"] else -size), 10)
                if wire.get("c"):
                    self.by_cloid[wire["c"]] = {"coin": coin, "oid": fill["oid"], "sz": wire["s"], "filled": size,
                                                "status": "filled"}  # fmt: skip
            return {"filled": fill}
        if tif == "Ioc":
            return {"error": f"Order could not immediately match against any resting orders. asset={asset}"}
        with self._lock:
            oid = next(self._oids)
            order = {"coin": coin, "side": "B" if wire["b"] else "A", "limitPx": wire["p"], "sz": wire["s"], "oid": oid}
            self.placed.append(order)
            if not self.forget_orders:
                self.open[oid] = order
        return {"resting": {"oid": oid}}

    def _account(self) -> dict[str, Any]:
        with self._lock:
            held = [(c, p) for c, p in self.positions.items() if p != 0.0]
        return {
            "assetPositions": [{"type": "oneWay", "position": {"coin": c, "szi": format_decimal(p), "entryPx": "0.0"}}
                               for c, p in held],
            "marginSummary": {"accountValue": "0.0"}, "withdrawable": "0.0",
        }  # fmt: skip

    def _order_status(self, body: dict[str, Any]) -> dict[str, Any]:
        known = self.by_cloid.get(str(body.get("oid")))
        if known is None:
            return {"status": "unknownOid"}
        order = {"coin": known["coin"], "oid": known["oid"], "sz": known["sz"], "cloid": body["oid"]}
        return {"status": "order", "order": {"order": order, "status": known["status"], "statusTimestamp": 0}}

    def _cancel(self, asset: int, oid: int) -> Any:
        with self._lock:
            if self.open.pop(oid, None) is None:
                return {"error": f"Order was never placed, already canceled, or filled. asset={asset}"}
            self.cancelled.append(oid)
        return "success"


def _valid_price(px: Decimal, sz_decimals: int) -> bool:
    """Perp tick rule: at most 5 significant figures (integers always allowed), <= 6 - szDecimals decimals."""
    if px <= 0:
        return False
    decimals = max(0, -px.normalize().as_tuple().exponent)
    if decimals > 6 - sz_decimals:
        return False
    if px == px.to_integral_value():
        return True
    return len(px.normalize().as_tuple().digits) <= 5
