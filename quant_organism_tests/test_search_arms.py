"""`bench organism --search`: what each arm changes in the search, and when a rule tree counts as capturing."""

from __future__ import annotations

import json

import pytest

from quant_organism.benchmarks.organism import ARMS, FOLDS, TREE_WEIGHT, _captures, arm_overrides
from quant_organism.evolution.evolution_config import EvolutionConfig, load_preset
from quant_organism.market.sources.planted import CAPTURING_FAMILIES
from quant_organism.strategies import SeedGenes


def test_each_arm_changes_only_what_it_names():
    full = load_preset("full")
    assert arm_overrides("templates", full) == {}
    assert arm_overrides("folds", full) == {"fitness_folds": FOLDS}
    trees = arm_overrides("trees", full)
    assert trees["seed_types"]["rule_tree"] == TREE_WEIGHT and set(trees["seed_types"]) == set(full.seed_types) | {"rule_tree"}
    assert arm_overrides("trees+folds", full) == {**trees, "fitness_folds": FOLDS}
    for arm in ARMS:  # each arm is a valid config
        assert EvolutionConfig.model_validate({**full.model_dump(), **arm_overrides(arm, full)}).total_strategies == 500
    with pytest.raises(ValueError, match="unknown search arm"):
        arm_overrides("bagging", full)


def test_a_tree_captures_through_a_leaf_of_a_capturing_family():
    trend = CAPTURING_FAMILIES["regime"]
    gated = {
        "op": "gate",
        "args": [{"cond": "vol_ratio", "fast": 24, "slow": 240, "above": 1.3}, {"leaf": {"seed_type": "sma_trend"}}],
    }
    reverting = {"op": "and", "args": [{"leaf": {"seed_type": "rsi_filter"}}, {"leaf": {"seed_type": "stochastic"}}]}
    tree = SeedGenes(seed_id="t", seed_type="rule_tree", rule=json.dumps(gated))
    assert _captures("rule_tree", tree, trend)
    assert not _captures("rule_tree", SeedGenes(seed_id="r", seed_type="rule_tree", rule=json.dumps(reverting)), trend)
    assert _captures("sma_trend", None, trend) and not _captures("rsi_filter", None, trend)


def test_pbo_on_noise_is_the_mean_with_its_standard_error():
    import pandas as pd

    from quant_organism.benchmarks.organism import _pbo_text

    assert _pbo_text(pd.Series([0.3, 0.5, 0.4, 0.45])) == "0.41 ± 0.04"  # sd 0.0854 over sqrt(4)
    assert _pbo_text(pd.Series([0.4])) == "0.40 ± nan" and _pbo_text(pd.Series([float("nan")])) == "n/a"


def test_the_oracle_gate_passes_nothing_on_noise_and_a_strong_planted_tree_alone():
    """The bound `--oracle` reports: the gate's own statistic on a fixed rule, no search. On null markets the planted
    tree passes nowhere (the test keeps its size); on a strong switch market it beats its own trend leaf."""
    from quant_organism.benchmarks.oracle_gate import oracle_rows
    from quant_organism.benchmarks.planted_strength import PLANTED_RULES

    rules = {"tree": PLANTED_RULES["switch"], "trend": PLANTED_RULES["trend"]}
    null = oracle_rows("null", 0.0, 7, 2, 540, rules)
    assert [r.held_out_days for r in null] == [324, 324] and all(r.pass_alone == r.pass_among_50 == 0 for r in null)
    tree, trend = oracle_rows("switch", 0.2, 7, 1, 540, rules)
    assert tree.pass_alone == 1 and tree.mean_excess_sharpe > trend.mean_excess_sharpe > 0
    assert tree.record()["passes_alone"].startswith("100%")
