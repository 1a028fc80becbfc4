"""`python -m quant_organism live` end to end against local servers: it trades the deployment from the websocket,
mirrors it on the local exchange only with `--mirror` and a key, and the CLI's kill switch flattens and stops it."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, datetime, timezone

import eth_account
import numpy as np
import pandas as pd

from quant_organism.catalog import DataWindow, DeploymentStatus, StrategyConfig, StrategyStore
from quant_organism.catalog.store import STORE_DIR
from quant_organism.cli.main import main
from quant_organism.deployment import Candidate, DecisionEngine, deploy
from quant_organism.market.stream import FeedHealth
from quant_organism.strategies import SeedGenes
from quant_organism_tests.support.hl_exchange_replay import ExchangeReplay
from quant_organism_tests.support.hl_replay_server import HyperliquidReplayServer
from quant_organism_tests.support.hl_ws_server import HyperliquidWsServer

ACCOUNT = eth_account.Account.from_key("0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
NOW = pd.Timestamp.now(tz="UTC").floor("h")


def _deploy(root) -> None:
    window = DataWindow(start=datetime(2024, 1, 1, tzinfo=timezone.utc), end=datetime(2024, 6, 1, tzinfo=timezone.utc),
                        coins=("BTC",), interval="1h")  # fmt: skip
    genes = SeedGenes.from_gene_values(
        "donchian_breakout",
        "breakout",
        {"fast_period": 2, "slow_period": 5, "stop_loss": 0.0, "take_profit": 0.0, "position_size": 1.0},
    )
    config = StrategyConfig.from_genes(genes, fitness_score=1.0, backtest_sharpe=1.0, data_window=window, name="breakout")
    store = StrategyStore(root / STORE_DIR)
    store.save_evolved_strategies([config])
    store.transition_strategy(config.name, DeploymentStatus.VALIDATED, "validated for the test")
    returns = pd.DataFrame({config.name: np.random.default_rng(1).normal(0.004, 0.01, 300)})
    plan = DecisionEngine().select([Candidate(config.name, 1.0)], returns)
    deploy(plan, store, when=datetime.now(timezone.utc), evolution_date=date(2024, 6, 1))


def _rising(start: pd.Timestamp, hours: int, first: float = 50_000.0) -> pd.DataFrame:
    closes = first * 1.001 ** np.arange(1, hours + 1)
    opens = np.r_[first, closes[:-1]]
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=hours, freq="h"), "open": opens, "high": closes * 1.0003,
                         "low": opens * 0.9997, "close": closes, "volume": 8.0})  # fmt: skip


def test_live_trades_the_deployment_mirrors_it_and_the_kill_switch_flattens_and_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HYPERLIQUID_TESTNET_PRIVATE_KEY", ACCOUNT.key.hex())
    _deploy(tmp_path)
    history = _rising(NOW - pd.Timedelta(days=20), 20 * 24 + 3)
    live = history[history["timestamp"] >= NOW].set_index("timestamp")
    with HyperliquidReplayServer() as rest, HyperliquidWsServer() as ws:
        rest.add_candles("BTC", history, "1h")
        rest.add_funding("BTC", pd.DataFrame({"timestamp": history["timestamp"], "funding_rate": 0.0}))
        replay = ExchangeReplay(rest, {"BTC": float(live["close"].iloc[-1])}, signers=[ACCOUNT.address])
        codes: list[int] = []
        argv = ["live", "--url", rest.url, "--ws-url", ws.url, "--history-days", "20", "--mirror", "--var-limit", "1"]
        process = threading.Thread(target=lambda: codes.append(main(argv)), daemon=True)
        process.start()
        ws.wait_subscribed(["BTC"], timeout=120)
        for start, bar in live.iterrows():
            ws.replay_candle("BTC", start, bar)
        ws.publish("BTC", int((NOW + pd.Timedelta(hours=3)).value // 1_000_000) + 5, float(live["close"].iloc[-1]), 1.0)
        deadline = time.monotonic() + 60
        while replay.positions.get("BTC", 0.0) <= 0.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert replay.positions.get("BTC", 0.0) > 0.0, "the exchange book follows the paper book's position"

        assert main(["live", "--kill"]) == 0
        process.join(timeout=60)
        assert codes == [0] and not process.is_alive()
        assert replay.positions["BTC"] == 0.0  # flattened
        assert main(["live"]) == 3  # refuses to start while the kill switch is set
    alerts = [json.loads(line) for line in (tmp_path / "live" / "alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in alerts if a["kind"] == "kill_switch"] == ["kill_switch", "kill_switch"]
    orders = [json.loads(line) for line in (tmp_path / "live" / "orders.jsonl").read_text().splitlines()]
    assert any(o.get("reduce_only") for o in orders) and all("slippage_bps" in o for o in orders if o.get("avg_px"))
    health = FeedHealth.read(tmp_path / "live" / "health.json")
    assert health.state == "stopped" and health.bars_from_stream >= 2
    books = [json.loads(line) for line in (tmp_path / "live" / "books.jsonl").read_text().splitlines()]
    held = [b for b in books if b["exchange_positions"]]  # paper and exchange side by side at each close
    assert held and abs(held[-1]["exchange_positions"]["BTC"] - held[-1]["paper_targets"]["BTC"]) <= 0.5e-5  # BTC's lot
    assert all({"paper_pnl", "exchange_pnl_before_fees", "difference"} <= set(b) for b in books)
    assert main(["live", "--clear-kill"]) == 0


def test_without_mirror_or_key_no_order_is_ever_sent(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HYPERLIQUID_TESTNET_PRIVATE_KEY", raising=False)
    _deploy(tmp_path)
    history = _rising(NOW - pd.Timedelta(days=20), 20 * 24)
    with HyperliquidReplayServer() as rest, HyperliquidWsServer() as ws:
        rest.add_candles("BTC", history, "1h")
        replay = ExchangeReplay(rest, {"BTC": 50_000.0}, signers=[ACCOUNT.address])
        base = ["live", "--url", rest.url, "--ws-url", ws.url, "--history-days", "20"]
        assert main([*base, "--mirror"]) == 2  # a mirror without a key is refused before anything starts
        assert main([*base, "--seconds", "1"]) == 0  # without --mirror it runs and sends nothing
        assert replay.placed == [] and replay.fills == [] and rest.count(path="/exchange") == 0
