"""The exchange's order rules and answers, as the testnet stages speak them: prices and sizes Hyperliquid
accepts, and what an /exchange answer to an order or a cancel means."""

from __future__ import annotations

import math


def limit_price(price: float, sz_decimals: int) -> float:
    """A perp price the exchange accepts: 5 significant figures, at most 6 - szDecimals decimals."""
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"price must be positive and finite; got {price!r}")
    return round(float(f"{price:.5g}"), max(0, 6 - sz_decimals))


def order_size(notional_usd: float, price: float, sz_decimals: int) -> float:
    """The smallest size in the coin's lot (szDecimals) worth at least `notional_usd` at `price`."""
    lot = 10.0**-sz_decimals
    return round(math.ceil(notional_usd / price / lot - 1e-9) * lot, sz_decimals)


def order_outcome(answer) -> tuple[str, object]:
    """('resting', oid) | ('filled', info) | ('rejected', message) from an /exchange order answer."""
    if not isinstance(answer, dict):
        return "rejected", f"unexpected answer {str(answer)[:200]}"
    if answer.get("status") != "ok":
        return "rejected", answer.get("response", answer)
    try:
        first = answer["response"]["data"]["statuses"][0]
    except (KeyError, IndexError, TypeError):
        return "rejected", f"unexpected answer {str(answer)[:200]}"
    if isinstance(first, dict) and "resting" in first:
        return "resting", int(first["resting"]["oid"])
    if isinstance(first, dict) and "filled" in first:
        return "filled", first["filled"]
    if isinstance(first, dict) and "error" in first:
        return "rejected", first["error"]
    return "rejected", f"unexpected status {str(first)[:200]}"


def cancel_outcome(answer) -> tuple[bool, object]:
    """(True, None) when the exchange confirmed the cancel, else (False, its message)."""
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        return False, answer.get("response", answer) if isinstance(answer, dict) else answer
    try:
        first = answer["response"]["data"]["statuses"][0]
    except (KeyError, IndexError, TypeError):
        return False, f"unexpected answer {str(answer)[:200]}"
    if first == "success":
        return True, None
    return False, first.get("error", first) if isinstance(first, dict) else first
