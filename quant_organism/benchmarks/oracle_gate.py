"""`bench organism --oracle`: how often the gate would pass the planted rule itself.

Why: the search's power on a planted market is bounded by the gate's power on the best candidate the search
could breed. Handing the gate the planted rule itself (the oracle: no search, nothing chosen, so no winner's
curse) measures that bound on the same markets, the same held-out windows and the same test statistic as the
gate's (each candidate's daily excess over the beta-matched market, validation/held_out.gate_inputs). It is
judged at the exploratory tier's level twice: counted among the production search's 50 candidates as if they
were independent (the planner's reading of the search gate, docs/validation.md) and alone (a single test, the
most lenient multiplicity any gate could give it). Where even the oracle passes less often than a power target,
no search can meet that target without a looser gate; history can (the held-out days grow with the lookback).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from quant_organism.benchmarks.pooled import wilson

COINS = ("BTC", "ETH", "SOL", "DOGE", "XRP")  # bench organism's planted markets (organism.DEFAULT_COINS)
START = pd.Timestamp("2024-01-01", tz="UTC")  # and their first day (organism.START)
SEARCH_CANDIDATES = 50  # the production preset's validated candidates (StrategyConfigsConfig.max_strategies)


@dataclass(frozen=True)
class OracleRow:
    kind: str
    rule: str
    lookback_days: int
    held_out_days: int
    markets: int
    mean_excess_sharpe: float  # annual, held-out span
    pass_among_50: int
    pass_alone: int

    def record(self) -> dict:
        low, high = wilson(self.pass_among_50, self.markets)
        low1, high1 = wilson(self.pass_alone, self.markets)
        return {
            "kind": self.kind,
            "rule": self.rule,
            "lookback_days": self.lookback_days,
            "held_out_days": self.held_out_days,
            "markets": self.markets,
            "held_out_excess_sharpe": round(self.mean_excess_sharpe, 2),
            "passes_among_50": f"{self.pass_among_50 / self.markets:.0%} [{low:.0%}, {high:.0%}]",
            "passes_alone": f"{self.pass_alone / self.markets:.0%} [{low1:.0%}, {high1:.0%}]",
        }


def oracle_rows(
    kind: str, strength: float, first_seed: int, markets: int, lookback_days: int, rules: dict,
    coins: tuple[str, ...] = COINS, start: pd.Timestamp = START,
) -> list[OracleRow]:  # fmt: skip
    """The gate's verdict on each of `rules` (name -> SeedGenes) over `markets` planted markets of `kind` (on
    `coins` from `start`, as `bench organism` plants them), each `lookback_days` long and split as the production
    preset splits that much history."""
    from quant_organism.benchmarks.planted_strength import market_frames
    from quant_organism.core.metrics import sharpe
    from quant_organism.evolution.date_windows import evolution_windows
    from quant_organism.evolution.evolution_config import load_preset
    from quant_organism.market.sources.planted import PlantedMarket
    from quant_organism.validation.held_out import gate_inputs, held_out_evidence
    from quant_organism.validation.power import per_test_level
    from quant_organism.validation.tiers import GENOME_SEARCH_LEVEL

    config = load_preset("full").for_history(lookback_days)
    end = start + pd.Timedelta(days=config.lookback_days)
    windows = evolution_windows((end - pd.Timedelta(days=1)).date(), config.lookback_days, config.split)
    candidates = [genes.model_copy(update={"seed_id": name}) for name, genes in rules.items()]
    thresholds = {m: norm.isf(per_test_level(GENOME_SEARCH_LEVEL, m)) for m in (SEARCH_CANDIDATES, 1)}
    statistics = []
    for k in range(markets):
        market = PlantedMarket(kind=kind, strength=strength, seed=first_seed + k, coins=coins, start=start, end=end)
        evidence = held_out_evidence(candidates, market_frames(market), windows.out_of_sample, windows.walk_forward)
        excess = gate_inputs(evidence, GENOME_SEARCH_LEVEL).excess
        statistics.append(dict(zip(excess.columns, sharpe(excess) * math.sqrt(len(excess)))))  # each column's t
        days = len(excess)
    table = pd.DataFrame(statistics)
    years = days / 365.0
    return [
        OracleRow(
            kind,
            name,
            config.lookback_days,
            days,
            markets,
            float(np.mean(table[name])) / math.sqrt(years),
            int((table[name] > thresholds[SEARCH_CANDIDATES]).sum()),
            int((table[name] > thresholds[1]).sum()),
        )  # fmt: skip
        for name in rules
    ]
