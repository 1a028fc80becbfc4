"""What the runtime engine emits: a `TradeDecision` per position change, and the signals it held back."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum

import pandas as pd


class Side(str, Enum):
    """The order a decision asks for at the next open."""

    BUY = "buy"  # go long (from flat, or reversing a short)
    SELL = "sell"  # go short (from flat, or reversing a long)
    CLOSE = "close"  # the strategy's own exit to flat
    FLAT = "flat"  # an exit to flat forced by policy (strategy no longer in the allow-list)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TradeDecision:
    """One decision, taken at the close of the bar labelled `timestamp`, to be filled at the next bar's open.

    - `size`: the target exposure after the fill as a fraction of the runtime's total capital:
      sleeve x position_size x policy factor, where sleeve = the strategy's allocation / its coins, so
      size <= allocation x position_size; 0 for close/flat. The book spends size / sleeve of its own
      equity on the entry (notional plus fee).
    - `notional`: that entry's quote value estimated at the decision close (book equity x size / sleeve).
    - `entry_price`, `take_profit`, `stop_loss`: indicative, from the decision close; the live levels
      are set from the actual fill price, as in the backtest. None where the gene is 0 or on exits.
    - `confidence`: see policy.py (volatility regime, in [0, 1]).
    - `target`/`previous`: the position direction after / before, in {-1, 0, 1}.
    """

    strategy_id: str
    coin: str
    side: Side
    confidence: float
    size: float
    notional: float
    entry_price: float
    take_profit: float | None
    stop_loss: float | None
    timestamp: pd.Timestamp
    target: int
    previous: int
    reason: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"decision {self.strategy_id}/{self.coin}: confidence {self.confidence} outside [0, 1]")
        if not (math.isfinite(self.size) and self.size >= 0.0):
            raise ValueError(f"decision {self.strategy_id}/{self.coin}: size must be finite and >= 0, got {self.size}")
        if self.target not in (-1, 0, 1) or self.previous not in (-1, 0, 1) or self.target == self.previous:
            raise ValueError(f"decision {self.strategy_id}/{self.coin}: {self.previous} -> {self.target} is no change")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["side"] = self.side.value
        return out


@dataclass(frozen=True)
class SkippedSignal:
    """An entry the policies held back at a bar's close, and which rule did."""

    strategy_id: str
    coin: str
    timestamp: pd.Timestamp
    wanted: int
    confidence: float
    rule: str  # "risk_off" | "min_confidence" | "cooldown" | "not_allowed"
    reason: str
