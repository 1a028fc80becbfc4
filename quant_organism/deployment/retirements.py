"""The death reports of a night's retirements: for each strategy the deployment retires, why, its forward record
(its days after the date that chose it, as the night judged them) against what validation had seen, and the market
regimes those days met (catalog/death_reports.py says what the search may read of them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from quant_organism.catalog.death_reports import DeathReport, ForwardFigures
from quant_organism.core.metrics import sharpe
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.validation.held_out import daily_returns

HELD_OUT_PREFIXES = ("validation", "held_out", "spa", "wf", "oos")


def death_report(
    name: str,
    family: str,
    day: date,
    why: str,
    forward_bars: pd.Series | None,
    paper: PaperRecord | None = None,
    held_out: Mapping[str, object] | None = None,
    genome: str | None = None,
    regimes: pd.DataFrame | None = None,
) -> DeathReport:
    """The report of `name` retired on `day`. `forward_bars`: its per-bar forward returns (NaN before its forward
    record), from which the forward figures are taken; without them, its paper record's days and Sharpe."""
    daily = daily_returns(forward_bars.to_frame(name))[name].dropna() if forward_bars is not None else pd.Series(dtype=float)
    if len(daily):
        forward = ForwardFigures(len(daily), float(daily.mean()), float(sharpe(daily, 365.0)) if len(daily) > 1 else None)
    else:
        forward = ForwardFigures(paper.days if paper else 0, None, paper.sharpe if paper else None)
    met: dict[str, int] = {}
    if regimes is not None and len(regimes) and len(daily) and "trend_regime" in regimes:
        days = pd.DatetimeIndex(daily.index).tz_convert(None).normalize() if daily.index.tz else daily.index.normalize()
        seen = regimes.reindex(days)
        labels = seen["trend_regime"].astype(str) + "/" + seen["vol_regime"].astype(str) + " vol"
        met = {str(k): int(v) for k, v in labels[seen["trend_regime"].notna()].value_counts().items()}
    kept = {k: v for k, v in (held_out or {}).items() if str(k).startswith(HELD_OUT_PREFIXES)}
    return DeathReport(name, family, day.isoformat(), why, forward, genome, kept, met)
