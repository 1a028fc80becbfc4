"""Trading costs of a perpetual-futures venue, and which fee each kind of fill pays.

Fee rule (explicit, applied by the engine):
- target changes fill as market orders at the next bar's open: taker fee + slippage against the trader;
- stop-loss exits are stop-market orders: taker fee + slippage, at the stop price (or the open if the
  bar gapped through it);
- take-profit exits are resting limit orders by default: maker fee and no slippage, at the target
  price (or the open, the better price, if the bar gapped through it). With
  `take_profit_order="market"` they pay taker fee + slippage like a stop.
Defaults are Hyperliquid's base tier: taker 0.05%, maker 0.02%, plus 0.05% slippage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAX_RATE = 0.1  # a fee or slippage of 10% or more is certainly a unit mistake (percent vs fraction)


@dataclass(frozen=True)
class CostModel:
    """Fees and slippage as fractions of traded notional (0.0005 = 0.05%)."""

    taker_fee: float = 0.0005
    maker_fee: float = 0.0002
    slippage: float = 0.0005
    take_profit_order: Literal["limit", "market"] = "limit"

    def __post_init__(self) -> None:
        for name in ("taker_fee", "maker_fee", "slippage"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) < MAX_RATE:
                raise ValueError(f"CostModel.{name} must be a fraction in [0, {MAX_RATE}); got {value!r}")
        if self.take_profit_order not in ("limit", "market"):
            raise ValueError(f"CostModel.take_profit_order must be 'limit' or 'market'; got {self.take_profit_order!r}")

    @classmethod
    def free(cls) -> "CostModel":
        """No fees and no slippage (for comparisons and tests)."""
        return cls(taker_fee=0.0, maker_fee=0.0, slippage=0.0)
