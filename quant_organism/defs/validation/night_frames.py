"""The night's market frames: the population's coins over its whole lookback (train, out-of-sample, walk-forward).

The search's gate and the documented tier read exactly these bars, as `run_chain` does with the frames it is given,
so the two tiers of a night judge the same data on every path."""

from typing import NamedTuple

import pandas as pd

from quant_organism import settings
from quant_organism.backtest.costs import CostModel
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource
from quant_organism.evolution.result import EvolutionResult
from quant_organism.market.frames import load_market_frames
from quant_organism.validation.held_out import HeldOutConfig


class TierInputs(NamedTuple):
    """What a portfolio tier judges a night on: the population's result, its frames, universe and costs."""

    result: EvolutionResult
    frames: dict[str, pd.DataFrame]
    top: int | None
    costs: CostModel


def night_frames(lake: LakeResource, result):
    """The lake's bars of `result`'s coins from its train window's start to its walk-forward's end (MarketFrames)."""
    windows = result.windows
    return load_market_frames(lake.lake(), result.coins, windows.train.start, windows.walk_forward.end, result.interval or "1h")


def tier_inputs(lake: LakeResource, artifacts: ArtifactsResource, day: str) -> TierInputs:
    """The night `day`'s inputs to the documented tier and the portfolio search, read the same way for both."""
    result = artifacts.load_evolution(day)
    return TierInputs(result, night_frames(lake, result).frames, settings.universe_top(), HeldOutConfig().costs)
