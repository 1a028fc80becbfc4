"""`bench organism --search`: what each arm changes in the search, and when a rule tree counts as capturing."""

from __future__ import annotations

import json

import pytest

from quant_organism.benchmarks.organism import ARMS, FOLDS, TREE_WEIGHT, _captures, arm_overrides
from quant_organism.evolution.config import EvolutionConfig, load_preset
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
