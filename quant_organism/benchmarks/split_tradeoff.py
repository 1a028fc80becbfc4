"""`python -m quant_organism.benchmarks organism --split`: how a fixed history is best divided between selection (train)
and the gate (held-out), modelled.

Why: the search trains on its lookback's oldest 216 days and gives every further day to the held-out windows
(evolution/config.EvolutionConfig.for_history). Selection among thousands of genomes on 216 days cannot tell a
Sharpe-1.5 edge from the luckiest null, and the gate then rightly refuses what it picked. This model states the
trade-off before any design is chosen (issue 79, "windows for discovery").

The model, on H years of daily returns split into T years of train and H - T of held-out:
- K independent null genomes (annual Sharpe 0) and one planted genome of annual Sharpe S; each one's train Sharpe is
  its true Sharpe plus a normal error of 1 / sqrt(T) (daily returns, annualised);
- selection sends the top M train Sharpes to the gate: the planted genome is among them when its train Sharpe
  beats the M-th largest of the K nulls' (drawn exactly: the M-th largest of K uniforms is Beta(K - M + 1, M));
- the gate passes it when its held-out t-statistic, S sqrt(H - T) plus a standard normal, clears the one-sided
  Bonferroni bound at the search's 0.5% over the M candidates (SPA/StepM is somewhat less strict).
Power is the product of the two. K stands for the effective number of independent trials the search spends: a
search of 7,500 correlated genomes spends far fewer, so three values bracket it. What the model leaves out: a
search that finds genomes *near* the planted one (a family, not one rule), overlapping windows, non-normal days.
It is a design input, not a measurement of the search: the full search's power is the issue's acceptance bench.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

HISTORY_YEARS = 5.5  # the planted markets: six years of daily bars, less the warm-up and forward span
TRAIN_YEARS = (216 / 365, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5)
SHARPES = (1.0, 1.5, 2.0)
TRIALS = (100, 1000, 7500)
CANDIDATES = (5, 50)  # what the gate judges: ChainSettings.max_candidates (50), and a short list
LEVEL = 0.005  # the search's share of a night's error
DRAWS = 200_000


def power(sharpe: float, train_years: float, trials: int, history_years: float = HISTORY_YEARS,
          candidates: int = 50, level: float = LEVEL, draws: int = DRAWS, seed: int = 0) -> tuple[float, float, float]:  # fmt: skip
    """(P(selected), P(passes | selected), their product) for one cell of the model."""
    rng = np.random.default_rng(seed)
    se = 1.0 / np.sqrt(train_years)
    if trials < candidates:  # fewer nulls than places: the planted genome is always sent
        selected = 1.0
    else:
        kth = rng.beta(trials - candidates + 1, candidates, draws)  # the M-th largest of K uniforms
        bar = se * special.ndtri(kth)  # ... as the M-th largest null train Sharpe
        selected = float(np.mean(sharpe + se * rng.standard_normal(draws) > bar))
    held = history_years - train_years
    passes = float(stats.norm.sf(stats.norm.isf(level / candidates) - sharpe * np.sqrt(held)))
    return selected, passes, selected * passes


def table() -> list[str]:
    lines = [f"model: {HISTORY_YEARS:g} years of daily returns; M candidates to the gate at {LEVEL:.1%} (Bonferroni); "
             f"K effective null trials; cells: P(selected) x P(passes) = power"]  # fmt: skip
    header = "| M | K | Sharpe | " + " | ".join(f"train {t * 365:.0f} d" for t in TRAIN_YEARS) + " | best train |"
    lines += ["", header, "|" + "---|" * (len(TRAIN_YEARS) + 4)]
    for candidates in CANDIDATES:
        for trials in TRIALS:
            for sharpe in SHARPES:
                cells = [power(sharpe, t, trials, candidates=candidates) for t in TRAIN_YEARS]
                best = int(np.argmax([c[2] for c in cells]))
                row = " | ".join(f"{s:.0%}×{p:.0%}={w:.0%}" for s, p, w in cells)
                lines.append(f"| {candidates} | {trials} | {sharpe:g} | {row} | {TRAIN_YEARS[best] * 365:.0f} d |")
    return lines
