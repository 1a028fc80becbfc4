"""The fused kernel (backtest/compiled/fused.py) equals the unfused engine bit for bit, and its cache cannot go stale.

Unfused: each seed's `positions_batch` (rule planes, tracker, regime gene) gives a bars x genomes target
matrix, which `simulate` scores column by column. Fused: one compiled call per batch, one genome at a time,
no matrix. Every metric must be identical, NaN slots included, for all ten rule seeds with stops, take
profits, position sizes, funding, costs, regime genes and the time and trailing stops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest import CostModel
from quant_organism.backtest.compiled.fused import KERNELS, fused_metrics
from quant_organism.backtest.evaluate import prepare_frame, universe_metrics
from quant_organism.backtest.inputs import targets_array
from quant_organism.backtest.simulate import Params, fused_sim, simulate
from quant_organism.core.numba_cache import drop_stale_cache
from quant_organism.strategies import TECHNICAL_SEEDS, SeedGenes, SeedType, get_registry
from quant_organism.strategies.base import RuleSeed

COSTS = CostModel(take_profit_order="limit")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Four months of hourly bars with funding and every regime column, some regimes unknown."""
    rng = np.random.default_rng(11)
    n = 24 * 120
    index = pd.date_range("2024-02-01", periods=n, freq="h", tz="UTC")
    close = 40_000 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.006))
    opens = np.r_[40_000.0, close[:-1]]
    regimes = {
        "regime_vol": rng.integers(0, 3, n).astype(float),
        "regime_hmm": rng.integers(0, 2, n).astype(float),
        "regime_trend": rng.integers(0, 3, n).astype(float),
        "regime_sentiment": rng.uniform(0, 100, n),
    }
    for column in regimes.values():
        column[: 24 * 10] = np.nan  # too little history yet: unknown, not filtered
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * (1 + rng.uniform(0, 0.006, n)),
            "low": np.minimum(opens, close) * (1 - rng.uniform(0, 0.006, n)),
            "close": close,
            "volume": rng.lognormal(6, 1, n),
            "funding_rate": 4e-4 * np.sin(np.arange(n) * 2 * np.pi / 240) + rng.normal(0, 2e-5, n),
            **regimes,
        },
        index=index,
    )


def _genomes(seed_type, count: int, rng) -> list[SeedGenes]:
    genes = [SeedGenes.random(seed_type, f"{seed_type.value}{k}", rng) for k in range(count)]
    return [g.model_copy(update={"regime_filter": k % 5}) for k, g in enumerate(genes)]


@pytest.mark.parametrize("seed_type", TECHNICAL_SEEDS, ids=lambda s: s.value)
def test_fused_metrics_equal_the_engine_on_the_seeds_positions_bit_for_bit(frame, seed_type):
    prepared = prepare_frame(frame)
    genes = _genomes(seed_type, 24, np.random.default_rng(len(seed_type.value)))
    seed_class = get_registry().seed_class(seed_type)
    assert issubclass(seed_class, RuleSeed) and seed_type.value in KERNELS
    params = Params.of(len(genes), [g.stop_loss for g in genes], [g.take_profit for g in genes],
                       [g.position_size for g in genes])  # fmt: skip

    targets = targets_array(seed_class.positions_batch(prepared.signal_bars, genes), prepared.market.bars)
    unfused = simulate(prepared.market, targets, params, COSTS).metrics
    inputs = seed_class.rule_inputs(prepared.signal_bars, genes)
    sim = fused_sim(prepared.market, params, COSTS)
    fused = fused_metrics(inputs, prepared.signal_bars.regimes, [g.regime_filter for g in genes], sim)

    assert fused.shape == unfused.shape
    assert np.array_equal(fused, unfused, equal_nan=True)
    assert (fused[:, 5] > 0).sum() >= 4, "genomes must trade, or the test proves little"


def test_the_batch_path_takes_the_fused_path_and_keeps_input_order(frame):
    """The batch path scores rule seeds fused, in any interleaving and chunking, equal to the engine."""
    rng = np.random.default_rng(5)
    genes = [g for seed_type in TECHNICAL_SEEDS for g in _genomes(seed_type, 4, rng)]
    genes = [genes[k] for k in rng.permutation(len(genes))]
    prepared = prepare_frame(frame)
    (got,) = universe_metrics([prepared], genes, COSTS, chunk_size=3)
    registry = get_registry()
    for row, g in zip(got, genes):
        targets = targets_array(registry.batch_positions(g.seed_type, prepared.signal_bars, [g]), prepared.market.bars)
        want = simulate(prepared.market, targets, Params.of(1, g.stop_loss, g.take_profit, g.position_size), COSTS)
        assert np.array_equal(row, want.metrics[0], equal_nan=True), g.seed_id


def test_universe_metrics_read_each_batchs_genes_once_and_score_every_coin_as_alone(frame):
    """Several coins in one call (evolution's path): each coin's rows are what that coin alone gives, genes are
    read into columns once (read-only, shared by the coins), and columns of another seed's genes are refused."""
    rng = np.random.default_rng(6)
    genes = [g for seed_type in TECHNICAL_SEEDS for g in _genomes(seed_type, 3, rng)]
    genes = [genes[k] for k in rng.permutation(len(genes))]
    other = frame.iloc[::-1].set_axis(frame.index)  # the same bars reversed: another coin's market
    coins = [prepare_frame(frame), prepare_frame(other)]
    got = universe_metrics(coins, genes, COSTS, chunk_size=4)
    assert got.shape[:2] == (2, len(genes)) and not np.array_equal(got[0], got[1], equal_nan=True)
    for coin, prepared in enumerate(coins):
        assert np.array_equal(got[coin], universe_metrics([prepared], genes, COSTS)[0], equal_nan=True)

    seed_class = get_registry().seed_class(TECHNICAL_SEEDS[0])
    columns = seed_class.gene_columns(_genomes(TECHNICAL_SEEDS[0], 3, rng))
    period = columns.ints("fast_period")
    assert columns.ints("fast_period") is period and not period.flags.writeable
    with pytest.raises(ValueError, match="its own checked genes"):
        get_registry().seed_class(TECHNICAL_SEEDS[1]).rule_inputs(coins[0].signal_bars, columns)
    with pytest.raises(ValueError, match="is sma_trend"):
        seed_class.gene_columns(_genomes(SeedType.SMA_TREND, 1, rng))


def test_the_fused_cache_is_dropped_when_a_source_it_compiles_in_changes(tmp_path):
    folder, source = tmp_path / "cache", tmp_path / "rules.py"
    folder.mkdir()
    source.write_text("x = 1\n")
    built = folder / "fused.ema_crossover-60.py311.1.nbc"
    index = folder / "fused.ema_crossover-60.py311.nbi"
    other = folder / "kernel.simulate_nb-12.py311.nbi"
    for path in (built, index, other):
        path.write_bytes(b"cached")

    assert drop_stale_cache(folder, [source], "fused")  # no stamp yet: the build's sources are unknown
    assert not built.exists() and not index.exists() and other.exists()
    built.write_bytes(b"rebuilt")
    assert not drop_stale_cache(folder, [source], "fused")  # same sources: the new build stays
    assert built.exists()
    source.write_text("x = 2\n")  # an edit in a file the kernels compile in
    assert drop_stale_cache(folder, [source], "fused")
    assert not built.exists() and other.exists()


def test_every_kernel_that_compiles_in_another_modules_code_has_its_cache_stamped_with_that_module():
    """numba's cache notices edits to a kernel's own file only: a kernel calling another module's kernel, or reading
    another module's constant (compiled in as a literal), runs stale code after an edit there unless its cache is
    stamped with that module's source (`drop_stale_cache`; a tiled division in walk_forward.py ran its old loop in
    tree.py's cached kernels, 2026-11-28). Every module of the package is imported and each kernel's global names
    are resolved: every other module they come from must be among the sources of the kernel module's stamp."""
    import importlib
    import pkgutil
    import sys
    from types import ModuleType

    from numba.core.registry import CPUDispatcher

    import quant_organism
    from quant_organism.core import numba_cache

    for info in pkgutil.walk_packages(quant_organism.__path__, "quant_organism."):
        if ".defs" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    ours = {name: m for name, m in sys.modules.items() if name.startswith("quant_organism.") and isinstance(m, ModuleType)}
    checked = []
    for name, module in ours.items():
        kernels = [v for v in vars(module).values() if isinstance(v, CPUDispatcher) and v.py_func.__module__ == name]
        imported = _names_imported_from(module)
        needs = set()
        for k in kernels:
            for used in k.py_func.__code__.co_names:
                value = vars(module).get(used)
                if isinstance(value, CPUDispatcher) and value.py_func.__module__ != name:
                    needs.add(value.py_func.__module__)
                elif isinstance(value, ModuleType) and value.__name__ in ours and value.__name__ != name:
                    needs.add(value.__name__)
                elif isinstance(value, (int, float)) and imported.get(used) in ours:
                    needs.add(imported[used])  # another module's constant
        if not needs:
            continue
        key = (Path(kernels[0].stats.cache_path), Path(module.__file__).stem)
        stamped = {Path(p).resolve() for p in numba_cache.STAMPED.get(key, ())}
        missing = sorted(n for n in needs if Path(ours[n].__file__).resolve() not in stamped)
        assert not missing, f"{name}'s kernels compile in {missing} but its cache is not stamped with them"
        checked.append(name.rsplit(".", 1)[1])
    assert {"kernel", "fused", "quantile_tree", "hinge"} <= set(checked), checked


def _names_imported_from(module) -> dict[str, str]:
    """name -> the module it is imported from, for the `from ... import name` statements of a module's source."""
    import ast

    tree = ast.parse(Path(module.__file__).read_text())
    is_package = Path(module.__file__).name == "__init__.py"
    package = module.__name__ if is_package else module.__name__.rsplit(".", 1)[0]
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                out[alias.asname or alias.name] = base
    return out
