"""The paper books' bar arithmetic, compiled: the one implementation that live steps, replays and runs share.

A book's state is two rows, `f` (floats) and `i` (ints), of the engine's state tables; the field positions are
the constants below and book.py's `BookState` reads and writes them by name. Absent values are NaN (floats)
and `NAT` (ints: times in int64 nanoseconds, bar counters, the pending order's direction).

`advance` walks bar times for every book of an engine, in the order book.py's docstring states per bar
(funding, the fill of the order decided at the previous close, stops, the mark), and applies the
stay-flat-after-a-stop rule to each book's target at the close. It stops after the first bar time at which
some book must decide (its target differs from its position, or the operator's policy has a say), so that the
engine's Python policy code decides there and queues the orders; quiet bars never leave compiled code.
Fills, closed trades and marks go to event tables the engine turns into records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from quant_organism.backtest.compiled import exit_rule
from quant_organism.backtest.compiled.exit_rule import STOP as EXIT_STOP
from quant_organism.backtest.compiled.exit_rule import TAKE as EXIT_TAKE
from quant_organism.backtest.compiled.exit_rule import exit_at
from quant_organism.core.numba_cache import drop_stale_cache

NAT = np.iinfo(np.int64).min  # an absent int field (pandas' NaT is this value too)
NO_ORDER = NAT

# float fields
CASH, UNITS, ENTRY_PRICE, ENTRY_EQUITY, STOP, TAKE, TRADE_FEES, TRADE_FUNDING = 0, 1, 2, 3, 4, 5, 6, 7
PENDING_FRACTION, EQUITY, LAST_CLOSE, INITIAL_CASH, BAR_FEES, BAR_FUNDING, STOP_LOSS, TAKE_PROFIT = 8, 9, 10, 11, 12, 13, 14, 15
N_FLOAT = 16
# int fields
DIRECTION, BLOCKED, BANKRUPT, ENTRY_BAR, ENTRY_TIME, PENDING_DIRECTION, PENDING_AT, BARS = 0, 1, 2, 3, 4, 5, 6, 7
LAST_TIME, LAST_DECISION_BAR, LAST_DECISION_TIME, SEQ = 8, 9, 10, 11
N_INT = 12

# event codes
SIGNAL, STOP_LOSS_EXIT, TAKE_PROFIT_EXIT, BANKRUPT_EXIT = 0, 1, 2, 3
REASONS = ("signal", "stop_loss", "take_profit", "bankrupt")
# fill rows (ints): book, tape position, seq, sell, exit, reason, maker; (floats): units, price, fee
# trade rows (ints): book, entry time, tape position of the exit, direction, reason;
#   (floats): size, entry price, exit price, fees, funding, pnl, ret
# mark rows (ints): book, tape position, direction, bar time; (floats): units, entry price, stop, take profit, cash,
#   close, equity, pnl, fees, funding
FILL_INTS, FILL_FLOATS, TRADE_INTS, TRADE_FLOATS, MARK_INTS, MARK_FLOATS = 7, 3, 5, 7, 4, 10
# decisions asked of the engine at the bar `advance` stopped after
NO_DECISION, DECIDE, NEEDS_TARGET = 0, 1, 2

_REL_TOL, _ABS_TOL = 1e-9, 1e-12  # vectorbt's tolerances for "this fill exactly spends the cash"


@njit(cache=True)
def _close(a, b):  # pragma: no cover - numba
    return a == b or abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


@njit(cache=True)
def _add(a, b):  # pragma: no cover - numba
    """a + b, snapped to 0 when the two cancel up to rounding (as vectorbt does for cash and units)."""
    if _close(abs(a), abs(b)) and (a > 0) != (b > 0):
        return 0.0
    return a + b


@njit(cache=True)
def blocked_target(i, wanted):  # pragma: no cover - numba
    """The target after the stay-flat-after-a-stop rule (clears the block once the target moves on)."""
    if i[BLOCKED] != 0:
        if wanted == i[BLOCKED]:
            return 0
        i[BLOCKED] = 0
    return wanted


@njit(cache=True)
def _execute(f, units, price, fee, slip, out):  # pragma: no cover - numba
    """Fill `units` (signed) at `price` with vectorbt's arithmetic: out = (units filled, fill price, fee);
    False when nothing could fill."""
    deficit = f[CASH] if f[CASH] < 0.0 else 0.0  # funding can push a full long's cash below 0
    cash = f[CASH] - deficit
    if units > 0.0:
        adj = price * (1.0 + slip)
        if cash == 0.0:
            return False
        req = units * adj
        total = req + req * fee
        if _close(total, cash) or total < cash:
            size, paid, spent = units, req * fee, total
        else:  # not enough cash: buy what the cash pays for, fee included
            budget = cash / (1.0 + fee)
            size, paid, spent = budget / adj, cash - budget, cash
        f[CASH] = _add(cash, -spent) + deficit
        f[UNITS] = _add(f[UNITS], size)
    elif units < 0.0:
        adj = price * (1.0 - slip)
        size = -units
        received = size * adj
        paid = received * fee
        f[CASH] = cash + _add(received, -paid) + deficit
        f[UNITS] = _add(f[UNITS], -size)
    else:
        return False
    f[BAR_FEES] += paid
    out[0], out[1], out[2] = size, adj, paid
    return True


@njit(cache=True)
def _fill(f, i, book, pos, units, price, fee, is_exit, reason, maker, fi, ff, n):  # pragma: no cover - numba
    i[SEQ] += 1
    buy = (not is_exit) == (i[DIRECTION] > 0)
    r = n[1]
    fi[r, 0], fi[r, 1], fi[r, 2], fi[r, 3] = book, pos, i[SEQ], 0 if buy else 1
    fi[r, 4], fi[r, 5], fi[r, 6] = 1 if is_exit else 0, reason, 1 if maker else 0
    ff[r, 0], ff[r, 1], ff[r, 2] = units, price, fee
    n[1] = r + 1


@njit(cache=True)
def _trade(f, i, book, pos, units, exit_price, pnl, reason, ti, tf, n):  # pragma: no cover - numba
    r = n[2]
    ti[r, 0], ti[r, 1], ti[r, 2], ti[r, 3], ti[r, 4] = book, i[ENTRY_TIME], pos, i[DIRECTION], reason
    tf[r, 0], tf[r, 1], tf[r, 2] = abs(units), f[ENTRY_PRICE], exit_price
    tf[r, 3], tf[r, 4], tf[r, 5] = f[TRADE_FEES], f[TRADE_FUNDING], pnl
    tf[r, 6] = pnl / f[ENTRY_EQUITY] if f[ENTRY_EQUITY] > 0.0 else 0.0
    n[2] = r + 1


@njit(cache=True)
def _exit(f, i, book, pos, price, reason, costs, fi, ff, ti, tf, n, scratch):  # pragma: no cover - numba
    maker = reason == TAKE_PROFIT_EXIT and costs[3] != 0.0
    fee = costs[1] if maker else costs[0]
    slip = 0.0 if maker else costs[2]
    units_before = f[UNITS]
    filled = _execute(f, -f[UNITS], price, fee, slip, scratch)
    if filled:
        size, fill_price, paid = scratch[0], scratch[1], scratch[2]
    else:
        size, fill_price, paid = 0.0, np.nan, 0.0
    f[TRADE_FEES] += paid
    if filled:
        _fill(f, i, book, pos, size, fill_price, paid, True, reason, maker, fi, ff, n)
    _trade(f, i, book, pos, units_before, fill_price, f[CASH] - f[ENTRY_EQUITY], reason, ti, tf, n)
    i[DIRECTION] = 0
    if f[UNITS] != 0.0:  # the cover could not be paid in full: the account is exhausted
        i[BANKRUPT] = 1
        f[UNITS] = 0.0
        f[CASH] = 0.0


@njit(cache=True)
def _enter(f, i, book, pos, time, direction, fraction, open_, costs, fi, ff, n, scratch):  # pragma: no cover - numba
    slip, fee = costs[2], costs[0]
    ref = open_ * (1.0 + slip) if direction > 0 else open_ * (1.0 - slip)
    units = direction * fraction * f[CASH] / (ref * (1.0 + fee))
    entry_equity = f[CASH]
    if not _execute(f, units, open_, fee, slip, scratch):
        return
    size, price, paid = scratch[0], scratch[1], scratch[2]
    i[DIRECTION] = direction
    i[ENTRY_BAR], i[ENTRY_TIME] = i[BARS], time
    f[ENTRY_PRICE], f[ENTRY_EQUITY] = price, entry_equity
    f[TRADE_FEES], f[TRADE_FUNDING] = paid, 0.0
    sl, tp = f[STOP_LOSS], f[TAKE_PROFIT]
    if direction > 0:
        f[STOP] = price * (1.0 - sl) if sl > 0.0 else np.nan
        f[TAKE] = price * (1.0 + tp) if tp > 0.0 else np.nan
    else:
        f[STOP] = price * (1.0 + sl) if sl > 0.0 else np.nan
        f[TAKE] = price * (1.0 - tp) if tp > 0.0 else np.nan
    _fill(f, i, book, pos, size, price, paid, False, SIGNAL, False, fi, ff, n)


@njit(cache=True)
def _check_levels(f, i, book, pos, open_, high, low, costs, fi, ff, ti, tf, n, scratch):  # pragma: no cover - numba
    price, which = exit_at(i[DIRECTION], open_, high, low, f[STOP], f[TAKE])  # the backtest's rule (exit_rule.py)
    reason = STOP_LOSS_EXIT if which == EXIT_STOP else TAKE_PROFIT_EXIT if which == EXIT_TAKE else -1
    if reason >= 0:
        blocked = i[DIRECTION]
        _exit(f, i, book, pos, price, reason, costs, fi, ff, ti, tf, n, scratch)
        i[BLOCKED] = blocked


@njit(cache=True)
def book_bar(
    f, i, book, pos, time, open_, high, low, close, funding_rate, costs, fi, ff, ti, tf, mi, mf, n, scratch
):  # pragma: no cover - numba
    """One bar of one book: funding, the pending order's fill, stops, then the mark at the close (book.py)."""
    i[BARS] += 1
    i[LAST_TIME] = time
    f[BAR_FEES] = 0.0
    f[BAR_FUNDING] = 0.0
    i[SEQ] = 0
    if i[DIRECTION] != 0 and funding_rate != 0.0:
        pay = funding_rate * f[UNITS] * open_
        f[CASH] -= pay
        f[TRADE_FUNDING] += pay
        f[BAR_FUNDING] += pay
    direction = i[PENDING_DIRECTION]
    i[PENDING_DIRECTION] = NO_ORDER
    if direction != NO_ORDER and i[BANKRUPT] == 0 and direction != i[DIRECTION]:
        if i[DIRECTION] != 0:
            _exit(f, i, book, pos, open_, SIGNAL, costs, fi, ff, ti, tf, n, scratch)
        if direction != 0 and i[BANKRUPT] == 0 and f[CASH] > 0.0:
            _enter(f, i, book, pos, time, direction, f[PENDING_FRACTION], open_, costs, fi, ff, n, scratch)
    if i[DIRECTION] != 0 and i[ENTRY_BAR] < i[BARS]:
        _check_levels(f, i, book, pos, open_, high, low, costs, fi, ff, ti, tf, n, scratch)
    # the close: mark; an exhausted account is liquidated and never trades again
    equity = f[CASH] + f[UNITS] * close
    if equity <= 0.0 and i[BANKRUPT] == 0:
        if i[DIRECTION] != 0:
            _trade(f, i, book, pos, f[UNITS], close, -f[ENTRY_EQUITY], BANKRUPT_EXIT, ti, tf, n)
        i[BANKRUPT] = 1
        i[DIRECTION] = 0
        f[UNITS] = 0.0
        f[CASH] = 0.0
        equity = 0.0
        i[PENDING_DIRECTION] = NO_ORDER
    pnl = equity - f[EQUITY]
    f[EQUITY] = equity
    f[LAST_CLOSE] = close
    r = n[0]
    mi[r, 0], mi[r, 1], mi[r, 2], mi[r, 3] = book, pos, i[DIRECTION], time
    held = i[DIRECTION] != 0
    mf[r, 0] = f[UNITS]
    mf[r, 1] = f[ENTRY_PRICE] if held else np.nan
    mf[r, 2] = f[STOP] if held else np.nan
    mf[r, 3] = f[TAKE] if held else np.nan
    mf[r, 4], mf[r, 5], mf[r, 6], mf[r, 7], mf[r, 8], mf[r, 9] = f[CASH], close, equity, pnl, f[BAR_FEES], f[BAR_FUNDING]
    n[0] = r + 1


@njit(cache=True)
def advance(
    floats, ints, book_coin, coin_start, opens, highs, lows, closes, funding, nanos, at, targets, target_start,
    policy_has_say, costs, k, stop_every_bar, fi, ff, ti, tf, mi, mf, n, need, wanted,
):  # pragma: no cover - numba  # fmt: skip
    """Bar times k, k+1, ... for every book (its state: rows b of `floats` and `ints`); returns the next bar time
    to process.

    Book b trades coin book_coin[b], whose bars sit at coin_start[c] + position in the concatenated tapes;
    at[c, k] is coin c's position of bar time k (-1: no such bar). targets[target_start[b] + position] is
    book b's precomputed target (target_start[b] < 0: the engine reads it, so every marked bar asks).
    Stops after a bar time at which need[b] != NO_DECISION for some book (wanted[b]: its target after the
    stop rule), after every bar time with `stop_every_bar`, at the end, or before the event tables could
    overflow (counts in n: marks, fills, trades)."""
    n_books = floats.shape[0]
    n_times = at.shape[1]
    scratch = np.empty(3)
    while k < n_times:
        if n[0] + n_books > mi.shape[0] or n[1] + 3 * n_books > fi.shape[0] or n[2] + 2 * n_books > ti.shape[0]:
            return k
        asked = False
        for b in range(n_books):
            need[b] = NO_DECISION
            c = book_coin[b]
            pos = at[c, k]
            if pos < 0:
                continue
            g = coin_start[c] + pos
            time = nanos[g]
            f, i = floats[b], ints[b]
            if i[LAST_TIME] != NAT and time <= i[LAST_TIME]:
                continue  # a bar this book has already processed
            book_bar(
                f, i, b, pos, time, opens[g], highs[g], lows[g], closes[g], funding[g], costs, fi, ff, ti, tf, mi, mf, n, scratch
            )
            if i[BANKRUPT] != 0:
                continue
            if target_start[b] < 0:
                need[b] = NEEDS_TARGET
                asked = True
                continue
            target = blocked_target(i, np.int64(targets[target_start[b] + pos]))
            wanted[b] = target
            if target != i[DIRECTION] or (policy_has_say[b] and (i[DIRECTION] != 0 or target != 0)):
                need[b] = DECIDE
                asked = True
        k += 1
        if asked or stop_every_bar:
            return k
    return k


drop_stale_cache(Path(advance.stats.cache_path), [Path(__file__), Path(exit_rule.__file__)], Path(__file__).stem)
