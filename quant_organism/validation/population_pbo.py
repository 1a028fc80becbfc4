"""The Probability of Backtest Overfitting of one evolution run's selection (Bailey et al. 2015, CSCV).

Evolution picks its best individuals by their train-window performance; PBO asks how often the
in-sample best of a population lands below the median out of sample when the train window's days are
recombined into in-sample and out-of-sample halves (S = 16 blocks, all C(16, 8) splits), each ranked by
the Sharpe of its daily returns (the search's first objective). A search that finds a real, stable edge
scores near 0; one that fits noise near 0.5.

The population is what the search tried (`tried_sample`: every distinct valid individual, or a uniform
random sample of them), never its survivors: pre-selecting the top individuals by their score on the same
window forces in-sample and out-of-sample ranks apart, and pure noise then reads as PBO ~0.9.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.core.windows import Window
from quant_organism.evolution.result import EvolutionResult, genes_from_row
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.held_out import daily_returns, window_returns
from quant_organism.validation.overfitting import PBOResult, probability_of_backtest_overfitting

N_BLOCKS = 16


def tried_sample(result: EvolutionResult, size: int, seed: int = 0) -> list[SeedGenes]:
    """A uniform random sample of `size` distinct valid individuals the search evaluated (all of them when fewer)."""
    frame = result.population[result.population["valid"]].drop_duplicates("genes_hash")
    if len(frame) > size:
        frame = frame.sample(n=size, random_state=seed)
    return [genes_from_row(row) for _, row in frame.iterrows()]


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
