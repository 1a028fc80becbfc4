"""No lookahead and batch == one-by-one, for every seed, on a deterministic synthetic market with regimes.

Lookahead is proven by prefix invariance: the signals computed on bars[:cut] must equal the signals
computed on all bars, restricted to [:cut]. Any use of a later bar (a centred window, a global
normalisation, a refit schedule anchored at the end, a label from the future) breaks it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.strategies import ML_SEEDS, SeedGenes, SeedType, get_registry, indicators
from quant_organism.strategies.indicators import Indicators
from quant_organism.strategies.ohlcv import prepare_bars
from quant_organism.strategies.walk_forward import MlFeatures, WalkForward
from quant_organism_tests.support.markets import regime_market

N_BARS = 1500


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return regime_market()


def genomes(seed_type: SeedType, n_random: int, seed: int = 0) -> list[SeedGenes]:
    rng = np.random.default_rng(seed)
    out = [SeedGenes.create_default(seed_type, "default")]
    for i in range(n_random):
        if seed_type is SeedType.RULE_TREE:  # trees as evolution draws them (DEAP's genHalfAndHalf)
            from quant_organism.evolution import gp

            out.append(SeedGenes.from_gene_values(seed_type, f"random-{i}", gp.random_genome_values(seed_type, rng)))
            continue
        genes = SeedGenes.random(seed_type, f"random-{i}", rng)
        if seed_type in ML_SEEDS:  # keep training sets inside the 1,500 test bars
            params = {**genes.parameters, "train_window": min(genes.parameters["train_window"], 600)}
            genes = SeedGenes.from_gene_values(seed_type, genes.seed_id, {**genes.gene_values(), **params})
        out.append(genes)
    return out


def cut_points(full: pd.DataFrame, genes: list[SeedGenes], n_random: int, n_events: int) -> list[int]:
    """Where to cut: fixed and random bars, bars just after a position change (where a peek at the
    next bar would most likely show), and for ML seeds the bar after each refit."""
    rng = np.random.default_rng(1)
    n = len(full)
    changes = np.flatnonzero((full.diff().fillna(0) != 0).any(axis=1).to_numpy())
    cuts = {1, 2, n - 1, *rng.integers(3, n, n_random).tolist()}
    if len(changes):
        cuts |= set((rng.choice(changes, min(n_events, len(changes)), replace=False) + 1).tolist())
    for g in genes:
        if g.seed_type in ML_SEEDS:
            k = g.parameters["refit_every"]
            cuts |= {start + 1 for start in range(k, n - 1, k)}
    return sorted(c for c in cuts if 0 < c < n)


@pytest.mark.parametrize("seed_type", list(SeedType), ids=lambda s: s.value)
def test_signals_on_a_prefix_equal_the_full_signals(market: pd.DataFrame, seed_type: SeedType) -> None:
    ml = seed_type in ML_SEEDS
    genes = genomes(seed_type, n_random=2 if ml else 11)
    registry = get_registry()
    full = registry.batch_signals(seed_type, market, genes)
    assert full.index.equals(market.index)
    assert list(full.columns) == [g.seed_id for g in genes]
    assert (full.dtypes == np.int8).all()
    assert set(np.unique(full.to_numpy())) <= {-1, 0, 1}
    assert (full != 0).to_numpy().mean() > 0.01, "signals are (nearly) all flat: the test would prove nothing"
    for cut in cut_points(full, genes, n_random=4 if ml else 20, n_events=6 if ml else 40):
        prefix = registry.batch_signals(seed_type, market.iloc[:cut], genes)
        pd.testing.assert_frame_equal(prefix, full.iloc[:cut], obj=f"{seed_type.value} signals on bars[:{cut}]")


@pytest.mark.parametrize("seed_type", list(SeedType), ids=lambda s: s.value)
def test_changing_the_future_leaves_the_past_alone(market: pd.DataFrame, seed_type: SeedType) -> None:
    genes = [SeedGenes.create_default(seed_type, "default")]
    cut = 1100
    shocked = market.copy()
    factor = np.linspace(1.0, 0.5, len(market) - cut)  # a crash that only happens after the cut
    for column in ("open", "high", "low", "close"):
        shocked.iloc[cut:, shocked.columns.get_loc(column)] *= factor
    shocked.iloc[cut:, shocked.columns.get_loc("funding_rate")] = 1e-3
    registry = get_registry()
    before = registry.batch_signals(seed_type, market, genes)
    after = registry.batch_signals(seed_type, shocked, genes)
    pd.testing.assert_frame_equal(before.iloc[:cut], after.iloc[:cut])


@pytest.mark.parametrize("seed_type", list(SeedType), ids=lambda s: s.value)
def test_batch_equals_one_by_one(market: pd.DataFrame, seed_type: SeedType) -> None:
    genes = genomes(seed_type, n_random=2 if seed_type in ML_SEEDS else 7, seed=42)
    if seed_type not in ML_SEEDS:  # a twin sharing one period exercises the per-period cache
        twin = {**genes[1].gene_values(), "fast_period": genes[2].fast_period}
        genes.append(SeedGenes.from_gene_values(seed_type, "twin", twin))
    registry = get_registry()
    batch = registry.batch_signals(seed_type, market, genes)
    for g in genes:
        single = registry.create_seed(seed_type, g).generate_signals(market)
        assert single.name == g.seed_id and single.dtype == np.int8
        pd.testing.assert_series_equal(batch[g.seed_id], single, check_names=False)
    reordered = registry.batch_signals(seed_type, market, genes[::-1])
    pd.testing.assert_frame_equal(reordered, batch[[g.seed_id for g in genes[::-1]]])


@pytest.mark.parametrize(("refit_every", "train_window"), [(48, 200), (100, 1000), (7, 60)])
def test_walk_forward_trains_only_on_labels_known_at_prediction_time(refit_every: int, train_window: int) -> None:
    """Spy on the schedule: each row's feature is its own index and its label the bar its value is
    revealed (t + 1, as for a next-bar return), so every prediction can report what it was fitted on."""
    n = 700
    features = np.arange(n, dtype=float)[:, None]
    features[:25] = np.nan  # indicator warm-up
    revealed_at = np.arange(n, dtype=float) + 1
    revealed_at[-1] = np.nan  # the last bar's next return is unknown
    fits: list[tuple[float, float, int]] = []

    def fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        fits.append((x.min(), y.max(), len(x)))
        return (x.min(), y.max())

    def predict(model: tuple[float, float], x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.full(len(x), model[0]), np.full(len(x), model[1]), x[:, 0]])

    schedule = WalkForward(refit_every=refit_every, train_window=train_window)
    out = schedule.run(features, revealed_at, fit, predict, 3)
    t = np.arange(n)
    predicted = ~np.isnan(out[:, 1])
    assert predicted.sum() > n / 2
    assert (out[predicted, 1] <= t[predicted]).all(), "a prediction used a label revealed after its bar"
    block_start = (t // refit_every) * refit_every
    assert (out[predicted, 1] == block_start[predicted]).all()  # ...and all labels known at the refit bar
    assert (out[predicted, 0] >= block_start[predicted] - train_window).all()  # trailing window only
    assert (out[predicted, 2] == t[predicted]).all()  # each bar predicted from its own features
    assert all(size >= schedule.min_train for _, _, size in fits)


def test_refits_run_blas_on_the_calling_thread_and_leave_the_process_setting_alone():
    """A refit's products are too small to share among threads (on two cores they waited on each other): inside
    `WalkForward.run` every BLAS library runs one thread; outside it, what the process had is back."""
    import threadpoolctl

    def threads() -> dict[str, int]:
        return {pool["filepath"]: pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"}

    before = threads()
    seen: list[dict[str, int]] = []

    def fit(x: np.ndarray, y: np.ndarray) -> float:
        seen.append(threads())
        return float(np.mean(x.T @ x))

    features = np.random.default_rng(0).normal(size=(400, 3))
    WalkForward(refit_every=100, train_window=200).run(features, features[:, 0], fit, lambda m, x: np.full(len(x), m), 1)
    assert seen and all(counts and set(counts.values()) == {1} for counts in seen)
    after = threads()
    assert {library: after[library] for library in before} == before  # loaded before: as it was


def test_ml_features_are_the_stacked_indicator_series_to_the_last_bit(market: pd.DataFrame) -> None:
    """Each genome's feature matrix, written in one pass from the bars' kept indicator rows, is the lagged returns,
    RSI / 100 - 0.5, close / EMA - 1 (NaN where the EMA is not positive) and the realised volatility stacked from
    the single series (the halt's zero returns and the warm-ups' NaNs included); genomes sharing periods share it."""
    bars = prepare_bars(market)
    rng = np.random.default_rng(7)
    fast, slow, signal = rng.integers(2, 50, 12), rng.integers(5, 400, 12), rng.integers(2, 200, 12)
    fast[5], slow[5], signal[5] = fast[4], slow[4], signal[4]
    lags = rng.integers(1, 25, 12)
    lags[5] = lags[4]
    features = MlFeatures(Indicators(bars), fast, slow, signal)
    returns = indicators.log_returns(bars.close)
    for col in range(12):
        expected = np.column_stack(
            [indicators.shift(returns, lag) for lag in range(lags[col])]
            + [
                indicators.rsi(bars.close, int(fast[col])) / 100.0 - 0.5,
                indicators.ratio(bars.close, indicators.ema(bars.close, int(slow[col]))),
                indicators.rolling_std(returns, int(signal[col])),
            ]
        )
        got = features.matrix(col, int(lags[col]))
        assert got.shape == expected.shape and got.tobytes() == expected.tobytes()
        assert features.volatility(col).tobytes() == expected[:, -1].tobytes()
    assert features.matrix(5, int(lags[5])) is features.matrix(4, int(lags[4]))
    wide = MlFeatures(Indicators(bars), [14], [48], [24]).matrix(0, bars.n + 3)  # more lags than bars: NaN columns
    assert np.isnan(wide[:, bars.n : bars.n + 3]).all() and wide[-1, bars.n - 2] == returns[1]
