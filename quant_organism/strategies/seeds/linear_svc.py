"""Linear SVC on lagged returns and indicators, trained walk-forward on the sign of the next return.

Features at bar t (all from bars <= t): the last `n_lags` one-bar log returns, RSI(fast_period),
distance to EMA(slow_period) and the realised vol of `signal_period` returns; standardised inside
each training set's rows only. Label: sign of r[t+1] (zero-return rows are skipped). The
model is refitted every `refit_every` bars on the trailing `train_window` rows whose labels are
known (see `walk_forward`). Its decision function is the score: long when > entry, exit when < exit,
shorts mirrored. The SVM is scikit-learn's LinearSVC(dual=False) problem, solved by a compiled Newton solver
(svm.py) that reaches its optimum to 1e-10 where liblinear stops at 1e-4, about 35 times faster per refit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..compiled.hinge import decision_function
from ..genes import SeedGenes, SeedType
from ..ohlcv import Bars
from ..positions import hysteresis_positions, score_conditions
from ..svm import fit_sign_classifier
from ..walk_forward import walk_forward_batch


@dataclass(frozen=True)
class LinearScore:
    """A fitted LinearSVC on standardised features: score = ((x - mean) / scale) . coef + intercept."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def decision(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        return decision_function(x, self.mean, self.scale, self.coef, self.intercept)


def _fitter(p: dict):
    c = 10.0 ** p["log10_c"]

    def fit(x: np.ndarray, y: np.ndarray) -> LinearScore | None:
        fitted = fit_sign_classifier(x, y, c)  # labels: the signs of the next returns; a zero return has no side
        return None if fitted is None else LinearScore(*fitted)

    return fit


class LinearSvcSeed(BaseSeed):
    seed_type = SeedType.LINEAR_SVC

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        (scores,) = walk_forward_batch(bars, genes, _fitter, LinearScore.decision, 1)
        g = GeneColumns(genes)
        conditions = score_conditions(scores, g.row("entry_threshold"), g.row("exit_threshold"))
        return hysteresis_positions(*conditions, close=bars.close)
