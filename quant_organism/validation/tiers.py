"""The gate's tiers: how the family-wise error of a night is shared between documented and exploratory evidence.

A documented hypothesis (a pre-registered portfolio rule, strategies/portfolio.py) has few trials and years of
untouched evidence; the exploratory search has thousands of trials and only its held-out windows. Giving each a
fixed share of one error budget lets the documented tier keep its power while the search keeps its own gate.
The shares are constants, chosen before any data was seen, never settings: by the union (Bonferroni) bound the
chance that any tier passes a false edge on a night is at most their sum, FAMILY_WISE_ERROR, whatever the
dependence between tiers. Inside the documented tier each family has its own fixed level (weighted Bonferroni,
the weights from how well documented the effect is): time-series trend, the effect with the longest published
record across asset classes, gets most of it. Each family's level is spent once over the product's life by
its rules' e-processes, closed-tested with the average e-value (validation/always_valid.py), which pays about
one rule's price for rules that move together.

The exploratory share is split evenly between the two searches, each with its own held-out gate: the seed genomes'
(one coin's signal, judged on every coin: validation/held_out.py) and the portfolio genomes' (a book across coins:
validation/searched_rules.py). The split was set before either search's candidates were judged, and favours neither.
"""

from __future__ import annotations

FAMILY_WISE_ERROR = 0.025
DOCUMENTED_LEVEL = 0.020
EXPLORATORY_LEVEL = FAMILY_WISE_ERROR - DOCUMENTED_LEVEL  # 0.005: the searches' held-out gates together
GENOME_SEARCH_LEVEL = EXPLORATORY_LEVEL / 2  # 0.0025: the seed genomes' gate (validation/held_out.py)
PORTFOLIO_SEARCH_LEVEL = EXPLORATORY_LEVEL - GENOME_SEARCH_LEVEL  # 0.0025: the portfolio genomes' (validation/searched_rules.py)
DOCUMENTED_FAMILY_LEVELS: dict[str, float] = {"ts_trend": 0.015, "xs_momentum": 0.003, "funding_carry": 0.002}

assert abs(sum(DOCUMENTED_FAMILY_LEVELS.values()) - DOCUMENTED_LEVEL) < 1e-12
