"""The keys of the assets the automation conditions look at beside their own, in one module that imports no
asset module: the asset modules attach the conditions, so the conditions cannot import them back."""

import dagster as dg

CANDLES = dg.AssetKey(["market", "candles"])
FUNDING = dg.AssetKey(["market", "funding_rates"])
REGIME = dg.AssetKey(["market", "regime"])
PAPER = dg.AssetKey(["runtime", "paper_performance"])
POPULATION = dg.AssetKey(["evolution", "population"])
