"""`python -m quant_organism policy show|set|reset`: the operator's standing policy for the paper book.

The policy file (`<data root>/paper/policy.json`) is written atomically and every change is recorded in the
paper ledger (`policy_changes`) with its time and source; the next paper run (the hourly paper book's automation, or the
day's roll-up) trades under it. A launchpad run can override any field for that run only
(resource `operator_policy`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

import pandas as pd
from pydantic import ValidationError

from quant_organism import settings
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.cli.launch import in_flags_words
from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger
from quant_organism.runtime.operator import POLICY_FILE, OperatorPolicy, PolicyFileError, load_policy, resolve_names, save_policy

LIMITS = ("max_drawdown", "daily_loss", "max_asset_exposure")


def add_parser(sub) -> None:
    parser = sub.add_parser("policy", help="show or change the operator's policy for the paper book (risk mode, lists, breakers)")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("show", help="the standing policy and its recorded changes").set_defaults(handler=_show)
    change = actions.add_parser("set", help="change some fields of the standing policy (the others are kept)")
    change.add_argument(
        "--risk-mode",
        choices=["normal", "defensive", "halt"],
        help="defensive: entry sizes halved; halt: every position closed at the next bar, no entries",
    )
    change.add_argument("--cooldown-bars", type=int, help="bars after a book's decision during which it opens nothing")
    change.add_argument("--min-confidence", type=float, help="entries below this confidence (0..1) are skipped")
    for what in ("strategies", "coins"):
        change.add_argument(
            f"--allow-{what}", metavar="A,B|all", help=f"only these {what} may hold positions (all: no allow-list)"
        )
        change.add_argument(f"--deny-{what}", metavar="A,B|none", help=f"these {what} are closed and kept flat (none: clear)")
    for name, what in (
        ("max-drawdown", "portfolio drawdown"),
        ("daily-loss", "loss within a UTC day"),
        ("max-asset-exposure", "combined exposure per coin"),
    ):
        change.add_argument(f"--{name}", metavar="X|off", help=f"{what} limit as a fraction (off: no limit)")
    change.set_defaults(handler=_set)
    actions.add_parser("reset", help="back to the neutral default policy").set_defaults(handler=_reset)


def _paths():
    root = settings.data_dir()
    return root / POLICY_FILE, root / LEDGER_FILE


def _show(args: argparse.Namespace) -> int:
    path, ledger_path = _paths()
    try:
        policy, source = load_policy(path)
    except PolicyFileError as exc:
        print(f"quant_organism: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"policy": policy.model_dump(), "source": source, "file": str(path)}, indent=2))
    if ledger_path.exists():
        changes = PaperLedger(ledger_path).policy_changes()
        print(f"{len(changes)} change(s) recorded in {ledger_path}" + (":" if len(changes) else ""))
        for row in changes.tail(10).itertuples(index=False):
            print(f"  {row.changed_at:%Y-%m-%d %H:%M:%S} UTC  {row.source}: {row.policy}")
    return 0


def _names(raw: str | None, clear_word: str) -> tuple[str, ...] | None | bool:
    """A comma list; False for the word that clears the field; None when the flag was not given."""
    if raw is None:
        return None
    if raw.strip().lower() == clear_word:
        return False
    return tuple(sorted({part.strip() for part in raw.split(",") if part.strip()}))


def _limit(raw: str | None) -> float | None | bool:
    """A fraction (`0.15`) or a percentage (`15%`); False for `off`; None when the flag was not given."""
    if raw is None:
        return None
    text = raw.strip().lower()
    if text == "off":
        return False
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"{raw!r} is not a limit: give a fraction (0.15), a percentage (15%) or off") from None


def _stated(exc: Exception) -> str:
    """A refusal in the flags' words: pydantic's errors as `--field: what is wrong`, without its help links."""
    if isinstance(exc, ValidationError):
        return in_flags_words(
            exc,
            lambda field: f"--{field.replace('_', '-')}",
            lambda field: " (limits are fractions: 0.15 is 15%)" if field in LIMITS else "",
        )
    return str(exc).strip()


def _set(args: argparse.Namespace) -> int:
    path, _ = _paths()
    try:
        standing, _ = load_policy(path)
        changes = {"risk_mode": args.risk_mode, "cooldown_bars": args.cooldown_bars, "min_confidence": args.min_confidence}
        cleared = {"allow_strategies": None, "allow_coins": None, "deny_strategies": (), "deny_coins": (),
                   "max_drawdown": None, "daily_loss": None, "max_asset_exposure": None}  # fmt: skip
        values = {
            "allow_strategies": _names(args.allow_strategies, "all"), "deny_strategies": _names(args.deny_strategies, "none"),
            "allow_coins": _names(args.allow_coins, "all"), "deny_coins": _names(args.deny_coins, "none"),
            "max_drawdown": _limit(args.max_drawdown), "daily_loss": _limit(args.daily_loss),
            "max_asset_exposure": _limit(args.max_asset_exposure),
        }  # fmt: skip
        merged = standing.model_dump()
        merged.update({k: v for k, v in changes.items() if v is not None})
        merged.update({k: (cleared[k] if v is False else v) for k, v in values.items() if v is not None})
        policy = resolve_names(
            OperatorPolicy.model_validate(merged), settings.coins(), StrategyStore(settings.data_dir() / STORE_DIR).known_names()
        )
    except (PolicyFileError, ValueError) as exc:
        print(f"quant_organism: policy not changed: {_stated(exc)}", file=sys.stderr)
        return 2
    return _write(policy)


def _reset(args: argparse.Namespace) -> int:
    return _write(OperatorPolicy())


def _write(policy: OperatorPolicy) -> int:
    path, ledger_path = _paths()
    now = pd.Timestamp.now(tz="UTC")
    source = f"cli ({getpass.getuser()})"
    save_policy(path, policy, source, now.isoformat())
    recorded = PaperLedger(ledger_path).record_policy(policy.to_json(), source, now)
    print(json.dumps(policy.model_dump(), indent=2))
    print(
        f"saved to {path}; {'recorded in' if recorded else 'unchanged in'} the ledger {ledger_path}. "
        "The next paper run trades under it (the hourly paper book: within the hour)."
    )
    return 0
