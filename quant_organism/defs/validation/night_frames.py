"""The night's market frames: the population's coins over its whole lookback (train, out-of-sample, walk-forward).

The search's gate and the documented tier read exactly these bars, as `run_chain` does with the frames it is given,
so the two tiers of a night judge the same data on every path."""

from quant_organism.defs.shared.resources import LakeResource
from quant_organism.market.frames import load_market_frames


def night_frames(lake: LakeResource, result):
    """The lake's bars of `result`'s coins from its train window's start to its walk-forward's end (MarketFrames)."""
    windows = result.windows
    return load_market_frames(lake.lake(), result.coins, windows.train.start, windows.walk_forward.end, result.interval or "1h")
