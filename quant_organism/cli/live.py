"""`python -m quant_organism live`: the long-running process an operator starts beside the nightly automation.

It trades the deployment in force live: the exchange's trades arrive through the SDK's websocket
(market/live_feed.py), every closed bar goes through the paper engine into `live/ledger.duckdb`, stops act within
the bar, and the book's value at risk scales its exposure (runtime/live_session.py). With `--mirror` it also
keeps the capital book on the exchange (deployment/exchange_book.py): only with a key in
HYPERLIQUID_TESTNET_PRIVATE_KEY, only on the testnet or a local server, and on mainnet only with both
`--allow-mainnet` and QUANT_ORGANISM_ALLOW_MAINNET=1 (the testnet stage's opt-ins). Without `--mirror` no
order is ever sent.

Its state is in `live/` under the data root: `health.json` (the feed), `state.json` (the book), `alerts.jsonl`,
`intrabar_fills.jsonl`, `var.jsonl` and `orders.jsonl`. Dagster's `live_feed_health` sensor and the dashboard
read them. `live --kill` (or `k`, `y` in the dashboard) writes `live/KILL`: the process flattens the exchange
book and stops, and refuses to start again until `live --clear-kill`.
"""

from __future__ import annotations

import argparse

from quant_organism import settings
from quant_organism.reporting.dashboard_data import KILL_FILE, request_kill


def add_parser(sub) -> None:
    parser = sub.add_parser("live", help="trade the deployment live: websocket feed, intrabar stops, VaR; --mirror for orders")
    parser.add_argument("--url", help="Hyperliquid API URL (default QUANT_ORGANISM_HYPERLIQUID_URL, else mainnet)")
    parser.add_argument("--ws-url", help="the websocket's base URL, when it is not --url's (the SDK appends /ws)")
    parser.add_argument("--var-limit", type=float, default=0.05,
                        help="the book's one-day 99%% VaR limit, a fraction of equity (default 0.05, the daily-loss breaker's)")  # fmt: skip
    parser.add_argument("--history-days", type=int, default=400, help="days of bars read from REST before going live")
    parser.add_argument("--mirror", action="store_true", help="also hold the capital book on the exchange (see the opt-ins)")
    parser.add_argument("--allow-mainnet", action="store_true", help="with QUANT_ORGANISM_ALLOW_MAINNET=1: mirror on mainnet")
    parser.add_argument("--capital-ratio", type=float, default=1.0, help="exchange units per paper unit when mirroring")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: until stopped)")
    parser.add_argument("--kill", action="store_true", help="ask the running live process to flatten and stop")
    parser.add_argument("--clear-kill", action="store_true", help="clear a kill request so the process may start again")
    parser.set_defaults(handler=_live)


def _live(args: argparse.Namespace) -> int:
    root = settings.data_dir()
    kill = root / KILL_FILE
    if args.kill:
        print(f"kill requested: {request_kill(root, 'command line')}")
        return 0
    if args.clear_kill:
        kill.unlink(missing_ok=True)
        print("kill request cleared")
        return 0
    if kill.exists():
        print(
            f"the kill switch is set ({kill}: {kill.read_text()[:200]}); clear it with `python -m quant_organism live --clear-kill`"
        )
        return 3
    from quant_organism.cli.live_process import LiveProcess  # the SDK and the engine load only for the process

    try:
        process = LiveProcess.build(root, args)
    except (ValueError, RuntimeError) as exc:
        print(f"live: {exc}")
        return 2
    return process.run(args.seconds)
