"""The fused kernel: a batch of rule-based genomes, from shared indicator rows to metrics, in one compiled call.

For each genome in turn: the seed's rule (strategies/compiled/seed_rules.py) writes that genome's condition planes into a
small buffer, the position tracker (`position_tracking.track_one`) turns them into targets, the regime gene flattens
the bars its regime forbids, and the simulation (`kernel.simulate_column_nb`) scores the column. The buffers
hold one genome (about 45 KB for a year of hourly bars, so they stay in cache): no bars x genomes condition,
position or target matrix is ever materialised, and the indicator rows are shared by every genome of the
batch. Each step is the very function the unfused path runs (`positions_batch`, then `simulate`), so the
metrics are bit-for-bit the same (test_fused_kernel.py).

numba's on-disk cache only notices edits to the file that holds a function, and these kernels compile in
code from seed_rules.py, position_tracking.py, kernel.py, exit_rule.py and core/compiled/metric_kernels.py: `drop_stale_cache` clears this module's
cache whenever any of those sources changes, so an edit there can never leave a stale fused build behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from quant_organism.backtest.compiled import exit_rule, kernel
from quant_organism.backtest.compiled.kernel import N_METRICS, simulate_column_nb
from quant_organism.core.compiled import metric_kernels
from quant_organism.core.numba_cache import drop_stale_cache
from quant_organism.strategies.base import RuleInputs
from quant_organism.strategies.compiled import position_tracking
from quant_organism.strategies.compiled import seed_rules as rules
from quant_organism.strategies.compiled.position_tracking import flatten_disallowed, track_one
from quant_organism.strategies.regime_filter import Regimes, regime_masks


@njit(cache=True)
def _score_genome(g, cond, close, track, regime, sim, scratch, buf, out):  # pragma: no cover - numba
    """Genome g's planes (cond[:, 0]) -> targets (tracker, regime gene) -> its metrics row out[g]."""
    hold, scale, row, mult, use_trail = track
    track_one(cond[0, 0], cond[1, 0], cond[2, 0], cond[3, 0], close, hold[g], scale[row[g]], mult[g], use_trail, buf)
    masks, index = regime
    if index[g] >= 0:
        flatten_disallowed(buf, masks[index[g]])
    open_, high, low, close_, funding, sl, tp, frac, taker, maker, slip, tp_limit, cash, ids, n_ids, ann = sim
    equity_out, position_out, orders, trades = scratch
    simulate_column_nb(
        open_, high, low, close_, funding, buf, g, sl[g], tp[g], frac[g], taker, maker, slip, tp_limit, cash, ids,
        n_ids, ann, False, equity_out, position_out, orders, trades, 0, 0, out[g],
    )  # fmt: skip


@njit(cache=True)
def _buffers(n):  # pragma: no cover - numba
    return np.empty((4, 1, n), np.bool_), np.empty(n, np.int8)


# --- one driver per rule: the rule on genome g's slice of the gene vectors, then `_score_genome` --------
@njit(cache=True)
def ema_crossover(
    close, ema, fast, slow, slope_lag, entry, exit_, min_slope, track, regime, sim, scratch, out
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.ema_crossover(close, ema, fast[s], slow[s], slope_lag[s], entry[s], exit_[s], min_slope[s], cond)
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def sma_trend(
    close, sma, fast, slow, slope_lag, entry, exit_, min_slope, track, regime, sim, scratch, out
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.sma_trend(close, sma, fast[s], slow[s], slope_lag[s], entry[s], exit_[s], min_slope[s], cond)
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def rsi_filter(
    close, rsi, rsi_row, sma, sma_row, entry, exit_, tolerance, track, regime, sim, scratch, out
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.rsi_filter(close, rsi, rsi_row[s], sma, sma_row[s], entry[s], exit_[s], tolerance[s], cond)
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def stochastic(
    close, k_tab, k_row, d_tab, d_row, sma, sma_row, entry, exit_, tolerance, track, regime, sim, scratch, out
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.stochastic(close, k_tab, k_row[s], d_tab, d_row[s], sma, sma_row[s], entry[s], exit_[s], tolerance[s], cond)
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def donchian_breakout(
    close, volume, highs, lows, slow, fast, vol_mean, vol_row, entry, exit_, vol_mult, track, regime, sim, scratch, out
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.donchian_breakout(
            close, volume, highs, lows, slow[s], fast[s], vol_mean, vol_row[s], entry[s], exit_[s], vol_mult[s], cond
        )
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def atr_stop(close, ema, fast, slow, atr, atr_row, entry, min_atr, track, regime, sim, scratch, out):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.atr_stop(close, ema, fast[s], slow[s], atr, atr_row[s], entry[s], min_atr[s], cond)
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def ichimoku(
    close, mid, tenkan_row, kijun_row, senkou_row, displacement, entry, exit_, min_momentum, track, regime, sim, scratch, out
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.ichimoku(
            close, mid, tenkan_row[s], kijun_row[s], senkou_row[s], displacement[s], entry[s], exit_[s], min_momentum[s], cond
        )
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def vwap_reversion(
    close, volume, vwap, vwap_row, vol, vol_row, vol_mean, entry, exit_, vol_mult, track, regime, sim, scratch, out
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.vwap_reversion(close, volume, vwap, vwap_row[s], vol, vol_row[s], vol_mean, entry[s], exit_[s], vol_mult[s], cond)
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def volatility_scaling(
    close,
    vol,
    baseline_row,
    short_row,
    growth,
    growth_row,
    root_lookback,
    entry,
    exit_,
    max_ratio,
    track,
    regime,
    sim,
    scratch,
    out,
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.volatility_scaling(
            close,
            vol,
            baseline_row[s],
            short_row[s],
            growth,
            growth_row[s],
            root_lookback[s],
            entry[s],
            exit_[s],
            max_ratio[s],
            cond,
        )
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


@njit(cache=True)
def funding_carry(
    close, funding_mean, funding_row, lookback, entry, exit_, guard, track, regime, sim, scratch, out
):  # pragma: no cover - numba
    cond, buf = _buffers(close.shape[0])
    for g in range(out.shape[0]):
        s = slice(g, g + 1)
        rules.funding_carry(close, funding_mean, funding_row[s], lookback[s], entry[s], exit_[s], guard[s], cond)
        _score_genome(g, cond, close, track, regime, sim, scratch, buf, out)


KERNELS = {
    name: globals()[name]
    for name in ("ema_crossover", "sma_trend", "rsi_filter", "stochastic", "donchian_breakout", "atr_stop",
                 "ichimoku", "vwap_reversion", "volatility_scaling", "funding_carry")
}  # fmt: skip


def fused_metrics(
    inputs: RuleInputs, regimes: Regimes, regime_codes: list[int], sim: tuple, masks: dict | None = None
) -> np.ndarray:
    """The metric matrix (genomes x N_METRICS) of one rule batch: `inputs` from `RuleSeed.rule_inputs`,
    `sim` the market, risk genes and costs in `kernel.simulate_column_nb`'s order (engine.fused_sim builds it),
    `masks` the bars' memo of regime masks."""
    n_cols = len(regime_codes)
    n = len(inputs.close)
    out = np.full((n_cols, N_METRICS), np.nan)
    if n_cols == 0:
        return out
    scratch = (np.empty((0, 0), order="F"), np.empty((0, 0), order="F"),
               kernel.empty_order_records(0), kernel.empty_trade_records(0))  # fmt: skip
    KERNELS[inputs.kernel](*inputs.args, inputs.tracker(n_cols), regime_masks(regimes, regime_codes, n, masks), sim, scratch, out)
    return out


drop_stale_cache(
    Path(ema_crossover.stats.cache_path),
    [Path(m.__file__) for m in (rules, position_tracking, kernel, exit_rule, metric_kernels)] + [Path(__file__)],
    Path(__file__).stem,
)
