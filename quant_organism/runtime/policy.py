"""What the runtime is allowed to do with a strategy's signal: risk mode, confidence, allow-list, cooldown, sizing.

Policies only ever hold back or shrink entries; exits are never blocked (a strategy must always be
able to get out). With `RuntimePolicy.backtest_parity()` every policy is neutral and the runtime
trades exactly what the vectorised backtest trades, which the replay stage relies on.

Confidence (deterministic, causal, in [0, 1]): seeds emit discrete targets with no strength, so the
confidence of a decision measures how normal the market is around it rather than how strong the
signal is: the ratio of the baseline volatility to the recent volatility, capped at 1,

    confidence = min(1, std(log returns over the last `confidence_baseline` bars)
                        / std(log returns over the last `confidence_window` bars)).

It is 1 in a calm or ordinary market and falls as a volatility burst builds up (0.5 when recent
volatility runs at twice its baseline), the regime in which a strategy bred on ordinary bars is
least trustworthy. With fewer than `confidence_window` returns of history, or a flat recent market,
it is 1 (no evidence of an abnormal regime). It uses closes up to the decision bar only.
"""

from __future__ import annotations

import math
from datetime import timedelta
from enum import Enum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class RiskMode(str, Enum):
    NORMAL = "normal"
    DEFENSIVE = "defensive"  # smaller entries, higher confidence bar
    OFF = "off"  # no new entries; exits still follow the strategies
    HALT = "halt"  # every open position is closed at the next bar, and nothing opens

    def __str__(self) -> str:
        return self.value


class RuntimePolicy(BaseModel):
    """The runtime's typed policy. Frozen: swap it with `engine.policy = new_policy`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_mode: RiskMode = RiskMode.NORMAL
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="entries below this confidence are skipped")
    defensive_size_factor: float = Field(0.5, gt=0.0, le=1.0, description="entry sizes are multiplied by this")
    defensive_min_confidence: float = Field(0.6, ge=0.0, le=1.0, description="min confidence in defensive mode")
    allowed_strategies: frozenset[str] | None = Field(
        None, description="strategy names allowed to open positions (None = all); others are closed"
    )
    denied_strategies: frozenset[str] = Field(frozenset(), description="strategy names closed and kept flat")
    allowed_coins: frozenset[str] | None = Field(None, description="coins positions may be held in (None = all)")
    denied_coins: frozenset[str] = Field(frozenset(), description="coins closed and kept flat")
    cooldown_bars: int = Field(0, ge=0, description="bars after a book's last decision during which it opens nothing")
    cooldown: timedelta | None = Field(None, description="the same as a duration (both apply when both are set)")
    scale_by_confidence: bool = Field(True, description="entry size = position_size x confidence (else x 1)")
    confidence_window: int = Field(24, ge=2, description="bars of recent volatility")
    confidence_baseline: int = Field(168, ge=2, description="bars of baseline volatility")

    @model_validator(mode="after")
    def _windows(self) -> RuntimePolicy:
        if self.confidence_baseline < self.confidence_window:
            raise ValueError(
                f"confidence_baseline ({self.confidence_baseline}) must be >= confidence_window ({self.confidence_window})"
            )
        if self.cooldown is not None and self.cooldown < timedelta(0):
            raise ValueError(f"cooldown must not be negative, got {self.cooldown}")
        return self

    @classmethod
    def backtest_parity(cls) -> RuntimePolicy:
        """Neutral policies: full-size entries, no gates; trades what the vectorised backtest trades."""
        return cls(scale_by_confidence=False)

    def effective_min_confidence(self) -> float:
        if self.risk_mode is RiskMode.DEFENSIVE:
            return max(self.min_confidence, self.defensive_min_confidence)
        return self.min_confidence

    def size_factor(self, confidence: float) -> float:
        """Multiplier in (0, 1] on the strategy's position_size gene for an entry at this confidence."""
        factor = confidence if self.scale_by_confidence else 1.0
        if self.risk_mode is RiskMode.DEFENSIVE:
            factor *= self.defensive_size_factor
        return factor

    def allows(self, strategy: str, coin: str | None = None) -> bool:
        """Whether the allow and deny lists let `strategy` hold a position (in `coin`, when given)."""
        if strategy in self.denied_strategies or (
            self.allowed_strategies is not None and strategy not in self.allowed_strategies
        ):
            return False
        if coin is None:
            return True
        return coin not in self.denied_coins and (self.allowed_coins is None or coin in self.allowed_coins)

    def departures_from_backtest(self) -> list[str]:
        """How this policy makes the runtime trade differently from the vectorised backtest (empty: it does not):
        the fields that differ from `backtest_parity()`, as `name=value`."""
        neutral = RuntimePolicy.backtest_parity()
        if (
            self.risk_mode is RiskMode.NORMAL
            and self.min_confidence == 0.0
            and self.cooldown_bars == 0
            and self.cooldown is None
            and not self.scale_by_confidence
            and self.allowed_strategies is None
            and not self.denied_strategies
            and self.allowed_coins is None
            and not self.denied_coins
        ):
            return []
        mine, base = self.model_dump(), neutral.model_dump()
        return [f"{name}={_plain(mine[name])}" for name in mine if mine[name] != base[name]]


def _plain(value) -> str:
    if isinstance(value, frozenset):
        return ",".join(sorted(value)) or "none"
    return str(value.value if isinstance(value, Enum) else value)


def volatility_confidence(close: np.ndarray, end: int, window: int, baseline: int) -> float:
    """The module docstring's confidence at bar `end` (a position in `close`), from close[: end + 1] only."""
    lo = max(0, end - baseline)
    closes = close[lo : end + 1]
    if len(closes) <= window:
        return 1.0
    returns = np.diff(np.log(closes))
    recent = _std(returns[-window:])
    if recent <= 0.0:
        return 1.0
    return float(min(1.0, _std(returns) / recent))


def _std(x: np.ndarray) -> float:
    """`float(np.std(x))` of a 1-D float array, by numpy's own steps (mean, squared deviations, their mean, root)
    without its dispatch: the replay decides at every signal change, and `np.std` was half of each decision."""
    deviations = x - np.add.reduce(x) / len(x)
    return math.sqrt(np.add.reduce(deviations * deviations) / len(x))
