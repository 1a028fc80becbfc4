"""The Probability of Backtest Overfitting of one evolution run's selection (Bailey et al. 2015, CSCV).

Evolution picks its best individuals by their train-window performance; PBO asks how often the
in-sample best of a population lands below the median out of sample when the train window's days are
recombined into in-sample and out-of-sample halves (S = 16 blocks, all C(16, 8) splits). A search that
finds a real, stable edge scores near 0; one that fits noise near 0.5 or above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.core.windows import Window
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.held_out import daily_returns, window_returns
from quant_organism.validation.overfitting import PBOResult, probability_of_backtest_overfitting

N_BLOCKS = 16


def population_pbo(
    population: Sequence[SeedGenes],
    frames: Mapping[str, pd.DataFrame],
    train: Window,
    n_blocks: int = N_BLOCKS,
    costs: CostModel = CostModel(),
) -> tuple[PBOResult, pd.DataFrame]:
    """PBO of selecting the best of `population` on the train window's daily returns; also the returns."""
    bar_returns, _ = window_returns(population, frames, train, costs)
    returns = daily_returns(bar_returns)
    return probability_of_backtest_overfitting(returns, n_blocks=n_blocks), returns
