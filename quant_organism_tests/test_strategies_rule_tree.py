"""Rule trees: one canonical text, the operators' semantics on the leaves' own signals, no lookahead, a batch equal
to one by one, an exact round trip through a strategy config, and DEAP's variation kept within the grammar."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quant_organism.catalog import StrategyConfig
from quant_organism.core.bars import REGIME_HMM, REGIME_SENTIMENT, REGIME_TREND, REGIME_VOL
from quant_organism.evolution import gp
from quant_organism.strategies import SeedGenes, SeedType, get_registry
from quant_organism.strategies.rule_tree import MAX_DEPTH, RuleError, canonical_rule, describe, leaf_genes, nodes
from quant_organism_tests.support.markets import regime_market

EMA = {"leaf": {"seed_type": "ema_crossover", "fast_period": 8, "slow_period": 40}}
SMA = {"leaf": {"seed_type": "sma_trend", "fast_period": 10, "slow_period": 60}}
RSI = {"leaf": {"seed_type": "rsi_filter", "fast_period": 6, "slow_period": 100}}
HIGH_VOL = {"cond": "vol_ratio", "fast": 12, "slow": 120, "above": 1.1}


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    """The causality tests' market with regime columns (values per bar, some unknown), as the regime asset joins them."""
    frame = regime_market()
    rng = np.random.default_rng(4)
    n = len(frame)
    frame[REGIME_VOL] = np.repeat(rng.integers(0, 3, n // 50 + 1), 50)[:n].astype(float)
    frame[REGIME_TREND] = np.repeat(rng.integers(0, 3, n // 80 + 1), 80)[:n].astype(float)
    frame[REGIME_HMM] = np.repeat(rng.integers(0, 2, n // 30 + 1), 30)[:n].astype(float)
    frame[REGIME_SENTIMENT] = np.repeat(rng.uniform(0, 100, n // 24 + 1), 24)[:n]
    frame.iloc[:100, frame.columns.get_loc(REGIME_VOL)] = np.nan  # unknown at first: a condition on it does not hold
    return frame


def tree(node: dict, seed_id: str = "t", **genes) -> SeedGenes:
    return SeedGenes(seed_id=seed_id, seed_type="rule_tree", rule=json.dumps(node), **genes)


def signals(market: pd.DataFrame, genes: SeedGenes) -> np.ndarray:
    return get_registry().create_seed(genes.seed_type, genes).generate_signals(market).to_numpy()


def leaf(market: pd.DataFrame, node: dict) -> np.ndarray:
    return signals(market, leaf_genes(json.loads(canonical_rule(node))["leaf"]))


def test_a_rule_has_one_canonical_text_and_bad_rules_are_refused_with_their_reason():
    a = canonical_rule({"op": "and", "args": [EMA, SMA]})
    b = canonical_rule(json.dumps({"args": [EMA, SMA], "op": "and"}, indent=2))
    assert a == b and " " not in a
    assert json.loads(a)["args"][0]["leaf"]["signal_period"] == 12  # missing genes at their defaults, repaired
    assert tree({"op": "and", "args": [EMA, SMA]}).genes_hash() != tree({"op": "and", "args": [SMA, EMA]}).genes_hash()
    assert (
        tree({"op": "and", "args": [EMA, SMA]}, stop_loss=0.02).genes_hash()
        != tree({"op": "and", "args": [EMA, SMA]}).genes_hash()
    )
    for bad, reason in [
        ({"op": "xor", "args": [EMA, SMA]}, "not a position operator"),
        ({"op": "and", "args": [EMA]}, "takes 2"),
        ({"op": "gate", "args": [EMA, SMA]}, "unknown condition"),
        ({"op": "gate", "args": [{"cond": "eclipse"}, SMA]}, "unknown condition"),
        ({"leaf": {"seed_type": "linear_svc"}}, "cannot be a leaf"),
        ({"leaf": {"seed_type": "ema_crossover", "stop_loss": 0.1}}, "unknown gene"),
        ({"op": "gate", "args": [{"cond": "vol_ratio", "fast": 50, "slow": 20, "above": 1.0}, SMA]}, "fast < slow"),
    ]:
        with pytest.raises(RuleError, match=reason):
            canonical_rule(bad)
    deep = EMA
    for _ in range(MAX_DEPTH + 1):
        deep = {"op": "or", "args": [deep, SMA]}
    with pytest.raises(RuleError, match="deeper than"):
        canonical_rule(deep)
    with pytest.raises(ValueError, match="only a rule_tree"):
        SeedGenes(seed_id="x", seed_type="ema_crossover", rule=a)


def test_each_operator_combines_its_leaves_signals_as_documented(market):
    ema, sma, rsi = leaf(market, EMA), leaf(market, SMA), leaf(market, RSI)
    assert (ema != 0).mean() > 0.3 and (sma != 0).mean() > 0.3 and (rsi != 0).mean() > 0.02  # leaves that trade
    assert np.array_equal(signals(market, tree({"op": "and", "args": [EMA, SMA]})), np.where(ema == sma, ema, 0))
    assert np.array_equal(signals(market, tree({"op": "or", "args": [EMA, RSI]})), np.sign(ema.astype(int) + rsi))
    total = ema.astype(int) + sma + rsi
    vote = signals(market, tree({"op": "vote", "args": [EMA, SMA, RSI]}))
    assert np.array_equal(vote, np.where(np.abs(total) >= 2, np.sign(total), 0))
    high = (market[REGIME_VOL] == 2).to_numpy()
    gated = signals(market, tree({"op": "gate", "args": [{"cond": "high_volatility"}, EMA]}))
    assert np.array_equal(gated, np.where(high, ema, 0)) and not gated[:100].any()  # unknown regime: not high
    switch = {"op": "if", "args": [{"op": "not", "args": [{"cond": "uptrend"}]}, RSI, SMA]}
    up = (market[REGIME_TREND] == 2).to_numpy()
    assert np.array_equal(signals(market, tree(switch)), np.where(~up, rsi, sma))
    fear_or_greed = {"op": "either", "args": [{"cond": "fear"}, {"cond": "greed"}]}
    extreme = ((market[REGIME_SENTIMENT] <= 25) | (market[REGIME_SENTIMENT] >= 75)).to_numpy()
    assert np.array_equal(signals(market, tree({"op": "gate", "args": [fear_or_greed, SMA]})), np.where(extreme, sma, 0))
    log_returns = np.log(market["close"]).diff()
    ratio = log_returns.rolling(12).std() / log_returns.rolling(120).std()
    by_vol = signals(market, tree({"op": "gate", "args": [HIGH_VOL, SMA]}))
    agree = np.where((ratio > 1.1).to_numpy(), sma, 0)
    assert (by_vol == agree).mean() > 0.995 and (by_vol != 0).any()  # rolling std to rounding at the threshold
    assert not by_vol[:120].any()  # the long window not yet filled: the condition does not hold
    # the tree's own regime gene filters the composed position, as a template's filters its own
    filtered = signals(market, tree({"op": "and", "args": [EMA, SMA]}, regime_filter=3))
    trend = market[REGIME_TREND].to_numpy()
    unfiltered = signals(market, tree({"op": "and", "args": [EMA, SMA]}))
    assert np.array_equal(
        filtered, np.where(((unfiltered > 0) & (trend == 0)) | ((unfiltered < 0) & (trend == 2)), 0, unfiltered)
    )
    assert not np.array_equal(filtered, unfiltered)


def random_trees(n: int, seed: int = 3) -> list[SeedGenes]:
    rng = np.random.default_rng(seed)
    return [SeedGenes.from_gene_values("rule_tree", f"r{k}", gp.random_genome_values(SeedType.RULE_TREE, rng)) for k in range(n)]


def test_trees_see_no_future_bar_and_a_batch_equals_one_by_one(market):
    trees = random_trees(16)
    assert max(nodes(json.loads(t.rule)) for t in trees) >= 7 and any("cond" in t.rule for t in trees)
    registry = get_registry()
    full = registry.batch_signals(SeedType.RULE_TREE, market, trees)
    assert (full != 0).any().sum() >= 8  # most trees trade
    for cut in (1, 50, 333, 777, 1200, len(market) - 1):
        prefix = registry.batch_signals(SeedType.RULE_TREE, market.iloc[:cut], trees)
        pd.testing.assert_frame_equal(prefix, full.iloc[:cut])
    for t in trees[:5]:
        assert np.array_equal(signals(market, t), full[t.seed_id].to_numpy())


def test_a_tree_round_trips_exactly_through_its_strategy_config():
    [genes] = random_trees(1, seed=9)
    config = StrategyConfig.from_genes(genes, fitness_score=1.0, backtest_sharpe=1.0)
    back = StrategyConfig.model_validate_json(config.model_dump_json())
    assert back.genes == genes and back.genes.rule == genes.rule and back.genes.genes_hash() == genes.genes_hash()
    assert back.name == genes.strategy_name()
    assert describe(genes.rule).count("(") >= 1


def test_deap_variation_stays_in_the_grammar_within_the_depth_and_is_reproducible():
    rng = np.random.default_rng(0)
    parents = [gp.random_genome_values(SeedType.RULE_TREE, rng) for _ in range(30)]
    children = []
    for a, b in zip(parents[::2], parents[1::2]):
        children += gp.crossover_values(SeedType.RULE_TREE, a, b, rng)
    children += [gp.mutate_values(SeedType.RULE_TREE, p, rng, 0.15, 0.1, force=True) for p in parents]
    for child in children:
        assert canonical_rule(child["rule"]) == child["rule"]
        assert gp.tree_of(child["rule"]).height <= MAX_DEPTH
        assert gp.rule_of(gp.tree_of(child["rule"])) == child["rule"]
    assert all(c != p for c, p in zip(children[30:], parents))  # a forced mutation changes the child
    assert len({c["rule"] for c in children}) > 30
    again = np.random.default_rng(0)
    assert [gp.random_genome_values(SeedType.RULE_TREE, again) for _ in range(30)] == parents  # the global `random` untouched
    with pytest.raises(ValueError, match="template"):
        gp.random_genome_values(SeedType.EMA_CROSSOVER, rng)


def test_where_people_read_verdicts_a_tree_shows_its_rule_in_one_line():
    from quant_organism.validation.verdict import CandidateVerdict, ValidationMode
    from quant_organism.validation.verdict_tables import candidate_rows

    rule = canonical_rule({"op": "gate", "args": [{"cond": "high_volatility"}, SMA]})
    verdicts = [CandidateVerdict(name, ValidationMode.MINIMAL, {}, None, False, ["no excess"]) for name in ("tree_a", "ema_b")]
    rows = {row["candidate"]: row for row in candidate_rows(verdicts, {"tree_a": describe(rule)})}
    assert rows["tree_a"]["rule"] == "gate(high_volatility, sma_trend)" and rows["ema_b"]["rule"] is None
    assert rows["ema_b"]["reason"] == "no excess" and rows["ema_b"]["passed"] is False


def test_trees_breed_the_same_in_every_process():
    """The same generator gives the same children in any process (DEAP's own crossover draws its type from a set
    of classes, ordered by their addresses: `gp.one_point_crossover` orders them by name)."""
    import subprocess
    import sys

    probe = (
        "import numpy as np, hashlib; from quant_organism.evolution import gp; from quant_organism.strategies import SeedType\n"
        "rng = np.random.default_rng(1); t = SeedType.RULE_TREE\n"
        "parents = [gp.random_genome_values(t, rng) for _ in range(24)]\n"
        "kids = [c['rule'] for a, b in zip(parents[::2], parents[1::2]) for c in gp.crossover_values(t, a, b, rng)]\n"
        "kids += [gp.mutate_values(t, p, rng, 0.15, 0.1, force=True)['rule'] for p in parents]\n"
        "print(hashlib.sha256(''.join(kids).encode()).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2", "3", "4"):  # other hash seeds, and other memory layouts
        run = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env={"PYTHONHASHSEED": seed}, check=True
        )
        digests.add(run.stdout.strip())
    assert len(digests) == 1


def test_a_graft_puts_one_of_the_islands_templates_in_place_of_a_leaf():
    rng = np.random.default_rng(5)
    template = SeedGenes.create_default("sma_trend", "s").gene_values() | {"fast_period": 17, "slow_period": 143}
    donor = gp.donor_leaf(SeedType.SMA_TREND, template)
    assert gp.donor_leaf(SeedType.FUNDING_CARRY, SeedGenes.create_default("funding_carry", "f").gene_values()) is None
    grafted = json.dumps({"leaf": json.loads(canonical_rule({"leaf": donor}))["leaf"]}, sort_keys=True, separators=(",", ":"))
    parents = [gp.random_genome_values(SeedType.RULE_TREE, rng) for _ in range(40)]
    children = [gp.mutate_values(SeedType.RULE_TREE, p, rng, 0.15, 0.1, force=True, donors=[donor]) for p in parents]
    took = sum(grafted in c["rule"] and grafted not in p["rule"] for c, p in zip(children, parents))
    assert 2 <= took <= 20  # a fifth of the tree's mutations, half of the children mutate their tree
    without = [gp.mutate_values(SeedType.RULE_TREE, p, np.random.default_rng(5), 0.15, 0.1, force=True) for p in parents]
    assert not any(grafted in c["rule"] for c in without)
