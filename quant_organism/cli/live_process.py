"""The live process's parts wired together (cli/live.py starts it): the feed, the session, the exchange book."""

from __future__ import annotations

import argparse
import json
import queue
import signal
import threading
import time
from pathlib import Path

import pandas as pd

from quant_organism import settings
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.manifest import load_current_deployment
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.market.frames import to_strategy_frame
from quant_organism.market.live_feed import ExchangeFeed
from quant_organism.market.schema import interval_delta
from quant_organism.market.sources.hyperliquid import HyperliquidSource
from quant_organism.reporting.dashboard_data import KILL_FILE, LIVE_DIR
from quant_organism.runtime import PaperLedger, StrategyRuntimeEngine
from quant_organism.runtime.live_session import LiveSession
from quant_organism.runtime.operator import POLICY_FILE, load_policy


class LiveProcess:
    """The feed, the session and (optionally) the exchange book, wired; `run` until stopped, killed or timed out."""

    def __init__(self, root: Path, session: LiveSession, feed: ExchangeFeed, book=None) -> None:
        self.root, self.session, self.feed, self.book = root, session, feed, book
        self.stop = threading.Event()
        self._orders: queue.Queue = queue.Queue()
        if book is not None:
            session.on_close.append(lambda t: self._orders.put(("bar", t.isoformat())))
            session.on_exit.append(lambda e: self._orders.put(("intrabar", f"{e.bar_time.isoformat()}/{e.strategy}")))
            session.on_breaker.append(lambda why: self._orders.put(("breaker", why)))

    @classmethod
    def build(cls, root: Path, args: argparse.Namespace) -> LiveProcess:
        store = StrategyStore(root / STORE_DIR)
        manifest = load_current_deployment(store) or {}
        configs = [c for c in store.load_strategies(status=LIVE_STATUSES) if (c.allocation or 0.0) > 0.0]
        if not configs:
            raise ValueError("no deployed strategy holds capital: nothing to trade live")
        url = args.url or settings.hyperliquid_url() or "https://api.hyperliquid.xyz"
        source = HyperliquidSource(url)
        interval = settings.interval()
        policy, _ = load_policy(root / POLICY_FILE)  # the operator's standing policy and limits, as the paper job's
        engine = StrategyRuntimeEngine(configs, coins=manifest.get("traded_coins"), signal_mode="precomputed",
                                       policy=policy.runtime_policy(), risk=policy.risk_limits())  # fmt: skip
        end = pd.Timestamp.now(tz="UTC").floor(interval_delta(interval))
        start = end - pd.Timedelta(days=args.history_days)
        history = {c: to_strategy_frame(source.candles(c, start, end, interval), source.funding(c, start, end))
                   for c in engine.coins()}  # fmt: skip
        out = root / LIVE_DIR
        session = LiveSession(engine, PaperLedger(out / "ledger.duckdb"), interval=interval_delta(interval), history=history,
                              version=manifest.get("version"), var_limit=args.var_limit, out_dir=out)  # fmt: skip
        feed = ExchangeFeed(
            list(engine.coins()), interval, ws_url=args.ws_url or url, rest=lambda c, s, e: source.candles(c, s, e, interval),
            on_trade=lambda t: session.on_trade(t.coin, t.time_ms, t.price), on_bar=session.on_bar,
            health_path=out / "health.json",
        )  # fmt: skip
        book = _exchange_book(url, args, out, session) if args.mirror else None
        return cls(root, session, feed, book)

    def run(self, seconds: float | None = None) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            if threading.current_thread() is threading.main_thread():
                signal.signal(sig, lambda *_: self.stop.set())
        if self.book is not None:
            self.book.reconcile(self.session.watch.prices)
            self._paper_start = self.session.engine.portfolio_equity()
            threading.Thread(target=self._mirror, daemon=True, name="exchange-book").start()
        self.feed.start()
        print(f"live: {len(self.session.engine.books)} books on {', '.join(self.session.engine.coins())}; state in "
              f"{self.root / LIVE_DIR}; orders {'mirrored' if self.book is not None else 'never sent (no --mirror)'}")  # fmt: skip
        deadline = None if seconds is None else time.monotonic() + seconds
        killed = False
        while not self.stop.wait(0.2):
            if (self.root / KILL_FILE).exists():
                killed = True
                break
            if deadline is not None and time.monotonic() > deadline:
                break
        self.feed.stop()
        if killed:
            self._kill()
        self._orders.put(None)
        self.session.write_state(force=True)
        print(f"live: stopped after {self.session.bars_traded} bars{' by the kill switch' if killed else ''}")
        return 0

    def _mirror(self) -> None:
        """Orders off the feed's thread: each bar's close and each intrabar exit re-aims the exchange book."""
        while (job := self._orders.get()) is not None:
            kind, bar = job
            try:
                if kind == "bar":
                    self.book.reconcile(self.session.watch.prices)
                self.book.follow(self.session.targets(), self.session.watch.prices, bar=bar, reason=kind)
                if kind == "bar":
                    self._side_by_side(bar)
            except Exception as exc:  # noqa: BLE001 - the exchange failing must not stop the paper book; it is alerted
                self.session.alert("exchange_book", f"{kind} {bar}: {str(exc)[:200]}")

    def _side_by_side(self, bar: str) -> None:
        """The paper and exchange books at this close (`live/books.jsonl`): positions, P&L since the mirror began (the
        paper book's scaled by the capital ratio), and the difference."""
        prices, ratio = self.session.watch.prices, self.book.config.capital_ratio
        paper = (self.session.engine.portfolio_equity() - self._paper_start) * ratio
        exchange = self.book.pnl(prices)
        record = {"bar": bar, "paper_pnl": paper, "exchange_pnl_before_fees": exchange, "difference": exchange - paper,
                  "paper_targets": self.session.targets(), "exchange_positions": dict(self.book.positions),
                  "fills": self.book.summary()}  # fmt: skip
        with open(self.root / LIVE_DIR / "books.jsonl", "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def _kill(self) -> None:
        request = json.loads((self.root / KILL_FILE).read_text() or "{}")
        self.session.alert("kill_switch", f"kill requested by {request.get('requested_by', '?')}: flattening and stopping")
        if self.book is not None:
            done = self.book.flatten(self.session.watch.prices)
            self.session.alert(
                "kill_switch", f"exchange book flattened: {len(done)} order(s), positions {self.book.exchange_positions()}"
            )


def _exchange_book(url: str, args: argparse.Namespace, out: Path, session: LiveSession):
    """The exchange book, only through the testnet stage's opt-ins (a key, and the endpoint rules)."""
    from quant_organism.deployment.exchange_book import ExchangeBook, MirrorConfig
    from quant_organism.validation.testnet_stage import ACCOUNT_ENV, KEY_ENV, _wallet, check_endpoint

    environ = settings.testnet_environment()
    url = check_endpoint(url, args.allow_mainnet, environ)
    key = (environ.get(KEY_ENV) or "").strip()
    if not key:
        raise ValueError(f"--mirror needs {KEY_ENV} in the environment")
    from hyperliquid.exchange import Exchange

    wallet = _wallet(key)
    account = (environ.get(ACCOUNT_ENV) or "").strip() or wallet.address
    exchange = Exchange(wallet, url, account_address=None if account == wallet.address else account)
    return ExchangeBook(exchange, account, out / "orders.jsonl", MirrorConfig(capital_ratio=args.capital_ratio),
                        alert=session.alert)  # fmt: skip
