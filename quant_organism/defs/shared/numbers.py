"""Numbers as the asset page shows them: rounded to what the figure can support, NaN for none, the unit stated once.

Dagster shows a float metadata value with every digit it has (3.136910456333744). Rounded here, the value still
charts over partitions in the UI's plots."""

from __future__ import annotations

import math

import dagster as dg


def rounded(value: float | None, places: int = 3) -> dg.FloatMetadataValue:
    """`value` to `places` decimals (NaN when there is none)."""
    if value is None or not math.isfinite(float(value)):
        return dg.MetadataValue.float(float("nan"))
    return dg.MetadataValue.float(round(float(value), places))


UNITS_OF_THE_GATE = (
    "detectable_sharpe_*: annualised Sharpe of excess returns a test detects with 50% / 80% power; spa_pvalue, pbo: "
    "probabilities; level: a probability (0.0025 = 0.25%); evidence and held-out spans: days"
)
