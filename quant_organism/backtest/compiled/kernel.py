"""The compiled core: one pass per column that simulates a perpetual-futures account and measures it.

Fills follow vectorbt's order arithmetic (`vectorbt.portfolio.nb.execute_order_nb` for a market order sized
in units, both directions, no fixed fees: slippage, fees, cuts to the cash available and vectorbt's
tolerances), written out in `_fill_nb` for that one case and checked against vectorbt's executor on random
states (test_backtest_fill.py). Calling vectorbt's own executor meant importing vectorbt in every process
that backtests, about 190 MB of RSS and 2 s per process (its package imports plotting and pandas
accessors), for a function of 40 lines. What this kernel adds is what `Portfolio.from_signals` cannot
express in one call: the project's execution convention (simulate.py states it), intrabar stops that stay
flat until the target changes, funding cash flows, and metrics computed on the fly from the column's
equity path instead of through vectorbt's pandas stats layer. Orders are recorded in vectorbt's
`order_dt` layout, so `BacktestResult.to_vectorbt` hands them to vectorbt unchanged.

All numba code of the backtest lives in this one module on purpose, but for the performance figures, which
are core/metrics.py's (the package's one convention): numba's on-disk cache (`cache=True`) only notices
edits to the file that holds a function, so this module stamps its cache with both sources
(core/numba_cache.py) and a changed metric kernel module can never leave a stale kernel build behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from quant_organism.backtest.compiled import exit_rule
from quant_organism.backtest.compiled.exit_rule import STOP, TAKE, exit_at
from quant_organism.core.compiled import metric_kernels
from quant_organism.core.compiled.metric_kernels import path_end_nb, path_figures_nb, path_hold_nb, path_start_nb, path_step_nb
from quant_organism.core.numba_cache import drop_stale_cache

# Metric slots of the output matrix (metric_table.py names them).
M_TOTAL_RETURN = 0
M_SHARPE = 1
M_SORTINO = 2
M_MAX_DRAWDOWN = 3
M_WIN_RATE = 4
M_TRADE_COUNT = 5
M_TURNOVER = 6
M_EXPOSURE = 7
M_PROFIT_FACTOR = 8
M_CONSISTENCY = 9
M_FEES = 10
M_FUNDING = 11
N_METRICS = 12

# Why a trade ended (trade records' exit_reason).
EXIT_OPEN = 0  # still open at the last bar, marked to the last close
EXIT_SIGNAL = 1
EXIT_STOP_LOSS = 2
EXIT_TAKE_PROFIT = 3
EXIT_BANKRUPT = 4

trade_dt = np.dtype(
    [
        ("col", np.int64),
        ("entry_idx", np.int64),
        ("exit_idx", np.int64),
        ("direction", np.int64),
        ("size", np.float64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("fees", np.float64),
        ("funding", np.float64),
        ("pnl", np.float64),
        ("ret", np.float64),
        ("exit_reason", np.int64),
    ],
    align=True,
)


REL_TOL, ABS_TOL = 1e-9, 1e-12  # vectorbt's tolerances (vectorbt.utils.math_)

order_dt = np.dtype(
    [
        ("id", np.int64),
        ("col", np.int64),
        ("idx", np.int64),
        ("size", np.float64),
        ("price", np.float64),
        ("fees", np.float64),
        ("side", np.int64),
    ],
    align=True,
)  # vectorbt.portfolio.enums.order_dt; side 0 = buy, 1 = sell


@njit(cache=True)
def _close_nb(a, b):
    """vectorbt's is_close_nb: equal up to REL_TOL relative or ABS_TOL absolute; never for NaN or inf."""
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@njit(cache=True)
def _add_nb(a, b):
    """vectorbt's add_nb: a + b, exactly 0 when the two cancel up to its tolerances."""
    if np.sign(a) != np.sign(b):
        zero = _close_nb(abs(a), abs(b))
    else:
        zero = _close_nb(a + b, 0.0)
    return 0.0 if zero else a + b


@njit(cache=True)
def _fill_nb(cash, position, units, price, fee, slippage):
    """Trade `units` (signed) at `price`; returns (cash, position, units filled, fill price, fee paid).

    vectorbt's arithmetic for this order (module docstring): a buy costs units * price * (1 + slippage)
    plus the fee on that, and is cut to what the cash pays for, fee included; a sell receives units *
    price * (1 - slippage) less the fee. An order vectorbt would not fill leaves the account unchanged
    and fills nothing (NaN price). Funding can leave a fully invested long with negative cash, on which
    vectorbt refuses to act: the deficit is set aside for the fill and restored after. Only buys consult
    cash, and those either open a long from flat (cash = equity > 0) or cover a short (cash holds the
    sale proceeds), so setting the deficit aside never lets an order through that the account could not pay.
    """
    deficit = cash if cash < 0.0 else 0.0
    c = cash - deficit
    if _close_nb(c, 0.0):
        c = 0.0
    p = position
    if _close_nb(p, 0.0):
        p = 0.0
    if np.isnan(units) or np.isnan(price):
        return cash, position, 0.0, np.nan, 0.0
    if units > 0.0:
        adj = price * (1.0 + slippage)
        if c == 0.0:
            return cash, position, 0.0, np.nan, 0.0
        req = units * adj
        paid = req * fee + 0.0
        spent = req + paid
        size = units
        if not (_close_nb(spent, c) or spent < c):  # not enough cash: buy what it pays for, fee included
            budget = _add_nb(c, -0.0) / (1.0 + fee)
            if budget <= 0.0:
                return cash, position, 0.0, np.nan, 0.0
            size = budget / adj
            paid = c - budget
            spent = c
        if _close_nb(units, 0.0):
            return cash, position, 0.0, np.nan, 0.0
        return _add_nb(c, -spent) + deficit, _add_nb(p, size), size, adj, paid
    size = -units
    adj = price * (1.0 - slippage)
    if _close_nb(size, 0.0):
        return cash, position, 0.0, np.nan, 0.0
    received = size * adj
    paid = received * fee + 0.0
    net = _add_nb(received, -paid)
    if net < 0.0:
        return cash, position, 0.0, np.nan, 0.0
    return c + net + deficit, _add_nb(p, -size), -size, adj, paid


@njit(cache=True)
def equity_metrics_nb(equity, init_cash, exposure_bars, period_ids, n_periods, ann_factor, out):
    """Return-based metrics of one equity path (marked at each bar's close) into `out`.

    The figures are core/metrics.py's, under its convention (Sharpe, Sortino and drawdown from `init_cash`,
    annualised by sqrt(bars per year) like vectorbt's returns accessor; consistency over `period_ids`);
    exposure is the share of bars closing in a position.
    """
    _figures_into(path_figures_nb(equity, init_cash, period_ids, n_periods, ann_factor), exposure_bars, equity.shape[0], out)


@njit(cache=True, inline="always")
def _figures_into(figures, exposure_bars, n, out):
    """The path figures (`path_end_nb`'s tuple) and the exposure (the share of n bars closing in a position) into a
    metrics row."""
    total, sharpe, sortino, max_dd, consistency = figures
    out[M_TOTAL_RETURN] = total
    out[M_SHARPE] = sharpe
    out[M_SORTINO] = sortino
    out[M_MAX_DRAWDOWN] = max_dd
    out[M_CONSISTENCY] = consistency
    out[M_EXPOSURE] = exposure_bars / n if n > 0 else 0.0


@njit(cache=True)
def simulate_nb(
    open_,
    high,
    low,
    close,
    funding,
    targets,
    stop_loss,
    take_profit,
    position_size,
    taker_fee,
    maker_fee,
    slippage,
    take_profit_is_limit,
    init_cash,
    period_ids,
    n_periods,
    ann_factor,
    detail,
    equity_out,
    position_out,
    order_records,
    trade_records,
):
    """Simulate every column of `targets` (int8, bars x columns, best Fortran-ordered) and measure it.

    Returns (metrics[columns, N_METRICS], n_orders, n_trades). With `detail`, also fills the per-bar
    equity/position matrices, vectorbt order records and trade records (sized by the caller: up to
    2 orders per bar and 1 trade per bar per column).
    """
    n, m = targets.shape
    metrics = np.full((m, N_METRICS), np.nan)
    oidx = 0
    tidx = 0
    for col in range(m):
        oidx, tidx = simulate_column_nb(
            open_, high, low, close, funding, targets[:, col], col, stop_loss[col], take_profit[col],
            position_size[col], taker_fee, maker_fee, slippage, take_profit_is_limit, init_cash, period_ids,
            n_periods, ann_factor, detail, equity_out, position_out, order_records, trade_records,
            oidx, tidx, metrics[col],
        )  # fmt: skip
    return metrics, oidx, tidx


@njit(cache=True)
def simulate_column_nb(
    open_,
    high,
    low,
    close,
    funding,
    target,
    col,
    sl,
    tp,
    frac,
    taker_fee,
    maker_fee,
    slippage,
    take_profit_is_limit,
    init_cash,
    period_ids,
    n_periods,
    ann_factor,
    detail,
    equity_out,
    position_out,
    order_records,
    trade_records,
    oidx,
    tidx,
    row,
):
    """One column: simulate the int8 `target` path (bars) and write its metrics into `row`.

    The column's fused callers (fused.py) and `simulate_nb` share this one body, so both run the same
    arithmetic. Each bar's mark goes straight into the path figures' running state (`path_step_nb`, compiled in),
    and a flat stretch's unchanged marks in one step (`path_hold_nb`, exact because `period_ids` never decrease:
    `Market`'s come from sorted bars): the path is never stored to be read again. The second pass over it was 6
    of the 14 ms of `bench backtest`'s simulations; they take 11 ms now. Returns the next free (order, trade)
    record slots.
    """
    n = target.shape[0]
    figures = path_start_nb(init_cash, period_ids[0] if n > 0 else 0)
    cash = init_cash
    pos = 0.0
    direction = 0
    blocked = 0
    bankrupt = False
    entry_idx = -1
    entry_price = np.nan
    entry_equity = init_cash
    sl_price = np.nan
    tp_price = np.nan
    trade_fees = 0.0
    trade_funding = 0.0
    n_trades = 0
    n_wins = 0
    gross_profit = 0.0
    gross_loss = 0.0
    turnover = 0.0
    bars_in = 0
    fees_total = 0.0
    funding_total = 0.0
    i = 0
    while i < n:
        # 0. A flat stretch (no position, and no order to fill: the target stays flat or in the direction a stop
        #    closed, the account is closed, or this is the first bar) has no funding, fill or stop to book: its
        #    bars are marked here in one tight loop, with the very arithmetic of steps 2 and 4. Most bars of most
        #    genomes are flat.
        j = i
        if direction == 0:
            mark = figures[0]  # the last bar's mark: a flat account's marks repeat it
            while j < n:
                ordering = j > 0 and not bankrupt
                want = target[j - 1] if ordering else 0
                if want != 0 and want != blocked:
                    break  # an order to fill: steps 1-4
                eq = cash + pos * close[j]
                if eq <= 0.0 and not bankrupt:
                    break  # step 4 closes the account on this bar
                if eq != mark:
                    break  # a mark that moves (the first bar) is taken by step 4
                if ordering and want == 0:
                    blocked = 0  # a flat target re-arms after a stop (step 2)
                if detail:
                    equity_out[j, col] = eq
                    position_out[j, col] = pos
                j += 1
            if j > i:
                figures = path_hold_nb(figures, period_ids[j - 1])  # the stretch's unchanged marks, in one step
        # 0b. A held stretch (a position entered before this bar, a target that keeps it, no stop level touched, a
        #     solvent account) books only funding and the mark: a tight loop with the very arithmetic of steps 1 and
        #     4. The first bar that needs more (an order, a stop, an exhausted account) is left to steps 1-4, from
        #     the state before it. A position is held on about a quarter of the bars of `bench backtest`'s genomes.
        #     (Each stretch writes its detail rows itself: through a helper, even one numba inlines, the simulation
        #     ran 4x slower, 2026-11-28.)
        elif blocked == 0 and not bankrupt:
            while j < n and entry_idx < j and target[j - 1] == direction:
                o = open_[j]
                if direction > 0:
                    if o <= sl_price or o >= tp_price or low[j] <= sl_price or high[j] >= tp_price:
                        break
                elif o >= sl_price or o <= tp_price or high[j] >= sl_price or low[j] <= tp_price:
                    break
                rate = funding[j]
                pay = rate * pos * o
                held = cash - pay if rate != 0.0 else cash
                eq = held + pos * close[j]
                if eq <= 0.0:
                    break
                if rate != 0.0:
                    cash = held
                    trade_funding += pay
                    funding_total += pay
                figures = path_step_nb(figures, eq, period_ids[j])
                bars_in += 1
                if detail:
                    equity_out[j, col] = eq
                    position_out[j, col] = pos
                j += 1
        if j > i:
            i = j
            continue
        o = open_[i]
        # 1. Funding stamped at this bar's open, on the position carried into it.
        if direction != 0:
            rate = funding[i]
            if rate != 0.0:
                pay = rate * pos * o
                cash -= pay
                trade_funding += pay
                funding_total += pay
        # 2. The target decided at the previous close, filled at this open (taker, slippage).
        if i > 0 and not bankrupt:
            want = target[i - 1]
            if blocked != 0:
                if want == blocked:
                    want = 0
                else:
                    blocked = 0
            if want != direction:
                if direction != 0:
                    cash, pos, fees, share, pnl, oidx, tidx = _exit_nb(
                        cash, pos, o, taker_fee, slippage, entry_equity, detail, order_records, trade_records,
                        oidx, tidx, col, i, entry_idx, direction, entry_price, trade_fees, trade_funding,
                        EXIT_SIGNAL,
                    )  # fmt: skip
                    turnover += share
                    fees_total += fees
                    trade_fees += fees
                    n_trades, n_wins, gross_profit, gross_loss = _tally_nb(pnl, n_trades, n_wins, gross_profit, gross_loss)
                    direction = 0
                    if pos != 0.0:  # cover could not be paid in full: the account is exhausted
                        bankrupt = True
                        pos = 0.0
                        cash = 0.0
                if want != 0 and not bankrupt and cash > 0.0:
                    fill_ref = o * (1.0 + slippage) if want > 0 else o * (1.0 - slippage)
                    units = want * frac * cash / (fill_ref * (1.0 + taker_fee))
                    entry_equity = cash
                    cash, pos, filled, price, fees = _fill_nb(cash, pos, units, o, taker_fee, slippage)
                    if filled != 0.0:
                        turnover += abs(filled * price) / entry_equity
                        fees_total += fees
                        direction = want
                        entry_idx = i
                        entry_price = price
                        trade_fees = fees
                        trade_funding = 0.0
                        # Levels at +-inf never trigger, which spares NaN tests in the bar loop.
                        if want > 0:
                            sl_price = price * (1.0 - sl) if sl > 0.0 else -np.inf
                            tp_price = price * (1.0 + tp) if tp > 0.0 else np.inf
                        else:
                            sl_price = price * (1.0 + sl) if sl > 0.0 else np.inf
                            tp_price = price * (1.0 - tp) if tp > 0.0 else -np.inf
                        if detail:
                            _record_order(order_records, oidx, col, i, filled, price, fees)
                            oidx += 1
        # 3. Stops from the bar after the entry bar: gap through at the open, else intrabar, stop first.
        if direction != 0 and entry_idx < i:
            exit_price, which = exit_at(direction, o, high[i], low[i], sl_price, tp_price)
            reason = EXIT_STOP_LOSS if which == STOP else EXIT_TAKE_PROFIT if which == TAKE else 0
            if reason != 0:
                if reason == EXIT_TAKE_PROFIT and take_profit_is_limit:
                    fee, slip = maker_fee, 0.0
                else:
                    fee, slip = taker_fee, slippage
                cash, pos, fees, share, pnl, oidx, tidx = _exit_nb(
                    cash, pos, exit_price, fee, slip, entry_equity, detail, order_records, trade_records, oidx,
                    tidx, col, i, entry_idx, direction, entry_price, trade_fees, trade_funding, reason,
                )  # fmt: skip
                turnover += share
                fees_total += fees
                trade_fees += fees
                n_trades, n_wins, gross_profit, gross_loss = _tally_nb(pnl, n_trades, n_wins, gross_profit, gross_loss)
                blocked = direction
                direction = 0
                if pos != 0.0:
                    bankrupt = True
                    pos = 0.0
                    cash = 0.0
        # 4. Mark to the close; an exhausted account is liquidated and stops trading.
        eq = cash + pos * close[i]
        if eq <= 0.0 and not bankrupt:
            if direction != 0:
                pnl = -entry_equity
                n_trades, n_wins, gross_profit, gross_loss = _tally_nb(pnl, n_trades, n_wins, gross_profit, gross_loss)
                if detail:
                    _record_trade(
                        trade_records,
                        tidx,
                        col,
                        entry_idx,
                        i,
                        direction,
                        pos,
                        entry_price,
                        close[i],
                        trade_fees,
                        trade_funding,
                        pnl,
                        entry_equity,
                        EXIT_BANKRUPT,
                    )
                    tidx += 1
            bankrupt = True
            direction = 0
            pos = 0.0
            cash = 0.0
            eq = 0.0
        figures = path_step_nb(figures, eq, period_ids[i])
        if direction != 0:
            bars_in += 1
        if detail:
            equity_out[i, col] = eq
            position_out[i, col] = pos
        i += 1
    # A trade still open at the end counts, marked to the last close without an exit fee.
    if direction != 0 and n > 0:
        pnl = figures[0] - entry_equity  # the last mark
        n_trades, n_wins, gross_profit, gross_loss = _tally_nb(pnl, n_trades, n_wins, gross_profit, gross_loss)
        if detail:
            _record_trade(
                trade_records,
                tidx,
                col,
                entry_idx,
                n - 1,
                direction,
                pos,
                entry_price,
                close[n - 1],
                trade_fees,
                trade_funding,
                pnl,
                entry_equity,
                EXIT_OPEN,
            )
            tidx += 1
    _figures_into(path_end_nb(figures, n, init_cash, n_periods, ann_factor), bars_in, n, row)
    row[M_TRADE_COUNT] = n_trades
    if n_trades > 0:
        row[M_WIN_RATE] = n_wins / n_trades
        if gross_loss > 0.0:
            row[M_PROFIT_FACTOR] = gross_profit / gross_loss
        elif gross_profit > 0.0:
            row[M_PROFIT_FACTOR] = np.inf
    row[M_TURNOVER] = turnover * ann_factor / n if n > 0 else 0.0
    row[M_FEES] = fees_total / init_cash
    row[M_FUNDING] = funding_total / init_cash
    return oidx, tidx


@njit(cache=True)
def _exit_nb(
    cash,
    pos,
    price_ref,
    fee,
    slip,
    entry_equity,
    detail,
    order_records,
    trade_records,
    oidx,
    tidx,
    col,
    i,
    entry_idx,
    direction,
    entry_price,
    trade_fees,
    trade_funding,
    reason,
):
    """Close the whole position at `price_ref` (a signal at the open, or a stop) and record the trade.

    Returns (cash, pos, fees, turnover share, pnl, oidx, tidx); a `pos` still open means the cover could not be
    paid in full and the account is exhausted.
    """
    eq_before = cash + pos * price_ref
    cash, pos, filled, price, fees = _fill_nb(cash, pos, -pos, price_ref, fee, slip)
    share = abs(filled * price) / eq_before if eq_before > 0.0 else 0.0
    pnl = cash - entry_equity
    if detail:
        _record_order(order_records, oidx, col, i, filled, price, fees)
        _record_trade(
            trade_records, tidx, col, entry_idx, i, direction, pos - filled, entry_price, price, trade_fees + fees,
            trade_funding, pnl, entry_equity, reason,
        )  # fmt: skip
        oidx += 1
        tidx += 1
    return cash, pos, fees, share, pnl, oidx, tidx


@njit(cache=True)
def _tally_nb(pnl, n_trades, n_wins, gross_profit, gross_loss):
    """Count one closed trade into (trades, wins, gross profit, gross loss)."""
    if pnl > 0.0:
        return n_trades + 1, n_wins + 1, gross_profit + pnl, gross_loss
    return n_trades + 1, n_wins, gross_profit, gross_loss - pnl


@njit(cache=True)
def _record_order(records, k, col, i, signed_size, price, fees):
    rec = records[k]
    rec["id"] = k
    rec["col"] = col
    rec["idx"] = i
    rec["size"] = abs(signed_size)
    rec["price"] = price
    rec["fees"] = fees
    rec["side"] = 0 if signed_size > 0 else 1


@njit(cache=True)
def _record_trade(
    records, k, col, entry_idx, exit_idx, direction, size, entry_price, exit_price, fees, funding, pnl, entry_equity, reason
):
    rec = records[k]
    rec["col"] = col
    rec["entry_idx"] = entry_idx
    rec["exit_idx"] = exit_idx
    rec["direction"] = direction
    rec["size"] = abs(size)
    rec["entry_price"] = entry_price
    rec["exit_price"] = exit_price
    rec["fees"] = fees
    rec["funding"] = funding
    rec["pnl"] = pnl
    rec["ret"] = pnl / entry_equity if entry_equity > 0.0 else 0.0
    rec["exit_reason"] = reason


def empty_order_records(capacity: int) -> np.ndarray:
    """A vectorbt order record buffer (vectorbt's `order_dt`)."""
    return np.empty(capacity, dtype=order_dt)


def empty_trade_records(capacity: int) -> np.ndarray:
    """A trade record buffer (`trade_dt`)."""
    return np.empty(capacity, dtype=trade_dt)


drop_stale_cache(
    Path(simulate_nb.stats.cache_path),
    [Path(__file__), Path(metric_kernels.__file__), Path(exit_rule.__file__)],
    Path(__file__).stem,
)
