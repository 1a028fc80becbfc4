"""The live feed against a local websocket server and a local REST server: intrabar stops at the first price past
their level, a dropped connection recovered with the gap filled from REST, the ledger equal to bar-close
processing's, and bad messages refused without crashing (market/live_feed.py, runtime/live_session.py)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from quant_organism.catalog import StrategyConfig
from quant_organism.market.live_feed import ExchangeFeed
from quant_organism.market.sources.hyperliquid import HyperliquidSource
from quant_organism.market.stream import BarBuilder, FeedHealth, StreamTrade
from quant_organism.runtime import PaperLedger, RuntimePolicy, StrategyRuntimeEngine
from quant_organism.runtime.ledger import PaperTrader
from quant_organism.runtime.live_session import LiveSession
from quant_organism.runtime.risk import RiskLimits
from quant_organism.strategies import SeedGenes
from quant_organism_tests.support.hl_replay_server import HyperliquidReplayServer
from quant_organism_tests.support.hl_ws_server import HyperliquidWsServer

COINS = ["BTC", "ETH"]
STOP = 0.03
HOUR = pd.Timedelta(hours=1)
LIVE_START = pd.Timestamp("2024-01-13 12:00", tz="UTC")


def _config() -> StrategyConfig:
    genes = SeedGenes.from_gene_values(
        "donchian_breakout",
        "live",
        {"fast_period": 2, "slow_period": 5, "stop_loss": STOP, "take_profit": 0.0, "position_size": 1.0},
    )
    return StrategyConfig.from_genes(genes, fitness_score=1.0, backtest_sharpe=1.0, name="live")


def _bars(first: float, n: int, start: pd.Timestamp, step: float = 0.001) -> pd.DataFrame:
    closes = first * (1 + step) ** np.arange(1, n + 1)
    opens = np.r_[first, closes[:-1]]
    return pd.DataFrame(
        {"open": opens, "high": np.maximum(opens, closes) * 1.0004, "low": np.minimum(opens, closes) * 0.9996,
         "close": closes, "volume": 8.0},
        index=pd.date_range(start, periods=n, freq="h"),
    )  # fmt: skip


def _crash_trades(open_: float) -> list[float]:
    """The crash bar's trades: above the stop, then the first price past it, lower still, a partial recovery."""
    return [open_, open_ * 0.995, open_ * 0.962, open_ * 0.955, open_ * 0.97]


def _market() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(history before LIVE_START, the 6 live bars) per coin; the third live bar crashes through the stop."""
    history, live = {}, {}
    for coin, first in (("BTC", 40_000.0), ("ETH", 2_000.0)):
        hist = _bars(first, 300, LIVE_START - 300 * HOUR)
        bars = _bars(float(hist["close"].iloc[-1]), 6, LIVE_START)
        crash = _crash_trades(float(bars["open"].iloc[2]))
        bars.iloc[2] = [crash[0], max(crash), min(crash), crash[-1], 8.0 / 4 * 5]
        after = _bars(crash[-1], 3, LIVE_START + 3 * HOUR)
        bars.iloc[3:] = after.to_numpy()
        history[coin], live[coin] = hist, bars
    return history, live


def _engine() -> StrategyRuntimeEngine:
    return StrategyRuntimeEngine([_config()], coins=COINS, policy=RuntimePolicy.backtest_parity(), signal_mode="precomputed",
                                 risk=RiskLimits.off())  # fmt: skip


def _publish_bar(ws: HyperliquidWsServer, coin: str, start: pd.Timestamp, bar: pd.Series, crash: bool) -> None:
    if not crash:
        ws.replay_candle(coin, start, bar)
        return
    t0 = int(start.value // 1_000_000)
    prices = _crash_trades(float(bar["open"]))
    for k, px in enumerate(prices):
        ws.publish(coin, t0 + k * 600_000 + 1, px, 2.0)


def _wait(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _ledger_tables(ledger: PaperLedger) -> dict[str, pd.DataFrame]:
    return {name: ledger.table(name).sort_values(list(ledger.table(name).columns[:3])).reset_index(drop=True)
            for name in ("orders", "fills", "positions", "pnl", "trades")}  # fmt: skip


@pytest.fixture()
def servers():
    rest = HyperliquidReplayServer().start()
    ws = HyperliquidWsServer().start()
    yield rest, ws
    ws.stop()
    rest.stop()


def _live(tmp_path, rest, ws, history, live):
    for coin in COINS:
        frame = live[coin].rename_axis("timestamp").reset_index()
        rest.add_candles(coin, frame, "1h")
    source = HyperliquidSource(rest.url)
    session = LiveSession(
        _engine(), PaperLedger(tmp_path / "live.duckdb"), interval=HOUR, history=history, out_dir=tmp_path / "live"
    )
    feed = ExchangeFeed(
        COINS, "1h", ws_url=ws.url, rest=lambda c, s, e: source.candles(c, s, e, "1h"),
        on_trade=lambda t: session.on_trade(t.coin, t.time_ms, t.price), on_bar=session.on_bar,
        health_path=tmp_path / "live" / "health.json", tick_s=0.05, backoff_s=(0.1, 0.5),
    )  # fmt: skip
    return session, feed


def _reference(tmp_path, history, live) -> PaperLedger:
    """Bar-close processing of the same bars: the paper job's way, in one run."""
    ledger = PaperLedger(tmp_path / "reference.duckdb")
    frames = {c: pd.concat([history[c], live[c]]) for c in COINS}
    PaperTrader(_engine(), ledger).run(frames, start=LIVE_START, end=LIVE_START + 6 * HOUR)
    return ledger


def _close_last_bar(ws: HyperliquidWsServer, live) -> None:
    after = int((LIVE_START + 6 * HOUR).value // 1_000_000) + 1
    for coin in COINS:
        ws.publish(coin, after, float(live[coin]["close"].iloc[-1]), 1.0)


def test_a_stop_fires_within_the_bar_at_the_first_price_past_it_and_the_ledger_equals_bar_close_processing(tmp_path, servers):
    rest, ws = servers
    history, live = _market()
    session, feed = _live(tmp_path, rest, ws, history, live)
    feed.start()
    ws.wait_subscribed(COINS)
    for k in range(6):
        for coin in COINS:
            _publish_bar(ws, coin, LIVE_START + k * HOUR, live[coin].iloc[k], crash=k == 2)
    _close_last_bar(ws, live)
    _wait(lambda: session.processed == LIVE_START + 5 * HOUR, what="the six live bars traded")
    feed.stop()

    exits = [json.loads(line) for line in (tmp_path / "live" / "intrabar_fills.jsonl").read_text().splitlines()]
    assert {e["coin"] for e in exits} == set(COINS)
    for e in exits:
        crash = _crash_trades(float(live[e["coin"]]["open"].iloc[2]))
        first_past = next(p for p in crash if p <= e["level"])
        assert e["reason"] == "stop_loss" and e["price"] == pytest.approx(first_past)
        assert pd.Timestamp(e["bar_time"]) == LIVE_START + 2 * HOUR
        assert LIVE_START + 2 * HOUR < pd.Timestamp(e["time"]) < LIVE_START + 3 * HOUR  # within the bar, before its close
        assert e["model_reason"] == "stop_loss"
        assert e["model_price"] == pytest.approx(e["level"] * (1 - 0.0005))  # the stop model's level, less slippage
        assert e["better_than_model_bps"] < 0  # the first trade past the level was worse than the level: measured
    got, want = _ledger_tables(session.ledger), _ledger_tables(_reference(tmp_path, history, live))
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_dtype=False, obj=name)
    assert (got["trades"]["exit_reason"] == "stop_loss").sum() == 2
    health = FeedHealth.read(tmp_path / "live" / "health.json")
    assert health.bars_from_stream == 12 and health.bars_from_rest == 0 and health.state == "stopped"
    state = json.loads((tmp_path / "live" / "state.json").read_text())
    assert state["last_bar"] == (LIVE_START + 5 * HOUR).isoformat() and state["var"] is not None


def test_a_dropped_connection_is_recovered_and_the_gap_filled_from_rest_with_no_bar_missed_or_counted_twice(tmp_path, servers):
    rest, ws = servers
    history, live = _market()
    session, feed = _live(tmp_path, rest, ws, history, live)
    seen: list[tuple[str, pd.Timestamp, str]] = []
    on_bar = feed.on_bar
    feed.on_bar = lambda bar: (seen.append((bar["coin"], bar["time"], bar["source"])), on_bar(bar))
    feed.start()
    ws.wait_subscribed(COINS)
    for k in range(2):
        for coin in COINS:
            _publish_bar(ws, coin, LIVE_START + k * HOUR, live[coin].iloc[k], crash=False)
    _wait(lambda: feed.health.trades == 16, what="the first two bars' trades")
    ws.refuse(1000)  # reconnects are refused for a while: the feed backs off and tries again
    ws.drop()
    _wait(lambda: feed.health.state == "reconnecting", what="the drop noticed")
    for k in (2, 3):  # traded while the organism was away: only REST has them
        for coin in COINS:
            _publish_bar(ws, coin, LIVE_START + k * HOUR, live[coin].iloc[k], crash=k == 2)
    _wait(lambda: ws.refused >= 2, what="two refused reconnects")
    ws.refuse(0)
    _wait(lambda: feed.health.reconnects == 1 and feed.health.state == "connected", what="the reconnect")
    ws.wait_subscribed(COINS)
    for k in (4, 5):
        for coin in COINS:
            _publish_bar(ws, coin, LIVE_START + k * HOUR, live[coin].iloc[k], crash=False)
    _close_last_bar(ws, live)
    _wait(lambda: session.processed == LIVE_START + 5 * HOUR, what="every bar traded")
    feed.stop()

    for coin in COINS:
        times = [t for c, t, _ in seen if c == coin]
        assert times == list(LIVE_START + HOUR * np.arange(6)), f"{coin}: each bar once, in order"
        sources = [s for c, _, s in seen if c == coin]
        assert sources[0] == "stream" and set(sources[1:5]) == {"rest"}  # the bar cut by the drop came from REST
    health = FeedHealth.read(tmp_path / "live" / "health.json")
    assert health.reconnects == 1 and health.bars_from_rest >= 8 and ws.connections >= 2
    got, want = _ledger_tables(session.ledger), _ledger_tables(_reference(tmp_path, history, live))
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_dtype=False, obj=name)


def test_bad_messages_are_refused_counted_and_never_crash_the_feed(tmp_path, servers):
    _, ws = servers
    trades, bars = [], []
    feed = ExchangeFeed(["BTC"], "1h", ws_url=ws.url, rest=lambda *a: pd.DataFrame(), on_trade=trades.append,
                        on_bar=bars.append, health_path=tmp_path / "health.json", tick_s=0.05)  # fmt: skip
    feed.start()
    ws.wait_subscribed(["BTC"])
    t0 = int(LIVE_START.value // 1_000_000)
    ws.publish("BTC", t0 + 10, 100.0, 1.0, tid=1)
    ws.send_raw("{not json")  # malformed: not JSON
    ws.send_raw(json.dumps({"channel": "trades", "data": [{"coin": "BTC", "px": "1"}]}))  # malformed: fields missing
    ws.send_raw(json.dumps({"channel": "trades", "data": [{"coin": "BTC", "px": "-5", "sz": "1", "time": t0, "tid": 9}]}))
    ws.publish("BTC", t0 + 10, 100.0, 1.0, tid=1)  # duplicated
    ws.publish("BTC", t0 + 3_600_000 + 5, 101.0, 1.0, tid=2)  # next bar: closes the first
    ws.publish("BTC", t0 + 20, 99.0, 1.0, tid=3)  # out of order: for the bar already closed
    ws.publish("ETH", t0 + 20, 99.0, 1.0, tid=4)  # a coin not subscribed (the server sends only what was asked)
    ws.send_raw(
        json.dumps(
            {
                "channel": "trades",
                "data": [{"coin": "SOL", "side": "B", "px": "1", "sz": "1", "time": t0, "tid": 5, "hash": "0x"}],
            }
        )
    )
    _wait(lambda: feed.health.refused["unsubscribed"] == 1, what="every message handled")
    assert [t.tid for t in trades] == [1, 2]
    assert [b["time"] for b in bars] == [LIVE_START] and bars[0]["close"] == 100.0
    assert feed.health.refused == {"malformed": 3, "duplicate": 1, "out_of_order": 1, "unsubscribed": 1}
    assert feed._watchdog.is_alive() and feed.info.ws_manager.is_alive()  # still running
    feed.stop()
    assert FeedHealth.read(tmp_path / "health.json").refused["malformed"] == 3


def test_a_clock_jump_is_recorded_and_bars_still_follow_the_exchanges_times():
    wall = [1_000_000.0]
    mono = [50.0]
    bars: list[dict] = []
    feed = ExchangeFeed(["BTC"], "1h", ws_url="http://127.0.0.1:9", rest=lambda *a: pd.DataFrame(), on_trade=lambda t: None,
                        on_bar=bars.append, clock=lambda: wall[0], monotonic=lambda: mono[0])  # fmt: skip
    t0 = int(LIVE_START.value // 1_000_000)
    feed._take([StreamTrade("BTC", t0 + 1, 100.0, 1.0, 1)])
    wall[0] += 7200.0  # this machine's clock jumps two hours ahead; no real time passed
    mono[0] += 0.2
    with feed._lock:
        feed._check_clock()
        for bar in feed.builder.due(feed.stream_ms()):
            feed._deliver(bar)
    assert feed.health.clock_jumps == 1 and "clock jump of +7199.8 s" in feed.health.last_problem
    assert bars == []  # the bar is still open: the exchange's time has not reached its end
    mono[0] += 3602.0  # an hour of real time passes with no trade: the bar closes on the stream's own time
    wall[0] += 3602.0
    with feed._lock:
        feed._check_clock()
        for bar in feed.builder.due(feed.stream_ms()):
            feed._deliver(bar)
    assert [b["time"] for b in bars] == [LIVE_START] and feed.health.clock_jumps == 1


def test_the_bar_builder_keeps_one_open_bar_per_coin_and_refuses_late_trades():
    health = FeedHealth()
    builder = BarBuilder(["BTC"], 3_600_000, grace_ms=0)
    assert builder.accept(StreamTrade("BTC", 10, 100.0, 1.0, 1), health) == (True, [])
    assert builder.accept(StreamTrade("BTC", 20, 103.0, 2.0, 2), health)[0]
    taken, closed = builder.accept(StreamTrade("BTC", 3_600_010, 99.0, 1.0, 3), health)
    assert taken and [(b.open, b.high, b.low, b.close, b.volume, b.trades) for b in closed] == [
        (100.0, 103.0, 100.0, 103.0, 3.0, 2)
    ]
    assert builder.accept(StreamTrade("BTC", 30, 1.0, 1.0, 4), health) == (False, [])
    assert health.refused["out_of_order"] == 1


def test_a_breaker_level_passed_intrabar_is_alerted_and_empties_the_exchange_books_targets(tmp_path):
    history, live = _market()
    engine = StrategyRuntimeEngine([_config()], coins=COINS, policy=RuntimePolicy.backtest_parity(), signal_mode="precomputed",
                                   risk=RiskLimits(max_drawdown=0.5, daily_loss=0.001, max_asset_exposure=None))  # fmt: skip
    session = LiveSession(engine, PaperLedger(tmp_path / "l.duckdb"), interval=HOUR, history=history, out_dir=tmp_path / "live")
    halts: list[str] = []
    session.on_breaker.append(halts.append)
    for k in range(2):
        for coin in COINS:
            session.on_bar({"coin": coin, "time": LIVE_START + k * HOUR, **live[coin].iloc[k].to_dict()})
    assert session.targets() and session.halted is None  # long both coins after the second close
    t = int((LIVE_START + 2 * HOUR).value // 1_000_000) + 60_000
    for coin in COINS:
        session.on_trade(coin, t, float(live[coin]["open"].iloc[2]) * 0.99)  # the day's loss passes 0.1%
    assert session.halted and "daily loss" in halts[0] and session.targets() == {}
    assert any(a["kind"] == "intrabar_breaker_daily_loss" for a in session.alerts)
