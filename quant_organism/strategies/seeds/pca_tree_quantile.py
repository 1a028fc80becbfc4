"""PCA -> decision tree -> leaf quantiles: a one-tree quantile regression of the next return.

Features as in the linear SVC seed (lagged returns, RSI, EMA distance, realised vol; bars <= t).
Target: the next bar's log return divided by the current realised vol, so thresholds read in vols.
Fitted walk-forward (see `walk_forward`): standardisation -> PCA(n_components) ->
DecisionTreeRegressor(max_depth, min_samples_leaf=min_leaf), scikit-learn's algorithms compiled in tree.py
(the same projections and leaves; the seed evaluates about four times faster). The quantile stage keeps, for every
leaf, the q, 0.5 and 1-q empirical quantiles of the training targets that fell in it (a quantile
regression forest of one tree). At bar t the leaf of the current features gives a predicted band:
long when its lower quantile > entry (most of the band is above zero), short when its upper
quantile < -entry; a long exits when the leaf median < exit (short mirrored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..compiled.seed_rules import TOL
from ..genes import SeedGenes, SeedType
from ..indicators import Indicators, safe_div
from ..ohlcv import Bars
from ..positions import hysteresis_positions
from ..tree import fit_pca_quantile_tree, predict_leaf_quantiles
from ..walk_forward import MlFeatures, WalkForward, next_returns


@dataclass(frozen=True)
class LeafQuantiles:
    mean: np.ndarray  # standardisation of the training rows
    scale: np.ndarray
    center: np.ndarray  # PCA's mean and components, fitted on the standardised rows
    components: np.ndarray
    tree: tuple  # fitted tree's node arrays (tree.fit_quantile_tree): the leaf of a row is `apply_tree(*tree, rows)`
    table: np.ndarray  # node id -> (q_low, median, q_high); NaN for inner nodes

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Standardised, projected on the PCA components as float32 (the tree's input), then the leaf's quantiles."""
        return predict_leaf_quantiles(x, self.mean, self.scale, self.center, self.components, *self.tree, self.table)


def _fitter(n_components: int, max_depth: int, min_leaf: int, quantile: float):
    levels = np.array([quantile, 0.5, 1.0 - quantile])

    def fit(x: np.ndarray, y: np.ndarray) -> LeafQuantiles:
        mean, scale, center, axes, *tree, table = fit_pca_quantile_tree(x, y, n_components, max_depth, min_leaf, levels)
        return LeafQuantiles(mean, scale, center, axes, tuple(tree), table)

    return fit


def _predict(model: LeafQuantiles, x: np.ndarray) -> np.ndarray:
    return model.predict(x)


class PcaTreeQuantileSeed(BaseSeed):
    seed_type = SeedType.PCA_TREE_QUANTILE

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        nxt = next_returns(ind)
        bands = np.empty((3, bars.n, len(genes)))
        features = MlFeatures(ind, g.ints("fast_period"), g.ints("slow_period"), g.ints("signal_period"))
        for col, gene in enumerate(genes):
            p = gene.parameters
            target = safe_div(nxt, features.volatility(col))
            schedule = WalkForward(refit_every=p["refit_every"], train_window=p["train_window"])
            fit = _fitter(p["n_components"], p["max_depth"], p["min_leaf"], p["quantile"])
            bands[:, :, col] = schedule.run(features.matrix(col, p["n_lags"]), target, fit, _predict, 3).T
        low, median, high = bands
        entry, exit_ = g.row("entry_threshold"), g.row("exit_threshold")
        with np.errstate(invalid="ignore"):
            long_entry, short_entry = low > entry + TOL, high < -entry - TOL
            long_exit, short_exit = ~(median >= exit_), ~(median <= -exit_)
        return hysteresis_positions(long_entry, long_exit, short_entry, short_exit, close=bars.close)
