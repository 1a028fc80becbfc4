"""The kernel's fill (`kernel._fill_nb`) is vectorbt's order execution for its one case, bit for bit.

vectorbt stays the reference: each random account and order goes through vectorbt's own
`execute_order_nb` (a market order sized in units, both directions, no fixed fees) and through the kernel's
fill, and the cash, the position, the units filled, the price and the fee must be identical, as must the
decision not to fill. The states include the edges where vectorbt's tolerances act: cash a rounding
error from zero, orders that just exhaust the cash, orders the cash cannot pay, tiny sizes, and the
negative cash funding can leave on a long.
"""

from __future__ import annotations

import numpy as np
from vectorbt.portfolio.enums import Direction, OrderStatus, ProcessOrderState, SizeType
from vectorbt.portfolio.enums import order_dt as vectorbt_order_dt
from vectorbt.portfolio.nb import execute_order_nb, order_nb

from quant_organism.backtest.compiled import kernel


def _vectorbt_fill(cash, position, units, price, fee, slippage):
    deficit = cash if cash < 0.0 else 0.0
    state = ProcessOrderState(cash - deficit, position, 0.0, cash - deficit, price, cash + position * price, 0, 0)
    order = order_nb(size=units, price=price, size_type=SizeType.Amount, direction=Direction.Both, fees=fee, slippage=slippage)
    new, res = execute_order_nb(state, order)
    if res.status != OrderStatus.Filled:
        return cash, position, 0.0, np.nan, 0.0
    signed = res.size if res.side == 0 else -res.size
    return new.cash + deficit, new.position, signed, res.price, res.fees


def _cases(rng, n):
    for _ in range(n):
        price = float(rng.choice([1e-4, 0.37, 101.5, 65_000.0]) * rng.uniform(0.5, 2.0))
        fee = float(rng.choice([0.0, 0.00035, 0.0002, 0.01]))
        slippage = float(rng.choice([0.0, 0.0005, 0.003]))
        cash = float(rng.choice([0.0, 1e-13, -3e-13, 10_000.0, 2.5, -40.0]) * (1 if rng.random() < 0.5 else rng.uniform(0.1, 3)))
        position = float(rng.choice([0.0, 1e-13, 1.0, -1.0, 0.3]) * rng.uniform(0.1, 5) * (10_000.0 / price))
        kind = rng.integers(0, 6)
        if kind == 0:  # spend all the cash exactly, fee and slippage included
            units = abs(cash) / (price * (1 + slippage) * (1 + fee)) if cash else 1.0
        elif kind == 1:  # more than the cash pays for
            units = (abs(cash) + 100.0) / price * rng.uniform(1.0, 3.0)
        elif kind == 2:  # close the position
            units = -position
        elif kind == 3:  # rounding-error sizes
            units = float(rng.choice([1e-13, -1e-13, 0.0]))
        else:
            units = float(rng.normal(0, 2) * 10_000.0 / price)
        yield cash, position, units, price, fee, slippage


def test_the_kernels_fill_is_vectorbts_execution_bit_for_bit():
    rng = np.random.default_rng(2024)
    filled = refused = 0
    for case in _cases(rng, 4_000):
        ours = kernel._fill_nb(*case)
        theirs = _vectorbt_fill(*case)
        assert np.array_equal(np.array(ours), np.array(theirs), equal_nan=True), (case, ours, theirs)
        filled += ours[2] != 0.0
        refused += ours[2] == 0.0
    assert filled > 1_500 and refused > 200  # both outcomes were exercised


def test_order_records_keep_vectorbts_layout():
    assert kernel.order_dt == vectorbt_order_dt
