"""`python -m quant_organism.benchmarks organism --deaths`: what death reports change in the next search.

A planted trend market whose trend families then stop paying: their strategies are retired with losing forward
records, and the next search reads the reports (evolution/death_feedback.py). On the same market and seed, the
search runs twice, without the reports and with them (two forward failures for each trend family within the
year, the reports a nightly deployment writes). Reported: the trend families' share of the random initial
population, of the final population and of the candidates validation would judge (`select_candidates`), pooled
over the seeds with Wilson intervals. The reports move the draw; selection on the train window may bring a family
back if it still pays there, and that is what the candidates' share shows.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import pandas as pd

SEEDS = 10
STRENGTH = 0.3  # the planted trend's strength (market/sources/planted.py): a trend the trend families earn on
LOOKBACK_DAYS = 240  # the preset's split: the first 40% trains
SEARCH = {"total_strategies": 200, "batch_size": 50, "generations": 8}  # a small production-shaped search


def _reports(day: date):
    from quant_organism.catalog.death_reports import DeathReport, ForwardFigures
    from quant_organism.market.sources.planted import TREND_FAMILIES

    return [
        DeathReport(
            f"{family}_{k}",
            family,
            (day - timedelta(days=30 * (k + 1))).isoformat(),
            "futile: its forward record lost",
            ForwardFigures(90, -0.0005, -0.9),
        )  # fmt: skip
        for family in sorted(TREND_FAMILIES)
        for k in range(2)
    ]


def one_search(seed: int, with_reports: bool) -> dict:
    """The trend families' counts in one search's initial population, final population and candidates."""
    from quant_organism.benchmarks.planted_strength import market_frames
    from quant_organism.evolution.death_feedback import family_weights
    from quant_organism.evolution.evolution_config import load_preset
    from quant_organism.evolution.evolve import run_evolution
    from quant_organism.evolution.operators import allocate
    from quant_organism.evolution.result import select_candidates
    from quant_organism.market.sources.planted import TREND_FAMILIES, PlantedMarket

    start = pd.Timestamp("2024-01-01", tz="UTC")
    end = start + pd.Timedelta(days=LOOKBACK_DAYS)
    frames = market_frames(PlantedMarket("trend", STRENGTH, seed, start=start, end=end))
    day = (end - pd.Timedelta(days=1)).date()
    evolution = load_preset("full", executor="serial", random_seed=seed, lookback_days=LOOKBACK_DAYS, **SEARCH)
    if with_reports:
        evolution = evolution.model_copy(update={"seed_types": family_weights(evolution.seed_types, _reports(day), day).weights})
    drawn = allocate(SEARCH["total_strategies"], evolution.seed_type_weights())
    result = run_evolution(frames, evolution, evolution_date=day)
    candidates = select_candidates(result, 0.1, 50)
    population = result.population.loc[result.population["valid"].astype(bool)].drop_duplicates("genes_hash")
    return {
        "seed": seed, "reports": with_reports,
        "initial": (sum(s.value in TREND_FAMILIES for s in drawn), len(drawn)),
        "population": (int(population["seed_type"].isin(TREND_FAMILIES).sum()), len(population)),
        "candidates": (sum(c.genes.seed_type.value in TREND_FAMILIES for c in candidates), len(candidates)),
    }  # fmt: skip


def measure(workers: int) -> list[str]:
    from quant_organism.benchmarks.pooled import run_in_pool, wilson

    started = time.perf_counter()
    runs = run_in_pool(one_search, [(seed, flag) for seed in range(SEEDS) for flag in (False, True)], workers, "searches")
    lines = [f"planted trend (strength {STRENGTH}), {SEEDS} seeds, {LOOKBACK_DAYS} days of hourly bars; search "
             f"{SEARCH}; reports: two forward failures for each trend family within the year"]  # fmt: skip
    for stage in ("initial", "population", "candidates"):
        cells = []
        for flag in (False, True):
            hits = sum(r[stage][0] for r in runs if r["reports"] == flag)
            total = sum(r[stage][1] for r in runs if r["reports"] == flag)
            low, high = wilson(hits, total)
            cells.append(f"{'after' if flag else 'before'} {hits}/{total} = {hits / max(total, 1):.1%} ({low:.1%}-{high:.1%})")
        lines.append(f"trend families' share of the {stage}: " + "; ".join(cells))
    lines.append(f"wall time {time.perf_counter() - started:.0f} s")
    return lines
