"""`python -m quant_organism.benchmarks live [--coins 30] [--messages 3000]`: the live book's latency and the dashboard's cost.

**Latency.** A real websocket server on 127.0.0.1 (the tests' protocol subset) publishes one-trade messages
round-robin over `--coins` coins to the real feed (the SDK's `Info` with its websocket), which feeds a live session
of 3 strategies per coin (stops armed). Both clocks are this process's `perf_counter`, so two spans are exact:
- **message -> book**: from the message reaching the feed (`ExchangeFeed._on_raw`) to the session having marked the
  book and checked its stops and breakers (`LiveSession.on_trade` returned);
- **send -> book**: from the server's send to the same point (adds the local socket and the SDK's thread).
Messages are paced `--pace-ms` apart, so each is measured alone, not behind a queue.

**Dashboard.** A fixture instance at the same size (`populate`: the live session's own state and alerts, a
deployment with probationers whose forward records went through `ProbationEntry.update`, both tiers' verdicts and
an evolution's generation statistics as display figures): the Textual app's startup to its first full refresh, and the mean cost of
a refresh, in Textual's headless pilot. `--svg PATH` also saves the dashboard's screenshot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.catalog import StrategyConfig
from quant_organism.core import artifacts
from quant_organism.deployment.probation import ProbationEntry
from quant_organism.market.stream import FeedHealth
from quant_organism.runtime import PaperLedger, RuntimePolicy, StrategyRuntimeEngine
from quant_organism.runtime.live_session import LiveSession
from quant_organism.runtime.risk import RiskLimits
from quant_organism.strategies import SeedGenes

HOUR = pd.Timedelta(hours=1)
START = pd.Timestamp("2025-01-01", tz="UTC")


def coin_names(n: int) -> list[str]:
    return [f"C{k:02d}" for k in range(n)]


def random_market(coins: list[str], hours: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Hourly random-walk bars per coin, drifting up (the breakout strategies hold positions)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, coin in enumerate(coins):
        closes = (100.0 + 10 * k) * np.exp(np.cumsum(rng.normal(0.0008, 0.004, hours)))
        opens = np.r_[closes[0], closes[:-1]]
        noise = np.abs(rng.normal(0, 0.002, hours))
        out[coin] = pd.DataFrame(
            {"open": opens, "high": np.maximum(opens, closes) * (1 + noise), "low": np.minimum(opens, closes) * (1 - noise),
             "close": closes, "volume": 10.0},
            index=pd.date_range(START, periods=hours, freq="h"),
        )  # fmt: skip
    return out


def strategies(coins: list[str]) -> list[StrategyConfig]:
    """Three breakout strategies with stops, each trading every coin."""
    from quant_organism.catalog import DataWindow

    window = DataWindow(start=START.to_pydatetime(), end=(START + 30 * HOUR).to_pydatetime(), coins=tuple(coins), interval="1h")
    out = []
    for fast, slow, stop in ((2, 5, 0.02), (3, 8, 0.03), (5, 12, 0.05)):
        genes = SeedGenes.from_gene_values("donchian_breakout", f"breakout_{fast}_{slow}",
                                           {"fast_period": fast, "slow_period": slow, "stop_loss": stop, "take_profit": 0.0,
                                            "position_size": 0.3})  # fmt: skip
        config = StrategyConfig.from_genes(genes, fitness_score=1.0, backtest_sharpe=1.0, data_window=window)
        out.append(config.model_copy(update={"allocation": 1.0 / 3}))
    return out


def live_session(root: Path, coins: list[str], hours: int = 24 * 40, live_hours: int = 48) -> tuple[LiveSession, dict]:
    """A session over `hours` of history that has traded `live_hours` closed bars (its books hold positions)."""
    market = random_market(coins, hours + live_hours)
    history = {c: f.iloc[:hours] for c, f in market.items()}
    engine = StrategyRuntimeEngine(strategies(coins), coins=coins, policy=RuntimePolicy.backtest_parity(),
                                   signal_mode="precomputed", risk=RiskLimits())  # fmt: skip
    session = LiveSession(engine, PaperLedger(root / "live" / "ledger.duckdb"), interval=HOUR, history=history,
                          var_limit=0.05, out_dir=root / "live")  # fmt: skip
    for t in market[coins[0]].index[hours:]:
        for coin in coins:
            bar = market[coin].loc[t]
            session.on_bar({"coin": coin, "time": t, **bar.to_dict()})
    return session, market


def populate(root: Path, coins: int = 30) -> LiveSession:
    """A fixture instance for the dashboard, every section with content. The live book, its alerts, the feed's record of
    what it fed and the probationers' records come from the product's own code; the night's verdicts and the
    generation statistics are written in the assets' format with figures chosen for display, not measured."""
    names = coin_names(coins)
    session, _ = live_session(root, names)
    at = int((session.processed + HOUR * 1.25).value // 1_000_000)
    for coin in names[:3]:  # a sharp fall on three coins: the stops fire within the bar, as alerts show
        session.on_trade(coin, at, session.watch.prices[coin] * 0.94)
    session.write_state(force=True)
    now = pd.Timestamp.now(tz="UTC").isoformat()  # the record of what this fixture fed the session: its bars, three trades
    FeedHealth(state="connected", coins=names, started_at=now, last_message_at=now, messages=3, trades=3,
               bars_from_stream=session.bars_traded * coins).write(root / "live" / "health.json")  # fmt: skip
    _deployment(root)
    _night(root)
    return session


def _deployment(root: Path) -> None:
    rng = np.random.default_rng(4)
    days = pd.date_range("2025-01-01", periods=70, freq="D", tz="UTC")
    market = pd.Series(rng.normal(0.0005, 0.02, len(days)), index=days)
    entries = []
    for k, (edge, allocation) in enumerate(((0.004, 0.02), (0.0, 0.02), (0.012, 0.10))):
        held_out = pd.Series(rng.normal(0.003, 0.01, 200))
        entry = ProbationEntry.open(date(2025, 1, 1), 0.005, 0.01, 0.2, held_out, f"genome_{k}")
        forward = pd.Series(rng.normal(edge, 0.01, len(days)), index=days)
        entry = entry.update(forward, market, days[-1].date())
        entries.append({"name": f"probationer_{k}", "allocation": allocation, "stage": "capital" if entry.crossed else "probation",
                        "probation": entry.to_dict()})  # fmt: skip
    folder = root / "strategies" / "deployments"
    folder.mkdir(parents=True, exist_ok=True)
    version = "20250311T000000000000Z"
    (folder / f"{version}.json").write_text(json.dumps({"version": version, "strategies": entries, "traded_coins": []}))
    (folder / "current.json").write_text(json.dumps({"version": version, "manifest": f"{version}.json"}))


def _night(root: Path) -> None:
    day = "2025-03-11"
    folder = artifacts.phase_dir("validation", day, root)
    verdicts = [{"candidate_id": f"c{k}", "passed": k == 0} for k in range(50)]
    reach = {"alpha": 0.0025, "detectable_sharpe_50": 3.31, "sentence": "this test could see an annual Sharpe >= 3.31 half the time "
             "(1.13 years of evidence, 50 candidates ~ 12 independent, family-wise error 0.25%)"}  # fmt: skip
    artifacts.write_json(folder / "verdicts.json", {"verdicts": verdicts, "reach": reach})
    families = [{"family": f, "level": level, "pvalue": p, "rules": ["a", "b", "c"], "superior": s,
                 "power": {"detectable_sharpe_50": d}}
                for f, level, p, s, d in (("ts_trend", 0.015, 0.33, [], 5.15), ("xs_momentum", 0.003, 0.0007, ["a"], 5.82),
                                          ("carry", 0.002, 0.41, [], 6.1))]  # fmt: skip
    artifacts.write_json(folder / "documented_tier.json", {"families": families})
    rows = [{"batch": b, "generation": g, "best_score": 1.0 + np.log1p(g) * (0.5 + 0.1 * b), "median_score": 0.4 + 0.05 * g}
            for b in range(2) for g in range(12)]  # fmt: skip
    artifacts.write_frame(artifacts.phase_dir("evolution", day, root) / "generation_stats.parquet", pd.DataFrame(rows))


# --- latency ---------------------------------------------------------------------------------------------------
def latency(coins: int, messages: int, pace_ms: float) -> dict:
    from quant_organism.market.live_feed import ExchangeFeed
    from quant_organism_tests.support.hl_ws_server import HyperliquidWsServer  # the tests' local server

    names = coin_names(coins)
    with tempfile.TemporaryDirectory() as tmp, HyperliquidWsServer() as ws:
        session, market = live_session(Path(tmp), names)
        sent: dict[int, float] = {}
        arrived: dict[int, float] = {}
        done: dict[int, float] = {}

        def on_trade(trade) -> None:
            session.on_trade(trade.coin, trade.time_ms, trade.price)
            done[trade.tid] = time.perf_counter()

        feed = ExchangeFeed(names, "1h", ws_url=ws.url, rest=lambda *a: pd.DataFrame(), on_trade=on_trade, on_bar=session.on_bar)
        raw = feed._on_raw

        def stamped(message) -> None:
            if '"tid": ' in message:
                arrived[int(message.rsplit('"tid": ', 1)[1].split("}", 1)[0])] = time.perf_counter()
            raw(message)

        feed._on_raw = stamped
        feed.start()
        ws.wait_subscribed(names)
        t0 = int((session.processed + HOUR).value // 1_000_000)
        last = {c: float(f["close"].iloc[-1]) for c, f in market.items()}
        rng = np.random.default_rng(9)
        for k in range(messages):
            coin = names[k % coins]
            price = last[coin] * (1 + rng.normal(0, 0.002))
            sent[k + 1] = time.perf_counter()
            ws.publish(coin, t0 + k * 10, price, 0.1, tid=k + 1)
            time.sleep(pace_ms / 1000)
        deadline = time.monotonic() + 10
        while len(done) < messages and time.monotonic() < deadline:
            time.sleep(0.01)
        feed.stop()
    ids = [i for i in sent if i in done and i in arrived]
    to_book = [(done[i] - arrived[i]) * 1e6 for i in ids]
    end_to_end = [(done[i] - sent[i]) * 1e6 for i in ids]
    books = len(session.engine.books)

    def q(values, p):
        return float(np.percentile(values, p))

    return {"coins": coins, "books": books, "messages": messages, "measured": len(ids),
            "message_to_book_us": {"median": q(to_book, 50), "p99": q(to_book, 99)},
            "send_to_book_us": {"median": q(end_to_end, 50), "p99": q(end_to_end, 99)}}  # fmt: skip


# --- the dashboard -----------------------------------------------------------------------------------------------
def dashboard(coins: int, refreshes: int, svg: Path | None) -> dict:
    from quant_organism.cli.dashboard_app import Dashboard

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        populate(root, coins)

        async def drive() -> dict:
            started = time.perf_counter()
            app = Dashboard(root, refresh_s=3600)
            async with app.run_test(size=(170, 60)) as pilot:
                await pilot.pause()
                startup = time.perf_counter() - started
                costs = []
                for _ in range(refreshes):
                    t = time.perf_counter()
                    app.action_refresh()
                    await pilot.pause()
                    costs.append(time.perf_counter() - t)
                if svg is not None:
                    svg.parent.mkdir(parents=True, exist_ok=True)
                    svg.write_text(app.export_screenshot(title="python -m quant_organism dashboard"))
                rows = {k: app.query_one(f"#{k}-table").row_count for k in ("live", "probation", "night", "health")}
            return {"startup_s": startup, "refresh_ms": {"mean": 1e3 * statistics.mean(costs), "p99": 1e3 * float(np.percentile(costs, 99))},
                    "rows": rows}  # fmt: skip

        return asyncio.run(drive())


def render(result: dict, pace_ms: float, refreshes: int) -> str:
    lat, dash = result["latency"], result["dashboard"]
    lines = [
        f"$ {result['command']}",
        f"{lat['coins']} coins, {lat['books']} books (3 strategies with stops per coin), {lat['measured']}/{lat['messages']} "
        f"one-trade messages paced {pace_ms:g} ms apart over a real websocket on 127.0.0.1:",
        "",
        "| span | median | p99 |",
        "|---|---|---|",
    ]
    for name, key in (("message -> book updated", "message_to_book_us"), ("server send -> book updated", "send_to_book_us")):
        lines.append(f"| {name} | {lat[key]['median']:.0f} µs | {lat[key]['p99']:.0f} µs |")
    lines += [
        "",
        f"The dashboard at {lat['coins']} coins (rows shown: {dash['rows']}): startup to the first full view "
        f"{dash['startup_s']:.2f} s; a refresh (every file re-read, every table rebuilt) {dash['refresh_ms']['mean']:.1f} ms "
        f"mean, {dash['refresh_ms']['p99']:.1f} ms p99 over {refreshes}, in Textual's headless pilot.",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks live")
    parser.add_argument("--coins", type=int, default=30)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--pace-ms", type=float, default=2.0)
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--svg", type=Path, help="also save the dashboard's screenshot here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--docs", action="store_true", help="also write the figures into docs/benchmarks.md")
    args = parser.parse_args(argv)
    command = " ".join(["python -m quant_organism.benchmarks live", *argv])
    result = {"command": command, "latency": latency(args.coins, args.messages, args.pace_ms),
              "dashboard": dashboard(args.coins, args.refreshes, args.svg)}  # fmt: skip
    text = render(result, args.pace_ms, args.refreshes)
    print(json.dumps(result, indent=2) if args.json else text)
    if args.docs:
        from quant_organism.benchmarks.docs_page import write_section

        write_section(f"live ({args.coins} coins)", command, text)
    return 0
