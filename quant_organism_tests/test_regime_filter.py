"""The regime gene's rule, code by code, and that a filter with nothing to read filters nothing (and is skipped)."""

from __future__ import annotations

import numpy as np
import pytest

from quant_organism.core.bars import REGIME_HMM, REGIME_SENTIMENT, REGIME_TREND, REGIME_VOL
from quant_organism.strategies.regime_filter import apply_regime_filters, regime_masks

N = 400


@pytest.fixture
def regimes() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    out = {
        REGIME_VOL: rng.integers(0, 3, N).astype(float),
        REGIME_HMM: rng.integers(0, 2, N).astype(float),
        REGIME_TREND: rng.integers(0, 3, N).astype(float),
        REGIME_SENTIMENT: rng.uniform(0, 100, N),
    }
    for column in out.values():
        column[rng.random(N) < 0.1] = np.nan  # unknown days
    return out


def _positions() -> np.ndarray:
    return np.random.default_rng(4).integers(-1, 2, (N, 5)).astype(np.int8)


def _expected(positions: np.ndarray, regimes: dict[str, np.ndarray], code: int) -> np.ndarray:
    """Each code's rule written out per bar, unknown (NaN) never filtering."""
    vol, hmm, trend, mood = (regimes[c] for c in (REGIME_VOL, REGIME_HMM, REGIME_TREND, REGIME_SENTIMENT))
    long_ok = {0: True, 1: vol != 2, 2: hmm != 1, 3: trend != 0, 4: ~(mood >= 75)}[code]
    short_ok = {0: True, 1: vol != 2, 2: hmm != 1, 3: trend != 2, 4: ~(mood <= 25)}[code]
    long_ok, short_ok = (np.broadcast_to(np.asarray(ok).reshape(-1, 1), positions.shape) for ok in (long_ok, short_ok))
    keep = ((positions > 0) & long_ok) | ((positions < 0) & short_ok)
    return np.where(keep, positions, 0).astype(np.int8)


@pytest.mark.parametrize("code", [0, 1, 2, 3, 4])
def test_each_code_flattens_exactly_the_bars_its_regime_forbids(regimes, code):
    positions = _positions()
    filtered = apply_regime_filters(positions, regimes, [code] * positions.shape[1])
    np.testing.assert_array_equal(filtered, _expected(positions, regimes, code))
    if code:
        assert (filtered != positions).any()  # the rule did act on these regimes


def test_mixed_codes_filter_each_genome_by_its_own_code_and_leave_the_input_alone(regimes):
    positions = _positions()
    before = positions.copy()
    codes = [4, 0, 1, 3, 1]
    filtered = apply_regime_filters(positions, regimes, codes, memo={})
    for g, code in enumerate(codes):
        np.testing.assert_array_equal(filtered[:, g], _expected(positions, regimes, code)[:, g])
    np.testing.assert_array_equal(positions, before)


def test_a_code_whose_regime_column_is_absent_filters_nothing_and_is_not_applied(regimes):
    """No regime known, nothing filtered (the module's rule), and the compiled code gets no mask for it."""
    positions = _positions()
    without_sentiment = {k: v for k, v in regimes.items() if k != REGIME_SENTIMENT}
    codes = [4, 1, 4, 0, 2]
    filtered = apply_regime_filters(positions, without_sentiment, codes)
    for g, code in enumerate(codes):
        expected = positions[:, g] if code in (0, 4) else _expected(positions, regimes, code)[:, g]
        np.testing.assert_array_equal(filtered[:, g], expected)
    masks, index = regime_masks(without_sentiment, codes, N)
    assert masks.shape == (2, 2, N) and index.tolist() == [-1, 0, -1, -1, 1]
    assert apply_regime_filters(positions, {}, codes) is positions  # no regimes at all: nothing to do


def test_an_unknown_code_is_refused(regimes):
    with pytest.raises(ValueError, match="unknown regime_filter code 7"):
        apply_regime_filters(_positions(), regimes, [1, 7, 0, 0, 0])
    with pytest.raises(ValueError, match="unknown regime_filter code 7"):
        regime_masks({}, [7], N)  # even with no column to read
