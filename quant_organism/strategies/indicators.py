"""Causal indicators, computed once per distinct period and shared by every genome of a batch.

Each function returns a float64 array the length of its input whose value at bar t depends only on
bars <= t (the kernels run strictly left to right, so a prefix of the input gives a bit-identical
prefix of the output). Bars before an indicator has a full window are NaN; seeds turn NaN into
"no position". The plural forms (`emas`, `smas`, ...) compute many periods in one pass and return
one row per period; the singular forms are the same computation for one period, so a genome's
indicator is the same whether it runs alone or in a batch. `Indicators.table` lays a batch out as
rows of periods (its own and those kept from earlier calls) plus, per genome, the row to read.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable

import numpy as np

from . import row_store
from .compiled import rolling as kernels
from .ohlcv import Bars


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _periods(periods: np.ndarray | list[int]) -> np.ndarray:
    out = np.ascontiguousarray(periods, dtype=np.int64).reshape(-1)
    if out.size:
        lowest = min(out.tolist()) if out.size < 64 else int(out.min())  # a few periods: cheaper than a ufunc call
        if lowest < 1:
            raise ValueError(f"indicator periods must be >= 1; got {lowest}")
    return out


# --- many periods at once: (periods, bars) arrays ----------------------------------------------
def emas(x: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """EMAs with alpha 2/(period+1), seeded at the first bar; NaN for the first period-1 bars.

    Each plural form writes into `out` (periods x bars) when given (a row store's slots), else a new table."""
    p = _periods(periods)
    return kernels.ewm(_f64(x), 2.0 / (p + 1.0), p, out)


def wilders(x: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Wilder smoothings (alpha 1/period), seeded at the first value; NaN for the first period-1 values."""
    p = _periods(periods)
    return kernels.ewm(_f64(x), 1.0 / p, p, out)


def smas(x: np.ndarray, periods: np.ndarray, source: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Rolling means; x may be 2-D (several series), then row k averages series x[source[k]]."""
    return _windowed_sums(x, periods, source, True, out)


def rolling_sums(x: np.ndarray, periods: np.ndarray) -> np.ndarray:
    return _windowed_sums(x, periods, None, False)


def _windowed_sums(
    x: np.ndarray, periods: np.ndarray, source: np.ndarray | None, mean: bool, out: np.ndarray | None = None
) -> np.ndarray:
    p = _periods(periods)
    x = _f64(x)
    if x.ndim == 1:
        x = x[None, :]
    source = np.zeros(len(p), np.int64) if source is None else np.ascontiguousarray(source, dtype=np.int64)
    if source.shape != p.shape or (source.size and not (0 <= source.min() and source.max() < len(x))):
        raise ValueError(f"source must give one row of x (0..{len(x) - 1}) per period")
    lead = _warm_up(x)
    if lead is None:
        return kernels.rolling_sum_mean(x, source, p, mean, out)
    return kernels.rolling_sum_mean_dense(x, lead, source, p, mean, out)


def rolling_stds(x: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sample standard deviations over the last `period` values (NaN inside the window gives NaN)."""
    x, p = _f64(x), _periods(periods)
    lead = _warm_up(x[None, :])
    return kernels.rolling_std(x, p, out) if lead is None else kernels.rolling_std_dense(x, lead, p, out)


def _warm_up(x: np.ndarray) -> int | None:
    """How many leading values of every row of `x` are NaN, when those are its only NaNs and the count is the
    same in every row (prices: 0; returns: 1): input the dense kernels take, with the very results of the
    general ones. None otherwise."""
    if x.size == 0:
        return None
    if not np.isnan(np.add.reduce(x, axis=None)):  # one pass without a mask: no NaN anywhere (the usual case)
        return 0
    present = ~np.isnan(x)
    lead = np.where(present.any(axis=1), present.argmax(axis=1), x.shape[1])
    if len(lead) == 0 or not (lead == lead[0]).all() or not np.array_equal(present.sum(axis=1), x.shape[1] - lead):
        return None
    return int(lead[0])


def rolling_maxes(x: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return kernels.rolling_extreme(_f64(x), _periods(periods), True, out)


def rolling_mins(x: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return kernels.rolling_extreme(_f64(x), _periods(periods), False, out)


def rsis(close: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Wilder RSIs in [0, 100]; NaN until `period` changes are seen and wherever nothing has moved."""
    return kernels.rsi_table(_f64(close), _periods(periods), out)


def midpoints(high: np.ndarray, low: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(highest high + lowest low) / 2 over the last `period` bars, current bar included (Ichimoku lines)."""
    return kernels.rolling_range(_f64(high), _f64(low), _f64(low), _periods(periods), False, out)


def rolling_vwaps(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Volume-weighted typical prices over the last `period` bars; NaN where that volume is zero."""
    typical = (high + low + close) / 3.0
    weighted, volume = _f64(typical * volume), _f64(volume)
    if _warm_up(weighted[None, :]) == 0 and _warm_up(volume[None, :]) == 0:  # no NaN: one pass, one table
        return kernels.rolling_vwap_dense(weighted, volume, _periods(periods), out)
    vwaps = _positive_div(rolling_sums(weighted, periods), rolling_sums(volume, periods))
    if out is None:
        return vwaps
    out[...] = vwaps  # bars with NaN (never the validated bars evolution runs on): a copy is fine
    return out


def stochastic_ks(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """%K in [0, 100] over the last `period` bars (current included); NaN when the range is zero."""
    return kernels.rolling_range(_f64(high), _f64(low), _f64(close), _periods(periods), True, out)


def momenta(close: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """close[t] / close[t - period] - 1."""
    return kernels.lag_ratio(_f64(close), _periods(periods), out)


def _positive_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, else NaN, written into `a` (as `safe_div`, without temporaries)."""
    positive = b > 0
    np.divide(a, b, out=a, where=positive)
    a[~positive] = np.nan
    return a


# --- one period ----------------------------------------------------------------------------------
def ema(x: np.ndarray, period: int) -> np.ndarray:
    return emas(x, [period])[0]


def wilder(x: np.ndarray, period: int) -> np.ndarray:
    return wilders(x, [period])[0]


def sma(x: np.ndarray, period: int) -> np.ndarray:
    return smas(x, [period])[0]


def rolling_sum(x: np.ndarray, period: int) -> np.ndarray:
    return rolling_sums(x, [period])[0]


def rolling_std(x: np.ndarray, period: int) -> np.ndarray:
    return rolling_stds(x, [period])[0]


def rolling_max(x: np.ndarray, period: int) -> np.ndarray:
    return rolling_maxes(x, [period])[0]


def rolling_min(x: np.ndarray, period: int) -> np.ndarray:
    return rolling_mins(x, [period])[0]


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    return rsis(close, [period])[0]


def midpoint(high: np.ndarray, low: np.ndarray, period: int) -> np.ndarray:
    return midpoints(high, low, [period])[0]


def rolling_vwap(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, period: int) -> np.ndarray:
    return rolling_vwaps(high, low, close, volume, [period])[0]


def shift(x: np.ndarray, lag: int) -> np.ndarray:
    """x[t - lag] at t (NaN where t < lag): 'the previous `lag` bars, current one excluded'."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    if lag == 0:
        out[:] = x
    elif lag < len(x):
        out[lag:] = x[:-lag]
    return out


def log_returns(close: np.ndarray) -> np.ndarray:
    out = np.full(len(close), np.nan)
    out[1:] = np.diff(np.log(close))
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    prev = shift(close, 1)
    tr = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))  # fmax: bar 0 has no prev
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    return wilder(true_range(high, low, close), period)


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b - 1, NaN where b is not positive (so a vanished denominator never looks like a signal)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / b - 1.0, np.nan)


def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, NaN where b is not positive."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / b, np.nan)


class Indicators:
    """Indicators of one set of bars: whole-batch tables (`table`) of indicator rows, kept on the bars between calls,
    for every seed, and memoised single series (`returns`, the ML seeds' feature matrices: `cached`) for one call."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self._memo: dict[Hashable, np.ndarray] = {}

    def cached(self, key: Hashable, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def table(self, name: str, *uses: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """(rows, index per use): indicator `name` once per distinct period found in `uses` (per-genome period
        vectors, e.g. the fast and the slow periods), and for each use the row each genome reads.

        The table is read-only and stays valid while it is held. Rows are kept on the bars between calls
        (`row_store`, within a memory budget per process) and only the periods not kept are computed: the seeds
        of one batch share indicators (EMAs, SMAs, volatilities), and evolution asks each generation for mostly
        the periods of the one before. The table may hold rows of other periods (those kept); read it only
        through the index. A row does not depend on which other periods were computed with it (rolling_kernels.py), so
        this changes no value.
        """
        (rows,), index = self.tables((name,), *uses)
        return rows, index

    def tables(self, names: tuple[str, ...], *uses: np.ndarray) -> tuple[list[np.ndarray], tuple[np.ndarray, ...]]:
        """`table` of indicators read at the same periods (a channel's rolling highs and lows): one table per
        name, and one index per use that points into each of them."""
        for name in names:
            if name not in _TABLES:
                raise ValueError(f"unknown indicator {name!r}; known: {sorted(_TABLES)}")
        arrays = [_periods(u) for u in uses]
        periods = sorted({p for a in arrays for p in a.tolist()})  # a set of a few hundred ints: numpy's unique costs more
        distinct = np.array(periods, dtype=np.int64)
        if not self.bars.keeps_rows:
            tables = self._computed(names, distinct)
            for table in tables:
                table.flags.writeable = False  # one array type for compiled code, kept or not
            return tables, tuple(np.searchsorted(distinct, a) for a in arrays)
        with row_store.lock:
            store = self._store(names)
            missing = [p for p in periods if p not in store.slot]
            asked = np.array(missing, dtype=np.int64)
            if store.keep(missing, lambda outs: self._computed(names, asked, outs), set(periods)):
                slots = store.touch(periods)
                return store.views(), tuple(slots[np.searchsorted(distinct, a)] for a in arrays)
            store.touch([p for p in periods if p in store.slot])
            fresh = self._computed(names, asked)  # the store refused them before computing any
            return self._unkept(store, periods, missing, fresh), tuple(np.searchsorted(distinct, a) for a in arrays)

    def _computed(self, names: tuple[str, ...], periods: np.ndarray, outs: list | None = None) -> list[np.ndarray]:
        """Each named indicator's fresh rows of `periods`, contiguous (what the compiled code and the store take),
        written into `outs` (one table per name: a row store's slots) when given."""
        outs = [None] * len(names) if outs is None else outs
        return [np.ascontiguousarray(_TABLES[name](self, periods, out)) for name, out in zip(names, outs)]

    def _store(self, names: tuple[str, ...]) -> row_store.RowStore:
        kept = self.bars.rows
        if names not in kept:
            if not kept:
                weakref.finalize(self.bars, row_store.release, kept)
            kept[names] = row_store.RowStore(len(names), self.bars.n)
        return kept[names]

    def _unkept(self, store: row_store.RowStore, periods: list[int], missing: list[int], fresh: list[np.ndarray]) -> list:
        """Tables of this call's periods in order, from kept and fresh rows, where the budget kept no fresh ones."""
        made = {p: k for k, p in enumerate(missing)}
        out = []
        for j, matrix in enumerate(store.matrices):
            if len(missing) == len(periods):  # never empty here: a call asking for nothing keeps nothing new
                table = fresh[j]
            else:
                table = np.stack([fresh[j][made[p]] if p in made else matrix[store.slot[p]] for p in periods])
            table.flags.writeable = False  # one array type for compiled code, whatever the table's origin
            out.append(table)
        return out

    def stochastic_d_table(self, k_periods: np.ndarray, d_periods: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, index): %D = SMA(%K(k), d) once per distinct (k, d) pair, and the row of each genome. Rows are
        kept as `table`'s are, each pair under one code (`_pair_codes`): evolution asks each generation for mostly
        the pairs of the one before, and computing them again was a thirtieth of a run."""
        rows, (index,) = self.table("stochastic_d", _pair_codes(k_periods, d_periods))
        return rows, index

    @property
    def funding(self) -> np.ndarray:
        if self.bars.funding is None:
            raise ValueError("funding_rate column is required for funding indicators")
        return self.bars.funding

    # --- single series, memoised (the ML seeds' features) -------------------------------------
    @property
    def returns(self) -> np.ndarray:
        return self.cached("returns", lambda: log_returns(self.bars.close))


_PAIR = 1 << 20  # a (k, d) pair of periods as one code: k * _PAIR + d (periods are far below it)


def _pair_codes(k_periods: np.ndarray, d_periods: np.ndarray) -> np.ndarray:
    k, d = _periods(k_periods), _periods(d_periods)
    if k.shape != d.shape:
        raise ValueError(f"one %D period per %K period; got {len(k)} and {len(d)}")
    if (k.size and int(k.max()) >= _PAIR) or (d.size and int(d.max()) >= _PAIR):
        raise ValueError(f"stochastic periods must be below {_PAIR}")
    return k * _PAIR + d


def _stochastic_ds(ind: Indicators, codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """%D rows of (k, d) pairs given as codes: the SMA over d bars of the %K row of period k."""
    k, d = np.divmod(codes, _PAIR)
    k_rows, (k_of,) = ind.table("stochastic_k", k)
    # %K rows have warm-ups of different lengths, so `smas` would take the general kernel anyway; called
    # directly it reads each pair's %K row in place instead of a gathered copy, and skips `_warm_up`'s scan of
    # the whole table (which may hold many more kept rows than this call reads).
    return kernels.rolling_sum_mean(k_rows, k_of, _periods(d), True, out)


def _log_momenta(close: np.ndarray, periods: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    growth = momenta(close, periods, out)
    return np.log1p(growth, out=growth)


# What `Indicators.table` can lay out: name -> rows for an array of distinct periods, written into `out` when given.
_TABLES: dict[str, Callable[[Indicators, np.ndarray, np.ndarray | None], np.ndarray]] = {
    "ema": lambda ind, p, out: emas(ind.bars.close, p, out),
    "sma": lambda ind, p, out: smas(ind.bars.close, p, out=out),
    "rsi": lambda ind, p, out: rsis(ind.bars.close, p, out),
    "atr": lambda ind, p, out: wilders(true_range(ind.bars.high, ind.bars.low, ind.bars.close), p, out),
    "volatility": lambda ind, p, out: rolling_stds(ind.returns, p, out),  # std of one-bar log returns
    "rolling_high": lambda ind, p, out: rolling_maxes(ind.bars.high, p, out),  # current bar included
    "rolling_low": lambda ind, p, out: rolling_mins(ind.bars.low, p, out),
    "volume_mean": lambda ind, p, out: smas(ind.bars.volume, p, out=out),
    "midpoint": lambda ind, p, out: midpoints(ind.bars.high, ind.bars.low, p, out),
    "vwap": lambda ind, p, out: rolling_vwaps(ind.bars.high, ind.bars.low, ind.bars.close, ind.bars.volume, p, out),
    "stochastic_k": lambda ind, p, out: stochastic_ks(ind.bars.high, ind.bars.low, ind.bars.close, p, out),
    "stochastic_d": _stochastic_ds,  # periods: (k, d) pairs as `_pair_codes`
    "log_momentum": lambda ind, p, out: _log_momenta(ind.bars.close, p, out),  # log(close[t] / close[t - p])
    "funding_mean": lambda ind, p, out: smas(ind.funding, p, out=out),
}
