"""The lookback an asset can evolve on, given the history the lake holds (shared by the evolution and the
retrospective assets, so the nightly run and the track record shrink their windows the same way)."""

from __future__ import annotations

import dagster as dg

from quant_organism import settings
from quant_organism.defs.shared.resources import LakeResource
from quant_organism.evolution.config import EvolutionConfig
from quant_organism.evolution.windows import evolution_windows, fitted_lookback


def fit_to_history(context, evolution: EvolutionConfig, lake: LakeResource, day: str) -> EvolutionConfig:
    """The preset with its lookback shrunk to the history the lake holds (every coin) before evolution day `day`,
    if shorter; down to its shortest lookback, below which the run fails saying how much history is missing."""
    windows = evolution_windows(day, evolution.lookback_days, evolution.split)
    first_days = lake.lake().first_days("candles", settings.coins(), settings.interval())
    if not first_days or len(first_days) < len(settings.coins()):
        return evolution  # nothing (or not every coin) in the lake: the coverage check below explains
    first = max(first_days.values())
    if first <= windows.train.start.date():
        return evolution
    try:
        lookback = fitted_lookback(day, evolution.lookback_days, first, evolution.shortest_lookback_days)
    except ValueError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.warning(
        f"the lake's history starts {first} (latest first day over the coins): lookback {evolution.lookback_days} -> "
        f"{lookback} days, windows split {evolution.split} as before"
    )
    return evolution.model_copy(update={"lookback_days": lookback})
