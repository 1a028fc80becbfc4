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
from ..ohlcv import Bars
from ..positions import hysteresis_positions
from ..tree import fit_pca_quantile_tree, predict_leaf_quantiles
from ..walk_forward import walk_forward_batch


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


def _fitter(p: dict):
    n_components, max_depth, min_leaf = p["n_components"], p["max_depth"], p["min_leaf"]
    levels = np.array([p["quantile"], 0.5, 1.0 - p["quantile"]])

    def fit(x: np.ndarray, y: np.ndarray) -> LeafQuantiles:
        mean, scale, center, axes, *tree, table = fit_pca_quantile_tree(x, y, n_components, max_depth, min_leaf, levels)
        return LeafQuantiles(mean, scale, center, axes, tuple(tree), table)

    return fit


class PcaTreeQuantileSeed(BaseSeed):
    seed_type = SeedType.PCA_TREE_QUANTILE

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        low, median, high = walk_forward_batch(bars, genes, _fitter, LeafQuantiles.predict, 3, scaled_target=True)
        g = GeneColumns(genes)
        entry, exit_ = g.row("entry_threshold"), g.row("exit_threshold")
        with np.errstate(invalid="ignore"):
            long_entry, short_entry = low > entry + TOL, high < -entry - TOL
            long_exit, short_exit = ~(median >= exit_), ~(median <= -exit_)
        return hysteresis_positions(long_entry, long_exit, short_entry, short_exit, close=bars.close)
