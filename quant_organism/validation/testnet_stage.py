"""Stage 3, testnet: can the execution path place and cancel real orders, and what do the candidate's own
orders cost when they really trade?

With HYPERLIQUID_TESTNET_PRIVATE_KEY set, the stage uses the Hyperliquid SDK (`Exchange`):
1. connectivity: per coin, one post-only (ALO) bid below and one ALO ask above the mid, `distance` away so
   they rest and never fill, each worth a little more than the exchange's $10 minimum, then cancelled;
   scored on orders accepted, cancels confirmed and request latency;
2. with a candidate (`genes`): its trading session (testnet_session.py): its own orders for `session_bars`
   bars of the exchange's market, fills, slippage and P&L against the backtest of the same bars.
Without the key the stage is SKIPPED (never passed), and validation says that `full` ran as `fast`.

Safety rules, strict:
- the endpoint must be the testnet URL, or a local `http://127.0.0.1:PORT` / `http://localhost:PORT`
  (tests' replay server); mainnet is refused unless BOTH `allow_mainnet=True` is configured AND the
  environment says QUANT_ORGANISM_ALLOW_MAINNET=1; any other URL is refused;
- the private key is read from the environment at run time only; it is held in a local variable and
  the SDK's wallet object, never in this module's config, results, logs or error texts (every error
  text is scrubbed of it as a second line of defence, and key-parsing errors are replaced wholesale).

Score in [0, 1] = 0.4 * accepted/planned + 0.4 * cancelled/planned + 0.2 * (requests within the
latency budget)/(requests planned). The stage passes only when every order rested, every cancel was
confirmed and every request met the latency budget.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from hyperliquid.utils.constants import MAINNET_API_URL, TESTNET_API_URL

from quant_organism.validation.exchange_orders import cancel_outcome, limit_price, order_outcome, order_size
from quant_organism.validation.stage_result import StageResult, StageStatus

STAGE = "testnet"
KEY_ENV = "HYPERLIQUID_TESTNET_PRIVATE_KEY"
ACCOUNT_ENV = "HYPERLIQUID_TESTNET_ACCOUNT"
ALLOW_MAINNET_ENV = "QUANT_ORGANISM_ALLOW_MAINNET"
ENVIRONMENT_NAMES = (KEY_ENV, ACCOUNT_ENV, ALLOW_MAINNET_ENV)  # what the entry layer passes in as `environ`
MIN_ORDER_USD = 10.0  # the exchange rejects orders worth less
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_LOCAL_HOSTS = ("127.0.0.1", "localhost")
log = logging.getLogger(__name__)


class UnsafeEndpointError(ValueError):
    """The configured endpoint is not one this stage may send orders to."""


@dataclass(frozen=True)
class TestnetConfig:
    """Where and what to trade. Holds no secret: the key comes from the environment at run time."""

    __test__ = False  # not a pytest test class despite the name

    base_url: str = TESTNET_API_URL
    coins: tuple[str, ...] = ("BTC",)
    distance: float = 0.2  # fraction of the mid between the mid and each resting order
    notional_usd: float = 12.0
    max_latency_s: float = 2.0
    timeout_s: float = 10.0
    allow_mainnet: bool = False
    session_bars: int = 3  # bars the candidate trades (wall time: session_bars x session_interval)
    session_interval: str = "1h"
    session_notional_usd: float = 50.0

    def __post_init__(self) -> None:
        if isinstance(self.coins, str) or not self.coins or not all(isinstance(c, str) and c for c in self.coins):
            raise ValueError(f"TestnetConfig.coins must be a non-empty tuple of coin names; got {self.coins!r}")
        if not 0.0 < self.distance < 0.8:  # the exchange refuses prices more than 80% from the reference
            raise ValueError(f"TestnetConfig.distance must be in (0, 0.8); got {self.distance!r}")
        if not MIN_ORDER_USD <= self.notional_usd <= 1000.0:
            raise ValueError(f"TestnetConfig.notional_usd must be in [{MIN_ORDER_USD}, 1000]; got {self.notional_usd!r}")
        for name in ("max_latency_s", "timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TestnetConfig.{name} must be > 0; got {getattr(self, name)!r}")


def check_endpoint(base_url: str, allow_mainnet: bool = False, environ: Mapping[str, str] | None = None) -> str:
    """The endpoint if orders may go there; UnsafeEndpointError otherwise (see the module rules). `environ`: the
    caller's credentials environment (`testnet_environment` of the entry layer); None is an empty one."""
    environ = {} if environ is None else environ
    url = str(base_url).rstrip("/")
    if url == TESTNET_API_URL:
        return url
    if url == MAINNET_API_URL:
        if allow_mainnet and environ.get(ALLOW_MAINNET_ENV) == "1":
            return url
        raise UnsafeEndpointError(
            f"refusing to send orders to MAINNET ({url}): the testnet stage needs both allow_mainnet=True "
            f"and {ALLOW_MAINNET_ENV}=1"
        )
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS and parts.port and parts.path in ("", "/"):
        return url
    raise UnsafeEndpointError(
        f"refusing unknown endpoint {url!r}: use the testnet ({TESTNET_API_URL}) or a local http://127.0.0.1:PORT"
    )


def network_of(url: str) -> str:
    return "mainnet" if url == MAINNET_API_URL else "testnet" if url == TESTNET_API_URL else "local"


def run_testnet_stage(
    config: TestnetConfig = TestnetConfig(), *, environ: Mapping[str, str] | None = None, genes=None, clock=None
) -> StageResult:
    """Place and cancel small far-from-mid post-only orders, then (with `genes`) trade the candidate's own orders
    for `config.session_bars` bars; SKIPPED when no key is configured. `environ`: the credentials the Dagster layer
    or the CLI read (ENVIRONMENT_NAMES); the domain never reads the process environment itself."""
    environ = {} if environ is None else environ
    url = check_endpoint(config.base_url, config.allow_mainnet, environ)
    key = (environ.get(KEY_ENV) or "").strip()
    if not key:
        return StageResult(STAGE, StageStatus.SKIPPED, None, {"base_url": url}, [f"{KEY_ENV} not set"])
    metrics: dict = {"base_url": url, "network": network_of(url), "coins": list(config.coins)}
    try:
        wallet = _wallet(key)
    except ValueError as exc:
        return _failed(metrics, [str(exc)])
    account = (environ.get(ACCOUNT_ENV) or "").strip() or None
    if account is not None and not _ADDRESS.match(account):
        return _failed(metrics, [f"{ACCOUNT_ENV} must be a 0x-prefixed 40-hex-digit address"])
    metrics.update(signer=wallet.address, account=account or wallet.address)
    try:
        return _trade(wallet, url, account, config, metrics, key, genes, clock)
    except Exception as exc:  # noqa: BLE001 - any SDK/network failure is a failed stage, scrubbed
        return _failed(metrics, [f"testnet session failed: {_describe(exc, key)}"])


def _wallet(key: str):
    """The LocalAccount for `key`; an unusable key raises a ValueError that does not quote it."""
    import eth_account

    try:
        return eth_account.Account.from_key(key)
    except Exception:  # noqa: BLE001 - the library's message may echo the key: replace it
        pass
    raise ValueError(f"{KEY_ENV} is not a valid private key (expected 32 bytes as hex)")


def _trade(wallet, url: str, account: str | None, config: TestnetConfig, metrics: dict, key: str, genes, clock) -> StageResult:
    from hyperliquid.exchange import Exchange

    exchange = Exchange(wallet, url, account_address=account, timeout=config.timeout_s)
    try:
        result = _trade_with(exchange, url, config, metrics, key)
        if genes is None or result.status is not StageStatus.PASSED:
            return result
        return _with_session(result, exchange, genes, config, clock, key)
    finally:
        exchange.session.close()
        exchange.info.session.close()


def _trade_with(exchange, url: str, config: TestnetConfig, metrics: dict, key: str) -> StageResult:
    mids = exchange.info.all_mids()
    orders, reasons = [], []
    for coin in config.coins:
        if coin not in mids or coin not in exchange.info.name_to_coin:
            reasons.append(f"{coin}: not listed on {network_of(url)} (no mid price)")
            continue
        mid = float(mids[coin])
        sz_decimals = exchange.info.asset_to_sz_decimals[exchange.info.name_to_asset(coin)]
        for is_buy in (True, False):
            record = _round_trip(exchange, coin, is_buy, mid, sz_decimals, config, key)
            orders.append(record)
            reasons += record.pop("problems")
    planned = 2 * len(config.coins)
    accepted = sum(o["status"] == "resting" for o in orders)
    cancelled = sum(o["cancel"] == "success" for o in orders)
    latencies = [o[k] for o in orders for k in ("order_latency_s", "cancel_latency_s") if o.get(k) is not None]
    timely = sum(lat <= config.max_latency_s for lat in latencies)
    slow = len(latencies) - timely
    if slow:
        reasons.append(f"{slow} request(s) slower than {config.max_latency_s:g} s (max {max(latencies):.3f} s)")
    score = 0.4 * accepted / planned + 0.4 * cancelled / planned + 0.2 * timely / (2 * planned)
    metrics.update(
        orders=orders,
        planned=planned,
        accepted=accepted,
        rejected=sum(o["status"] in ("rejected", "error") for o in orders),
        cancelled=cancelled,
        median_latency_s=statistics.median(latencies) if latencies else None,
        max_latency_s=max(latencies) if latencies else None,
        latency_budget_s=config.max_latency_s,
    )
    status = StageStatus.PASSED if not reasons else StageStatus.FAILED
    log.info("testnet stage on %s: %d/%d accepted, %d cancelled", network_of(url), accepted, planned, cancelled)
    return StageResult(STAGE, status, float(min(1.0, max(0.0, score))), metrics, [_scrub(r, key) for r in reasons])


def _round_trip(exchange, coin: str, is_buy: bool, mid: float, sz_decimals: int, config, key: str) -> dict:
    """Place one ALO order `distance` from the mid, then cancel it if it rests."""
    side = "buy" if is_buy else "sell"
    px = limit_price(mid * (1 - config.distance if is_buy else 1 + config.distance), sz_decimals)
    sz = order_size(config.notional_usd, px, sz_decimals)
    record = {"coin": coin, "side": side, "px": px, "sz": sz, "status": None, "oid": None,
              "order_latency_s": None, "cancel": None, "cancel_latency_s": None, "error": None, "problems": []}  # fmt: skip
    started = time.perf_counter()
    try:
        answer = exchange.order(coin, is_buy, sz, px, {"limit": {"tif": "Alo"}})
    except Exception as exc:  # noqa: BLE001
        return _request_failed(record, f"{coin} {side}: order", _describe(exc, key), status="error")
    record["order_latency_s"] = time.perf_counter() - started
    status, detail = order_outcome(answer)
    record["status"] = status
    if status == "resting":
        record["oid"] = detail
    elif status == "filled":  # far from the mid this should be impossible: say so loudly
        record["problems"].append(f"{coin} {side}: order filled (expected to rest {config.distance:.0%} from the mid)")
        return record
    else:
        record["error"] = _scrub(str(detail), key)
        record["problems"].append(f"{coin} {side}: order rejected: {record['error']}")
        return record
    started = time.perf_counter()
    try:
        answer = exchange.cancel(coin, record["oid"])
    except Exception as exc:  # noqa: BLE001
        return _request_failed(record, f"{coin} {side}: cancel", _describe(exc, key), cancel="error")
    record["cancel_latency_s"] = time.perf_counter() - started
    ok, detail = cancel_outcome(answer)
    record["cancel"] = "success" if ok else "error"
    if not ok:
        record["error"] = _scrub(str(detail), key)
        record["problems"].append(f"{coin} {side}: cancel of order {record['oid']} failed: {record['error']}")
    return record


def _request_failed(record: dict, what: str, error: str, **status: str) -> dict:
    record.update(status, error=error)
    record["problems"].append(f"{what} request failed: {error}")
    return record


def _with_session(connected: StageResult, exchange, genes, config: TestnetConfig, clock, key: str) -> StageResult:
    """The connectivity result extended by the candidate's trading session (its problems fail the stage)."""
    from quant_organism.validation.testnet_session import SessionConfig, WallClock, trade_session

    session_config = SessionConfig(coin=config.coins[0], interval=config.session_interval, bars=config.session_bars,
                                   notional_usd=config.session_notional_usd)  # fmt: skip
    session = trade_session(exchange, genes, session_config, clock or WallClock())
    metrics = {**connected.metrics, "session": session, "candidate": genes.seed_id}
    problems = [_scrub(p, key) for p in session["problems"]]
    if not session["orders"] and not problems:
        metrics["session_note"] = (f"{genes.seed_id} sent no order in {config.session_bars} bar(s): its execution was "
                                   "not exercised beyond the connectivity check")  # fmt: skip
    log.info(
        "testnet session of %s: %d order(s), %s fill(s), median slippage %s bps",
        genes.seed_id,
        len(session["orders"]),
        session.get("fills"),
        session.get("median_slippage_bps"),
    )
    if problems:
        return StageResult(STAGE, StageStatus.FAILED, 0.5 * (connected.score or 0.0), metrics, problems)
    return StageResult(STAGE, StageStatus.PASSED, connected.score, metrics, [])


def _failed(metrics: dict, reasons: list[str]) -> StageResult:
    return StageResult(STAGE, StageStatus.FAILED, 0.0, metrics, reasons)


def _describe(exc: BaseException, key: str) -> str:
    """A short error text without the key (the SDK's errors keep details in attributes, not str())."""
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "error_message", None) or getattr(exc, "message", None)
    text = f"HTTP {status}: {message}" if status is not None else f"{type(exc).__name__}: {exc}"
    return _scrub(text[:300], key)


def _scrub(text: str, key: str) -> str:
    """Remove the key (with or without 0x) from a text, whatever happened upstream."""
    bare = key[2:] if key.lower().startswith("0x") else key
    for secret in {key, bare}:
        if len(secret) >= 8:
            text = re.sub(re.escape(secret), "<redacted>", text, flags=re.IGNORECASE)
    return text
