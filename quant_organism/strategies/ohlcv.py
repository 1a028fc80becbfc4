"""Checks the bars a seed is asked to trade on and hands them over as plain float64 arrays.

Seeds refuse bad input instead of guessing: a signal computed on unsorted or holey bars would be
silently wrong, and such bars should have been quarantined by the market quality rules upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from quant_organism.core.bars import FUNDING_COLUMN, OHLCV_COLUMNS, BarContractError, check_bar_index

from .regime_filter import regime_arrays


class SignalInputError(BarContractError):
    """The OHLCV frame given to a seed cannot be used; the message says why."""


@dataclass(frozen=True)
class Bars:
    """Validated bars as contiguous float64 arrays, all of length `n`."""

    times: pd.DatetimeIndex  # the checked frame's index; a prefix's `index` is its first `n` entries
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    funding: np.ndarray | None
    regimes: Mapping[str, np.ndarray] = field(default_factory=dict)  # regime columns present (regime_filter.py)
    rows: dict = field(default_factory=dict, compare=False, repr=False)  # kept indicator rows by names: row_store.py
    masks: dict = field(default_factory=dict, compare=False, repr=False)  # regime masks by code: regime_filter.py
    keeps_rows: bool = field(default=True, compare=False, repr=False)  # False: indicator rows are computed per call

    @property
    def n(self) -> int:
        return len(self.close)

    @cached_property
    def index(self) -> pd.DatetimeIndex:
        """The bars' times, sliced when first read: the prefix proofs never read them, and slicing a pandas
        index cost a fifth of a lone genome's proof on a few bars."""
        return self.times if len(self.times) == self.n else self.times[: self.n]

    def prefix(self, stop: int) -> Bars:
        """The first `stop` bars, as views, with empty indicator and mask caches: what `prepare_bars` returns for
        the frame's first `stop` rows (every check and the funding fill are causal), without checking again.
        A prefix keeps no indicator rows between calls: the prefix proofs (runtime/signals.py) read each once."""
        if not 0 <= stop <= self.n:
            raise ValueError(f"prefix of {stop} bars out of {self.n}")
        return Bars(
            times=self.times,
            open=self.open[:stop],
            high=self.high[:stop],
            low=self.low[:stop],
            close=self.close[:stop],
            volume=self.volume[:stop],
            funding=None if self.funding is None else self.funding[:stop],
            regimes={name: values[:stop] for name, values in self.regimes.items()},
            keeps_rows=False,
        )


def prepare_bars(ohlcv: pd.DataFrame, need_funding: bool = False, what: str = "signals") -> Bars:
    """Validate an OHLCV frame (UTC DatetimeIndex, strictly increasing; finite positive prices).

    `funding_rate`, when present, is carried forward over gaps (a causal fill): a NaN means "no new
    rate published", so the last known rate still applies. Leading NaNs stay NaN (no rate known yet).
    """
    if not isinstance(ohlcv, pd.DataFrame):
        raise SignalInputError(f"{what}: expected a pandas DataFrame of bars, got {type(ohlcv).__name__}")
    try:
        index = check_bar_index(ohlcv.index, what)
    except BarContractError as exc:
        raise SignalInputError(str(exc)) from None
    missing = [c for c in OHLCV_COLUMNS if c not in ohlcv.columns]
    if need_funding and FUNDING_COLUMN not in ohlcv.columns:
        missing.append(FUNDING_COLUMN)
    if missing:
        hint = " (this seed trades on funding rates: join them onto the bars)" if FUNDING_COLUMN in missing else ""
        raise SignalInputError(f"{what}: missing column(s) {missing}{hint}; got {list(ohlcv.columns)}")

    arrays: dict[str, np.ndarray] = {}
    for column in OHLCV_COLUMNS:
        try:
            values = np.ascontiguousarray(ohlcv[column].to_numpy(dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise SignalInputError(f"{what}: column {column!r} is not numeric ({exc})") from None
        bad = ~np.isfinite(values) | ((values <= 0) if column != "volume" else (values < 0))
        if bad.any():
            first = index[int(np.argmax(bad))]
            rule = "finite and > 0" if column != "volume" else "finite and >= 0"
            raise SignalInputError(f"{what}: column {column!r} must be {rule}; first bad bar at {first}")
        arrays[column] = values
    if (arrays["high"] < arrays["low"]).any():
        first = index[int(np.argmax(arrays["high"] < arrays["low"]))]
        raise SignalInputError(f"{what}: high < low at {first}")

    funding = None
    if FUNDING_COLUMN in ohlcv.columns:
        try:
            rates = pd.Series(ohlcv[FUNDING_COLUMN].to_numpy(dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise SignalInputError(f"{what}: column {FUNDING_COLUMN!r} is not numeric ({exc})") from None
        if np.isinf(rates.to_numpy()).any():
            raise SignalInputError(f"{what}: column {FUNDING_COLUMN!r} has infinite values")
        funding = np.ascontiguousarray(rates.ffill().to_numpy())
    return Bars(times=index, funding=funding, regimes=regime_arrays(ohlcv), **arrays)
