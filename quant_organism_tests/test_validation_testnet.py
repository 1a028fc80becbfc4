"""Stage 3, testnet: skipped without a key, real SDK orders against the local replay exchange, key secrecy,
and the endpoint rules (mainnet refused)."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import eth_account
import pandas as pd
import pytest
from hyperliquid.utils.constants import MAINNET_API_URL, TESTNET_API_URL

from quant_organism.validation import StageStatus, TestnetConfig, UnsafeEndpointError, check_endpoint, run_testnet_stage
from quant_organism.validation.exchange_orders import limit_price, order_size
from quant_organism.validation.testnet_stage import ALLOW_MAINNET_ENV
from quant_organism_tests.support.hl_exchange_replay import ExchangeReplay
from quant_organism_tests.support.hl_replay_server import Fault, HyperliquidReplayServer

MIDS = {"BTC": 64123.5, "ETH": 3012.25, "SOL": 141.337}
KEY_ENV = "HYPERLIQUID_TESTNET_PRIVATE_KEY"
# A throwaway key made for this test (never funded anywhere); the hex is what must never leak.
ACCOUNT = eth_account.Account.from_key("0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
KEY = ACCOUNT.key.hex().removeprefix("0x")


@pytest.fixture
def exchange():
    with HyperliquidReplayServer() as server:
        yield server, ExchangeReplay(server, MIDS, signers=[ACCOUNT.address])


def env(key: str = "0x" + KEY, **extra) -> dict[str, str]:
    return {KEY_ENV: key, **extra}


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert KEY.lower() not in text.lower()


def test_skipped_without_a_key_and_never_contacts_the_exchange(exchange):
    server, _ = exchange
    result = run_testnet_stage(TestnetConfig(base_url=server.url), environ={})
    assert result.status is StageStatus.SKIPPED and result.score is None and not result.ran
    assert result.reasons == ["HYPERLIQUID_TESTNET_PRIVATE_KEY not set"]
    assert server.count() == 0
    blank = run_testnet_stage(TestnetConfig(base_url=server.url), environ={KEY_ENV: "  "})
    assert blank.status is StageStatus.SKIPPED


def test_places_and_cancels_far_from_mid_post_only_orders(exchange, caplog):
    server, book = exchange
    caplog.set_level(logging.DEBUG)
    config = TestnetConfig(base_url=server.url, coins=("BTC", "ETH", "SOL"), distance=0.2)
    result = run_testnet_stage(config, environ=env())
    assert result.status is StageStatus.PASSED, result.reasons
    assert result.score == 1.0 and result.reasons == []
    m = result.metrics
    assert (m["planned"], m["accepted"], m["cancelled"], m["rejected"]) == (6, 6, 6, 0)
    assert m["network"] == "local" and m["signer"] == ACCOUNT.address
    # what reached the exchange: signed by the key's address, post-only, far from the mid, >= $10, all cancelled
    assert set(book.recovered) == {ACCOUNT.address} and len(book.recovered) == 12
    assert book.open == {} and len(book.cancelled) == 6
    for order in book.placed:
        px, sz, mid = Decimal(order["limitPx"]), Decimal(order["sz"]), Decimal(str(MIDS[order["coin"]]))
        assert px * sz >= 10
        assert (px <= mid * Decimal("0.8001")) if order["side"] == "B" else (px >= mid * Decimal("1.1999"))
    orders = [r.body for r in server.requests if r.path == "/exchange" and r.body["action"]["type"] == "order"]
    assert {o["action"]["orders"][0]["t"]["limit"]["tif"] for o in orders} == {"Alo"}
    assert all(o["order_latency_s"] < config.max_latency_s for o in m["orders"])
    # the key is nowhere: result, logs (which did capture the SDK's signed payloads), request bodies
    assert "signature" in caplog.text
    assert_no_key(json.dumps(result.to_dict()), repr(result), caplog.text, repr(config))
    assert_no_key(*(r.raw.decode() for r in server.requests))


def test_unknown_wallet_is_rejected_and_reported_without_the_key(exchange, caplog):
    server, book = exchange
    caplog.set_level(logging.DEBUG)
    stranger = eth_account.Account.from_key("0x" + "11" * 32)
    result = run_testnet_stage(TestnetConfig(base_url=server.url), environ=env(stranger.key.hex()))
    assert result.status is StageStatus.FAILED and result.score == pytest.approx(0.2 * 2 / 4)  # quick, none accepted
    assert all("does not exist" in r for r in result.reasons) and len(result.reasons) == 2
    assert book.placed == []
    secret = stranger.key.hex().removeprefix("0x")
    assert secret not in json.dumps(result.to_dict()) and secret not in caplog.text


@pytest.mark.parametrize("bad_key", ["0x1234", "not-a-key-" + KEY[:20], KEY[:-2] + "zz"])
def test_an_unusable_key_fails_without_echoing_it(exchange, bad_key):
    server, _ = exchange
    result = run_testnet_stage(TestnetConfig(base_url=server.url), environ=env(bad_key))
    assert result.status is StageStatus.FAILED and result.score == 0.0
    assert result.reasons == ["HYPERLIQUID_TESTNET_PRIVATE_KEY is not a valid private key (expected 32 bytes as hex)"]
    text = json.dumps(result.to_dict())
    assert bad_key not in text and bad_key.removeprefix("0x") not in text
    assert server.count() == 0


def test_post_only_order_that_would_cross_is_rejected(exchange):
    server, book = exchange
    book.book_mids["BTC"] = MIDS["BTC"] * 0.7  # the market fell through the bid since allMids was read
    result = run_testnet_stage(TestnetConfig(base_url=server.url), environ=env())
    assert result.status is StageStatus.FAILED
    (reason,) = result.reasons
    assert reason.startswith("BTC buy: order rejected: Post only order would have immediately matched")
    assert (result.metrics["accepted"], result.metrics["cancelled"]) == (1, 1)  # the ask still rested and was cancelled
    assert result.score == pytest.approx(0.4 * 0.5 + 0.4 * 0.5 + 0.2 * 3 / 4)
    assert book.open == {}


def test_cancel_that_finds_no_order_fails_the_stage(exchange):
    server, book = exchange
    book.forget_orders = True
    result = run_testnet_stage(TestnetConfig(base_url=server.url), environ=env())
    assert result.status is StageStatus.FAILED
    assert all("failed: Order was never placed, already canceled, or filled" in r for r in result.reasons)
    assert result.metrics["accepted"] == 2 and result.metrics["cancelled"] == 0
    assert result.score == pytest.approx(0.4 + 0.0 + 0.2)


def test_slow_and_failing_requests_are_reported(exchange):
    server, _ = exchange
    server.plan(Fault.slow(0.3, when=lambda r: r.path == "/exchange", times=1))
    slow = run_testnet_stage(TestnetConfig(base_url=server.url, max_latency_s=0.2), environ=env())
    assert slow.status is StageStatus.FAILED
    assert slow.reasons == [f"1 request(s) slower than 0.2 s (max {slow.metrics['max_latency_s']:.3f} s)"]
    assert slow.metrics["max_latency_s"] >= 0.3 and slow.score == pytest.approx(0.8 + 0.2 * 3 / 4)

    server.plan(Fault.http(500, "upstream exploded", when=lambda r: r.path == "/exchange", times=None))
    broken = run_testnet_stage(TestnetConfig(base_url=server.url), environ=env())
    assert broken.status is StageStatus.FAILED and broken.metrics["accepted"] == 0
    assert broken.reasons[0] == "BTC buy: order request failed: HTTP 500: upstream exploded"
    assert_no_key(json.dumps(broken.to_dict()))


def test_account_address_is_checked_and_recorded(exchange):
    server, _ = exchange
    main = "0x" + "ab" * 20
    ok = run_testnet_stage(TestnetConfig(base_url=server.url), environ=env(HYPERLIQUID_TESTNET_ACCOUNT=main))
    assert ok.status is StageStatus.PASSED and ok.metrics["account"] == main
    bad = run_testnet_stage(TestnetConfig(base_url=server.url), environ=env(HYPERLIQUID_TESTNET_ACCOUNT="bob"))
    assert bad.status is StageStatus.FAILED and "HYPERLIQUID_TESTNET_ACCOUNT" in bad.reasons[0]


def test_mainnet_is_refused_without_both_opt_ins():
    assert check_endpoint(TESTNET_API_URL) == TESTNET_API_URL
    assert check_endpoint(TESTNET_API_URL + "/") == TESTNET_API_URL
    assert check_endpoint("http://127.0.0.1:8123", environ={}) == "http://127.0.0.1:8123"
    for allow, environ in [(False, {}), (True, {}), (False, {ALLOW_MAINNET_ENV: "1"}), (True, {ALLOW_MAINNET_ENV: "yes"})]:
        with pytest.raises(UnsafeEndpointError, match="refusing to send orders to MAINNET"):
            check_endpoint(MAINNET_API_URL, allow, environ)
    assert check_endpoint(MAINNET_API_URL, True, {ALLOW_MAINNET_ENV: "1"}) == MAINNET_API_URL
    for url in ("https://api.hyperliquid.xyz.evil.example", "http://10.0.0.5:3001", "https://127.0.0.1:8123",
                "http://127.0.0.1", "http://127.0.0.1:8123/exchange"):  # fmt: skip
        with pytest.raises(UnsafeEndpointError, match="refusing unknown endpoint"):
            check_endpoint(url, True, {ALLOW_MAINNET_ENV: "1"})
    # the stage itself refuses before touching the key, and the error does not carry it
    with pytest.raises(UnsafeEndpointError) as caught:
        run_testnet_stage(TestnetConfig(base_url=MAINNET_API_URL), environ=env())
    assert_no_key(str(caught.value), repr(caught.value))


def test_prices_and_sizes_follow_the_exchange_rules():
    assert limit_price(51298.8, 5) == 51299.0  # 5 significant figures
    assert limit_price(2409.8123, 4) == 2409.8
    assert limit_price(0.123456789, 0) == 0.12346  # <= 6 - szDecimals decimals
    assert limit_price(0.0001234567, 2) == 0.0001  # 4 decimals for szDecimals 2
    assert order_size(12.0, 51299.0, 5) == 0.00024  # smallest lot worth >= $12
    assert order_size(12.0, 2409.8, 4) * 2409.8 >= 12.0
    assert order_size(12.0, 2409.8, 4) - 0.0001 < 12.0 / 2409.8
    with pytest.raises(ValueError, match="distance"):
        TestnetConfig(distance=0.9)
    with pytest.raises(ValueError, match="notional_usd"):
        TestnetConfig(notional_usd=5.0)
    with pytest.raises(ValueError, match="coins"):
        TestnetConfig(coins="BTC")


# --- the candidate's trading session against the local exchange -------------------------------------------
class JumpingClock:
    """Wall time compressed: sleeping jumps to the moment, and the local exchange's book moves to the market
    price at that moment (the open of the bar starting then), as the real testnet's would."""

    def __init__(self, start: pd.Timestamp, book: ExchangeReplay, bars: pd.DataFrame, coin: str = "BTC") -> None:
        self.moment, self.book, self.opens, self.coin = start, book, bars.set_index("timestamp")["open"], coin
        self.sleeps: list[pd.Timestamp] = []

    def now(self) -> pd.Timestamp:
        return self.moment

    def sleep_until(self, moment: pd.Timestamp) -> None:
        self.sleeps.append(moment)
        self.moment = max(self.moment, moment)
        price = float(self.opens[self.opens.index <= self.moment].iloc[-1])
        self.book.mids[self.coin] = self.book.book_mids[self.coin] = price


SESSION_START = pd.Timestamp("2024-04-10 09:20", tz="UTC")


@pytest.fixture
def market_exchange():
    """The replay server serving the synthetic market's BTC bars and funding, with a book that fills marketable
    orders half a basis point... five basis points beyond the mid."""
    from quant_organism.market.sources.synthetic import SyntheticSource

    source = SyntheticSource()
    bars = source.candles("BTC", "2024-02-01", "2024-04-12")
    with HyperliquidReplayServer(candle_cap=5000, funding_cap=5000) as server:
        server.add_candles("BTC", bars, "1h")
        server.add_funding("BTC", source.funding("BTC", "2024-02-01", "2024-04-12"))
        book = ExchangeReplay(server, {"BTC": float(bars["close"].iloc[-1])}, signers=[ACCOUNT.address])
        book.half_spread = 0.0005
        yield server, book, bars


def _always_in_market():
    from quant_organism.strategies import SeedGenes, SeedType, gene_space

    values = {name: spec.default for name, spec in gene_space(SeedType("ema_crossover")).items()}
    values.update(fast_period=3, slow_period=8, entry_threshold=0.0, position_size=1.0, stop_loss=0.0, take_profit=0.0)
    return SeedGenes.from_gene_values("ema_crossover", "ema_3_8", values)


def test_the_candidate_trades_its_own_orders_for_n_bars_against_its_backtest(market_exchange, caplog):
    server, book, bars = market_exchange
    caplog.set_level(logging.DEBUG)
    clock = JumpingClock(SESSION_START, book, bars)
    config = TestnetConfig(base_url=server.url, coins=("BTC",), session_bars=6, session_interval="1h", session_notional_usd=200.0)
    result = run_testnet_stage(config, environ=env(), genes=_always_in_market(), clock=clock)
    assert result.status is StageStatus.PASSED, result.reasons
    session = result.metrics["session"]
    # it waited for each bar to close (6 decisions, then one close to flatten) and read the exchange's bars
    assert [s.floor("h") for s in clock.sleeps] == list(pd.date_range("2024-04-10 10:00", periods=7, freq="h", tz="UTC"))
    assert session["orders"] and all(o["problem"] is None for o in session["orders"])
    assert len(book.fills) == len(session["orders"]) == session["fills"]
    assert session["open_units"] == 0.0  # flat at the end
    # the book filled 5 bps beyond the price right after each close: the backtest's fill is that bar's open
    assert all(abs(s - 5.0) < 0.01 for s in session["slippage_bps"])
    ioc = [
        r.body["action"]["orders"][0] for r in server.requests if r.path == "/exchange" and r.body["action"]["type"] == "order"
    ]
    assert {o["t"]["limit"]["tif"] for o in ioc} == {"Alo", "Ioc"}
    # P&L beside the backtest of the same bars: they differ by the fills' slippage and the exit's timing only
    assert len(session["traded_bars"]) == 7 and abs(session["return_gap"]) < 0.01
    assert_no_key(json.dumps(result.to_dict(), default=str), caplog.text)


def test_a_session_order_the_book_cannot_fill_fails_the_stage(market_exchange):
    server, book, bars = market_exchange
    book.half_spread = 0.05  # the book is 5% away: an IOC limited to 1% beyond the close cannot match
    clock = JumpingClock(SESSION_START, book, bars)
    config = TestnetConfig(base_url=server.url, coins=("BTC",), session_bars=2, session_notional_usd=200.0)
    result = run_testnet_stage(config, environ=env(), genes=_always_in_market(), clock=clock)
    assert result.status is StageStatus.FAILED
    assert any("not filled" in r and "could not immediately match" in r for r in result.reasons), result.reasons
    assert book.fills == []


@pytest.mark.timeout(600)
def test_validation_mode_full_runs_the_testnet_stage_end_to_end(data_dir, market_exchange, monkeypatch):
    """The evolution chain in mode `full` against the local exchange: the best candidate trades its own orders
    (time compressed by the jumping clock); without a key the run says that `full` ran as `fast`."""
    import dagster as dg

    from quant_organism.validation import testnet_session
    from quant_organism_tests.support.chain import ingest_coins, project_definitions

    server, book, bars = market_exchange
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
    monkeypatch.setattr(testnet_session, "WallClock", lambda: JumpingClock(SESSION_START, book, bars))
    definitions = project_definitions(data_dir)
    day = "2024-04-09"
    full = {"mode": "full", "alpha": 0.99, "min_trades": 1, "require_positive_walk_forward": False,
            "testnet_url": server.url, "testnet_session_bars": 4}  # fmt: skip
    run_config = {"ops": {"validation__validated_strategies": {"config": full},
                          # the seed these assertions were written on: its best candidate trades inside 4 session bars
                          "evolution__population": {"config": {"seed_per_date": False}}}}  # fmt: skip
    with dg.instance_for_test() as instance:
        ingest_coins(definitions, instance, ["BTC", "ETH"], "2024-02-09", day)
        monkeypatch.setenv(KEY_ENV, "0x" + KEY)
        result = definitions.resolve_job_def("evolve").execute_in_process(
            instance=instance, partition_key=day, run_config=run_config
        )
        assert result.success
        verdicts = json.loads((data_dir / "validation" / f"date={day}" / "verdicts.json").read_text())
        stages = [v["stages"]["testnet"] for v in verdicts["verdicts"]]
        traded = [s for s in stages if "session" in s["metrics"]]
        assert len(traded) == 1 and traded[0]["status"] == "passed", traded
        session = traded[0]["metrics"]["session"]
        assert session["fills"] == len(book.fills) >= 1 and session["open_units"] == 0.0
        assert all(s["status"] == "skipped" and "one candidate per session" in s["reasons"][0] for s in stages if s not in traded)
        assert verdicts["mode_note"] is None
        assert_no_key((data_dir / "validation" / f"date={day}" / "verdicts.json").read_text())

        monkeypatch.delenv(KEY_ENV)
        again = definitions.resolve_job_def("evolve").execute_in_process(
            instance=instance, partition_key=day, run_config=run_config
        )
        assert again.success
        note = json.loads((data_dir / "validation" / f"date={day}" / "verdicts.json").read_text())["mode_note"]
        assert note == "mode full ran as fast: the testnet stage was skipped (HYPERLIQUID_TESTNET_PRIVATE_KEY not set)"
