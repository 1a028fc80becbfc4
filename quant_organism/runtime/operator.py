"""The operator's standing policy for the running paper book: risk mode, cooldown, confidence floor, allow and
deny lists, breaker limits.

Why: an operator must be able to steer the book without redeploying: halve sizes in a storm, halt (flatten
at the next bar, no entries), keep a coin or a strategy out. The policy is a small JSON file under the data
root (`paper/policy.json`), written atomically by `python -m quant_organism policy set ...`; a launchpad run
may override any field for that run. The paper asset turns it into the runtime's `RuntimePolicy` and
`RiskLimits` and records every change in the ledger (`policy_changes`: time, source, policy).
A corrupt file is reported with its path and left in place; the book is then not traded.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quant_organism.core.durable import atomic_write

from .policy import RiskMode, RuntimePolicy
from .risk import RiskLimits

POLICY_FILE = Path("paper") / "policy.json"  # under the data root
_DEFAULT_LIMITS = RiskLimits()


class PolicyFileError(ValueError):
    """The operator's policy file cannot be read; it is left in place for the operator to fix."""


class OperatorPolicy(BaseModel):
    """What an operator sets; every field's default is the neutral, backtest-identical book."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_mode: Literal["normal", "defensive", "halt"] = Field(
        "normal", description="normal; defensive: entry sizes halved; halt: flatten at the next bar, no entries"
    )
    cooldown_bars: int = Field(0, ge=0, description="bars after a book's last decision during which it opens nothing")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="entries below this confidence are skipped")
    allow_strategies: tuple[str, ...] | None = Field(None, description="only these strategies may hold positions")
    deny_strategies: tuple[str, ...] = Field((), description="these strategies are closed and kept flat")
    allow_coins: tuple[str, ...] | None = Field(None, description="positions only in these coins")
    deny_coins: tuple[str, ...] = Field((), description="these coins are closed and kept flat")
    max_drawdown: float | None = Field(
        _DEFAULT_LIMITS.max_drawdown, gt=0.0, lt=1.0, description="portfolio drawdown that trips the breaker (None: off)"
    )
    daily_loss: float | None = Field(
        _DEFAULT_LIMITS.daily_loss, gt=0.0, lt=1.0, description="loss within a UTC day that trips the breaker (None: off)"
    )
    max_asset_exposure: float | None = Field(
        _DEFAULT_LIMITS.max_asset_exposure, gt=0.0, le=1.0, description="combined exposure cap per coin (None: off)"
    )

    def runtime_policy(self) -> RuntimePolicy:
        """The runtime's policy: the backtest's neutral one with the operator's controls on top. Defensive halves
        entry sizes (and keeps the operator's confidence floor, not a stricter built-in one)."""
        return RuntimePolicy(
            scale_by_confidence=False,
            risk_mode=RiskMode(self.risk_mode),
            defensive_size_factor=0.5,
            defensive_min_confidence=self.min_confidence,
            min_confidence=self.min_confidence,
            cooldown_bars=self.cooldown_bars,
            allowed_strategies=None if self.allow_strategies is None else frozenset(self.allow_strategies),
            denied_strategies=frozenset(self.deny_strategies),
            allowed_coins=None if self.allow_coins is None else frozenset(self.allow_coins),
            denied_coins=frozenset(self.deny_coins),
        )

    def risk_limits(self, decay_size_factor: float = _DEFAULT_LIMITS.decay_size_factor) -> RiskLimits:
        return RiskLimits(
            max_drawdown=self.max_drawdown,
            daily_loss=self.daily_loss,
            max_asset_exposure=self.max_asset_exposure,
            decay_size_factor=decay_size_factor,
        )

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True)


class UnknownNameError(ValueError):
    """A coin or strategy in the operator's lists that the universe or the store does not hold."""


def resolve_names(policy: OperatorPolicy, coins: Collection[str], strategies: Collection[str]) -> OperatorPolicy:
    """The policy with its lists spelled as the universe (`coins`) and the strategy store (`strategies`) spell
    them, matched case-insensitively; UnknownNameError for a name neither holds. The runtime compares names
    exactly, so a typo would make an allow-list flatten the whole book and a deny-list deny nothing."""
    where = {
        "coin": f"not in the universe ({', '.join(coins) or 'empty'})",
        "strategy": f"not in the strategy store ({len(strategies)} strategies"
        + (f", e.g. {', '.join(sorted(strategies)[:3])})" if strategies else ")"),
    }
    changes, unknown = {}, []
    for field, known, what in (
        ("allow_coins", coins, "coin"),
        ("deny_coins", coins, "coin"),
        ("allow_strategies", strategies, "strategy"),
        ("deny_strategies", strategies, "strategy"),
    ):
        names = getattr(policy, field)
        if names is None:
            continue
        spelled = {name.casefold(): name for name in known}
        missing = [name for name in names if name.casefold() not in spelled]
        if missing:
            unknown.append(f"--{field.replace('_', '-')} {', '.join(missing)}: {what} {where[what]}")
        changes[field] = tuple(sorted({spelled.get(name.casefold(), name) for name in names}))
    if unknown:
        raise UnknownNameError("; ".join(unknown))
    return policy.model_copy(update=changes)


def load_policy(path: Path) -> tuple[OperatorPolicy, str]:
    """(the standing policy, who set it); the neutral default when the file does not exist."""
    if not path.exists():
        return OperatorPolicy(), "default"
    try:
        payload = json.loads(path.read_text())
        return OperatorPolicy.model_validate(payload["policy"]), str(payload.get("source", "unknown"))
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        raise PolicyFileError(
            f"operator policy {path} is unreadable ({str(exc).splitlines()[0]}); it is left in place: "
            f"fix it, or reset it with `python -m quant_organism policy reset`"
        ) from None


def save_policy(path: Path, policy: OperatorPolicy, source: str, when: str) -> None:
    """Write the standing policy atomically (a crash leaves the old file or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"policy": policy.model_dump(), "source": source, "set_at": when}
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2, sort_keys=True)))
