"""Backtest benchmark: 500 technical genomes on a year of hourly bars, ours beside two peers, one core.

What is timed (after warming every numba cache on a short slice first, so no compile time counts):
- ours: `evaluate_population` end to end (indicator rows shared per seed, then the fused kernel: rules,
  positions and the simulation with taker/maker fees, slippage, stop-loss/take-profit from the genes and
  hourly funding, all metrics, in one compiled call per batch; objectives and score), best of `--repeat`
  runs; beside it the unfused path split into signals (the registry's positions) and engine time;
- backtesting.py: one `Backtest.run` per genome on a subsample, on the same signals, with commission,
  spread and the genes' stops (its own statistics included, as it always computes them);
- vectorbt as its users run a search: every genome of the population a column of one `Portfolio.from_signals`
  call (the same signals, fees, slippage and per-column stops), then vectorbt's own metrics for all columns;
  the headline ratio to vectorbt (`speedup_vs_vectorbt`) is this one;
- naive vectorbt: one `Portfolio.from_signals` call per genome on the same subsample, same signals, fees,
  slippage and stops, then vectorbt's own metrics (return, Sharpe, Sortino, drawdown, trades);
- the headline rates and ratios (`evals_per_s`, the peers' rates, `speedup_vs_*`): the peers' genomes and
  passes of ours interleaved, each rate a mean over the same seconds (`time_paired`); with `--sample 0`
  (no peers) `evals_per_s` is the best pass;
- the two ML seeds on a few genomes, separately (they fit models walk-forward, a different scale), after
  the same warm-up (kernels loaded), best of three.
The process is pinned to one CPU and numba/BLAS pools are limited to one thread. The market is the
project's deterministic synthetic BTC year (candles + funding), or a seeded random walk without it.
- rule trees (evolution/gp.py's sampler) on bars with the regime columns: `tree_evals_per_s` beside the
  templates' best pass (`tree_vs_template_rate`).
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # effective only if numpy/numba are not imported yet; see _one_core

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from quant_organism.backtest import evaluate_population  # noqa: E402
from quant_organism.backtest.inputs import targets_array  # noqa: E402
from quant_organism.backtest.simulate import Market, Params, simulate  # noqa: E402
from quant_organism.benchmarks.workload import (  # noqa: E402
    COSTS,
    GENOMES,
    START,
    YEAR_DAYS,
    backtesting_py_runner,
    bars_with_funding,
    market,
    population,
    signals_for,
    spread,
    technical_genomes,
    timed_passes,
    warm,
)


def _one_core() -> int | None:
    """Pin this process to one CPU and cap thread pools at one thread; returns the CPU used."""
    cpu = None
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # noqa: BLE001 - numba may refuse if its pool was sized differently; affinity still holds
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    return cpu


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def time_ours(candles, funding, genes, repeat: int) -> dict:
    from quant_organism.strategies import get_registry

    warm(candles, funding, genes)
    runs, result = timed_passes(candles, funding, genes, repeat)
    # Where the time goes: signals through the registry, then the engine (simulation + metrics); best of `repeat`.
    registry = get_registry()
    bars = bars_with_funding(candles, funding)
    market_ = Market.prepare(candles, funding)
    by_type: dict = {}
    for g in genes:
        by_type.setdefault(g.seed_type, []).append(g)
    signal_s_by_type = {str(t): np.inf for t in by_type}
    engine_s_by_type = {str(t): np.inf for t in by_type}
    for _ in range(repeat):
        for seed_type, group in by_type.items():
            started = time.perf_counter()
            signals = registry.batch_signals(seed_type, bars, group)
            signal_s_by_type[str(seed_type)] = min(signal_s_by_type[str(seed_type)], time.perf_counter() - started)
            started = time.perf_counter()
            targets = targets_array(signals, market_.bars)
            params = Params.of(len(group), [g.stop_loss for g in group], [g.take_profit for g in group],
                               [g.position_size for g in group])  # fmt: skip
            simulate(market_, targets, params, COSTS)
            engine_s_by_type[str(seed_type)] = min(engine_s_by_type[str(seed_type)], time.perf_counter() - started)
    signals_s = sum(signal_s_by_type.values())
    engine_s = sum(engine_s_by_type.values())
    signal_s_by_type = {k: round(v, 4) for k, v in signal_s_by_type.items()}
    best = min(runs)
    return {
        "evals_per_s_best_pass": round(len(genes) / best, 1),
        "wall_s_best": round(best, 4),
        "wall_s_median": round(statistics.median(runs), 4),
        "signals_s": round(signals_s, 4),
        "engine_s": round(engine_s, 4),
        "engine_evals_per_s": round(len(genes) / engine_s, 1),
        "signals_s_by_seed_type": signal_s_by_type,
        "valid_share": round(float(result["valid"].mean()), 3),
        "mean_trades": round(float(result["trade_count"].mean()), 1),
    }


def time_paired(candles, funding, genes, sample, signals) -> dict:
    """Ours and both peers in the same seconds: for each sampled genome in turn, backtesting.py on it, naive
    vectorbt on it, then one pass of ours over the whole population. Each rate is its work over its summed time.

    Why interleaved: this machine's speed switches between two modes, one about 1.6 times the other, every few
    seconds (a plain Python loop: 27 or 50 ms, docs/history/2026-11-29-measurements.md), so a best-of-three of ours taken before a
    3 s pass of the peer put the ratio anywhere between x320 and x640 in one evening. Here each side is sampled
    through the same seconds in slices of comparable length (a pass of ours and a genome of a peer are each
    0.1-0.2 s), and both are means: the same estimator for both sides, as `KernelRate` is for evolution."""
    backtesting_py = backtesting_py_runner(candles)
    vectorbt = naive_vectorbt_runner(candles)
    batched = batched_vectorbt_runner(candles, genes, signals_for(candles, funding, genes))
    backtesting_py(sample[0], signals[0])  # warm the three (imports, caches, vectorbt's compile)
    vectorbt(sample[0], signals[0])
    batched()
    # ... and ours again after them: vectorbt's first run hands its memory back to the system, and the next pass
    # of ours then touches fresh pages (8-9k minor faults, about 14 us each on this VM: 0.18-0.23 s for a pass of
    # 0.065 s, 2026-11-28). Every side starts the timed loop warm.
    timed_passes(candles, funding, genes, 1)
    spent: dict[str, list[float]] = {"ours": [], "backtesting_py": [], "naive_vectorbt": [], "vectorbt_batched": []}

    def timed(name: str, step, *args, **kwargs) -> None:
        started = time.perf_counter()
        step(*args, **kwargs)
        spent[name].append(time.perf_counter() - started)

    for k, (g, s) in enumerate(zip(sample, signals)):
        timed("backtesting_py", backtesting_py, g, s)
        timed("naive_vectorbt", vectorbt, g, s)
        if k % BATCHED_EVERY == 0:  # a batched call is the whole population: one every few genomes of the others
            timed("vectorbt_batched", batched)
        spent["ours"] += timed_passes(candles, funding, genes, 1)[0]
    passes = spent["ours"]
    low, high = ratio_interval(passes, spent["backtesting_py"], len(genes))
    return {
        "speedup_vs_backtesting_py_ci": [low, high],
        "evals_per_s": round(len(genes) * len(passes) / sum(passes), 1),
        "backtesting_py_evals_per_s": round(len(sample) / sum(spent["backtesting_py"]), 2),
        "naive_vectorbt_evals_per_s": round(len(sample) / sum(spent["naive_vectorbt"]), 2),
        "vectorbt_batched_evals_per_s": round(len(genes) * len(spent["vectorbt_batched"]) / sum(spent["vectorbt_batched"]), 2),
        "vectorbt_batched_calls": len(spent["vectorbt_batched"]),
        "paired_passes": len(passes),
        "paired_pass_s": spread(passes, 4),
    }


def ratio_interval(ours: list[float], peer: list[float], genomes: int, reps: int = 4000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap of ours-over-peer, resampling the paired slices: slice k is a pass of ours over
    `genomes` and the peer on sampled genome k, taken in the same seconds. Resampling them together keeps what the
    machine's speed did to both sides, and the spread between the peer's genomes, in the interval."""
    ours_s, peer_s = np.asarray(ours, dtype=float), np.asarray(peer, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ours_s), size=(reps, len(ours_s)))
    ratios = genomes * peer_s[picks].sum(axis=1) / ours_s[picks].sum(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return round(float(low), 1), round(float(high), 1)


PEER_SAMPLE = 60
"""Genomes timed through each peer: the ratio's interval resamples them, and backtesting.py's time per genome
varies 0.07-0.55 s over the population (its trades), so 20 genomes left the interval about +-12% wide."""

BATCHED_EVERY = 5  # sampled genomes of the per-genome peers between two batched vectorbt calls


def _vectorbt_orders(held) -> dict:
    """vectorbt's four signal arrays from targets held at each bar (decided at t-1's close, traded at t's open): an
    array for one genome, a frame with one column per genome."""
    if isinstance(held, pd.DataFrame):
        return {k: pd.DataFrame(v, index=held.index, columns=held.columns) for k, v in _vectorbt_orders(held.to_numpy()).items()}
    before = np.concatenate([np.zeros_like(held[:1]), held[:-1]])
    return {
        "entries": (held == 1) & (before != 1),
        "exits": (held != 1) & (before == 1),
        "short_entries": (held == -1) & (before != -1),
        "short_exits": (held != -1) & (before == -1),
    }


def _vectorbt_metrics(pf) -> None:
    """The figures a vectorbt user reads for each column: return, Sharpe, Sortino, drawdown, trades."""
    pf.total_return(), pf.sharpe_ratio(), pf.sortino_ratio(), pf.max_drawdown()
    trades = pf.trades
    trades.count(), trades.win_rate(), trades.profit_factor()


def _naive_index(candles):
    """A tz-aware index costs vectorbt ~70 ms per wrapped result (it converts it to Timestamp objects): the peer gets
    a naive UTC index so that it is measured at its best."""
    return candles.tz_localize(None) if candles.index.tz is not None else candles


def _from_signals(candles, held, size, stop_loss, take_profit):
    """One `Portfolio.from_signals` call on targets `held` (a column, or one column per genome) with the project's
    costs, then vectorbt's metrics: what both vectorbt peers time."""
    import vectorbt as vbt

    pf = vbt.Portfolio.from_signals(
        candles["close"],
        **_vectorbt_orders(held),
        size=size,  # value per entry; vectorbt's "percent" cannot reverse positions
        size_type="value",
        init_cash=100.0,
        price=candles["open"],
        open=candles["open"],
        high=candles["high"],
        low=candles["low"],
        sl_stop=stop_loss,
        tp_stop=take_profit,
        fees=COSTS.taker_fee,
        slippage=COSTS.slippage,
        freq="1h",
    )
    _vectorbt_metrics(pf)
    return pf


def batched_vectorbt_runner(candles, genes, signals):
    """vectorbt as its users run a parameter search: a callable that makes ONE `Portfolio.from_signals` call with
    every genome a column (its targets, size and stops per column) and computes vectorbt's metrics for all of them."""
    candles = _naive_index(candles)
    targets = np.column_stack([s.to_numpy() for s in signals])
    held = np.vstack([np.zeros((1, targets.shape[1])), targets[:-1]])  # decided at t-1's close, traded at t's open
    held = pd.DataFrame(held, index=candles.index, columns=pd.RangeIndex(len(genes), name="genome"))

    def per_column(values) -> np.ndarray:
        return np.array([v if v else np.nan for v in values], dtype=float)[None, :]

    size = np.array([g.position_size * 100.0 for g in genes])[None, :]
    stops = per_column(g.stop_loss for g in genes), per_column(g.take_profit for g in genes)
    return lambda: _from_signals(candles, held, size, *stops)


def naive_vectorbt_runner(candles):
    """vectorbt used naively on one genome: a callable `(genome, target series)` that makes one
    `Portfolio.from_signals` call and computes its metrics."""
    candles = _naive_index(candles)

    def one(g, s: pd.Series):
        held = pd.Series(s.to_numpy()).shift(1).fillna(0).to_numpy()  # the target decided at t-1's close, traded at t's open
        return _from_signals(candles, held, g.position_size * 100.0, g.stop_loss or np.nan, g.take_profit or np.nan)

    return one


def time_ml(candles, funding, per_seed: int) -> dict:
    from quant_organism.strategies import ML_SEEDS

    genes = population(ML_SEEDS, per_seed * len(ML_SEEDS), seed=3)
    evaluate_population(candles.iloc[:600], genes, funding=funding, costs=COSTS)  # warm: numba caches
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        evaluate_population(candles, genes, funding=funding, costs=COSTS)
        runs.append(time.perf_counter() - started)
    wall = min(runs)
    return {"ml_genomes": len(genes), "ml_wall_s": round(wall, 3), "ml_evals_per_s": round(len(genes) / wall, 2)}


def time_trees(candles, funding, n: int, repeat: int, days: int) -> dict:
    """Rule trees as evolution draws them (DEAP's genHalfAndHalf, evolution/gp.py) on bars carrying the regime
    columns: their leaves computed in the seeds' compiled batch path, composed, then the kernel."""
    import json

    from quant_organism.evolution import gp
    from quant_organism.strategies import SeedGenes, SeedType
    from quant_organism.strategies.rule_tree import nodes

    rng = np.random.default_rng(17)
    trees = [SeedGenes.from_gene_values(SeedType.RULE_TREE, f"tree_{k}", gp.random_genome_values(SeedType.RULE_TREE, rng))
             for k in range(n)]  # fmt: skip
    bars = regime_market(candles, days)
    evaluate_population(bars.iloc[:500], trees[:20], funding=funding, costs=COSTS)  # warm: numba caches
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        evaluate_population(bars, trees, funding=funding, costs=COSTS)
        runs.append(time.perf_counter() - started)
    sizes = [nodes(json.loads(t.rule)) for t in trees]
    return {"tree_genomes": n, "tree_mean_nodes": round(float(np.mean(sizes)), 2), "tree_evals_per_s": round(n / min(runs), 1)}


def regime_market(candles: pd.DataFrame, days: int) -> pd.DataFrame:
    """The bars with the regime columns joined, as strategies see them (5 synthetic coins' regimes + sentiment)."""
    from quant_organism.market.regime import compute_regimes, daily_closes, regime_at_bars
    from quant_organism.market.sentiment import SyntheticSentiment
    from quant_organism.market.sources.synthetic import SyntheticSource

    source = SyntheticSource()
    end = START + pd.Timedelta(days=days)
    coins = ("BTC", "ETH", "SOL", "DOGE", "XRP")
    closes = daily_closes(pd.concat([source.candles(c, START, end) for c in coins]))
    sentiment = SyntheticSentiment(source, coins).daily(START.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d"))
    regimes, _ = compute_regimes(closes, sentiment)
    return candles.join(regime_at_bars(regimes, candles.index))


def time_regime_genes(candles, funding, genes, repeat: int, days: int) -> dict:
    """The same genomes with the regime gene off and on (codes 1-4), on bars carrying the regime columns."""
    bars = regime_market(candles, days)
    off = [g.model_copy(update={"regime_filter": 0}) for g in genes]
    on = [g.model_copy(update={"regime_filter": 1 + k % 4}) for k, g in enumerate(genes)]
    best = {}
    for label, population_ in (("off", off), ("on", on)):
        evaluate_population(bars.iloc[:500], population_[:40], funding=funding, costs=COSTS)
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            evaluate_population(bars, population_, funding=funding, costs=COSTS)
            runs.append(time.perf_counter() - started)
        best[label] = len(population_) / min(runs)
    return {
        "regime_off_evals_per_s": round(best["off"], 1),
        "regime_on_evals_per_s": round(best["on"], 1),
        "regime_on_vs_off": round(best["on"] / best["off"], 3),
    }


def time_regime_asset(days: int = YEAR_DAYS) -> dict:
    """What the `market/regime` asset computes for a year of 5 coins: read the lake's candles, the regimes
    (monthly refitted model, no cached fits), and one Parquet file per day."""
    import tempfile
    from pathlib import Path

    from quant_organism.market.ingest import ingest_candle_days
    from quant_organism.market.lake import MarketLake
    from quant_organism.market.regime import compute_regimes, daily_closes
    from quant_organism.market.sources.synthetic import SyntheticSource

    coins = ["BTC", "ETH", "SOL", "DOGE", "XRP"]
    day_keys = [d.strftime("%Y-%m-%d") for d in pd.date_range(START, periods=days, freq="D")]
    with tempfile.TemporaryDirectory() as folder:
        lake = MarketLake(Path(folder))
        with lake.batch():
            for coin in coins:
                ingest_candle_days(SyntheticSource(), lake, coin, day_keys)
        started = time.perf_counter()
        candles, _ = lake.read("candles", coins, day_keys[0], pd.Timestamp(day_keys[-1]) + pd.Timedelta(days=1))
        regimes, _ = compute_regimes(daily_closes(candles))
        with lake.batch():
            for day in day_keys:
                row = regimes.loc[[pd.Timestamp(day)]].reset_index()
                row["date"] = row["date"].dt.date
                lake.write_day("regimes", day, row)
        wall = time.perf_counter() - started
    return {"regime_asset_days": days, "regime_asset_coins": len(coins), "regime_asset_s": round(wall, 2)}


def run(
    genomes: int, sample: int, repeat: int, ml_per_seed: int, days: int = YEAR_DAYS, pin: bool = True, trees: int = 100
) -> dict:
    cpu = _one_core() if pin else None
    candles, funding, market_name = market(days)
    genes = technical_genomes(genomes)
    ours = time_ours(candles, funding, genes, repeat)
    batch_peak_mb = _peak_rss_mb()  # the batch's peak, before the peers (vectorbt's 500 columns) add theirs
    subsample = genes[:sample]
    paired = {
        "evals_per_s": ours["evals_per_s_best_pass"],  # no peers: nothing to pair with
        "backtesting_py_evals_per_s": None,
        "speedup_vs_backtesting_py_ci": None,
        "naive_vectorbt_evals_per_s": None,
        "vectorbt_batched_evals_per_s": None,
        "paired_passes": 0,
    }
    if subsample:  # the headline rate: ours over the same seconds as the peers (`time_paired`)
        paired = time_paired(candles, funding, genes, subsample, signals_for(candles, funding, subsample))
    out = {
        "market": market_name,
        "bars": len(candles),
        "genomes": genomes,
        "cpu": cpu,
        "numba_cache_warmed": True,
        **ours,
        **paired,
        "peer_sample": len(subsample),
    }
    for peer in ("backtesting_py", "naive_vectorbt", "vectorbt_batched"):
        rate = out[f"{peer}_evals_per_s"]
        out[f"speedup_vs_{peer}"] = round(out["evals_per_s"] / rate, 1) if rate else None
    out["speedup_vs_vectorbt"] = out["speedup_vs_vectorbt_batched"]  # the headline: vectorbt as its users run it
    out.update(time_regime_genes(candles, funding, genes, repeat, days))
    out.update(time_regime_asset(days))
    if ml_per_seed > 0:
        out.update(time_ml(candles, funding, ml_per_seed))
    if trees > 0:
        out.update(time_trees(candles, funding, trees, repeat, days))
        out["tree_vs_template_rate"] = round(out["tree_evals_per_s"] / out["evals_per_s_best_pass"], 3)
    out["peak_rss_mb"] = batch_peak_mb
    out["process_peak_rss_mb"] = _peak_rss_mb()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks backtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--genomes", type=int, default=GENOMES, help=f"technical genomes to evaluate (default {GENOMES})")
    parser.add_argument(
        "--sample", type=int, default=PEER_SAMPLE, help=f"genomes run through each peer (default {PEER_SAMPLE}, 0 = no peers)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of ours; the best counts (default 3)")
    parser.add_argument("--ml-per-seed", type=int, default=2, help="genomes per ML seed (0 to skip)")
    parser.add_argument("--trees", type=int, default=100, help="rule trees from evolution's sampler (0 to skip)")
    parser.add_argument("--days", type=int, default=YEAR_DAYS, help="days of hourly bars (default: the year 2024)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.genomes < 1 or args.repeat < 1 or args.sample < 0 or args.days < 30:
        parser.error("--genomes and --repeat must be >= 1, --sample >= 0, --days >= 30")
    result = run(args.genomes, args.sample, args.repeat, args.ml_per_seed, args.days, pin=not args.no_pin, trees=args.trees)
    if args.json:
        print(json.dumps(result))
        return 0
    core = f"one core (cpu {result['cpu']})" if result["cpu"] is not None else "not pinned to a core"
    print(f"backtest benchmark: {result['genomes']} technical genomes x {result['bars']} hourly bars "
          f"({result['market']}), {core}, numba caches warmed before timing")  # fmt: skip
    if result["paired_passes"]:
        low, median, high = result["paired_pass_s"]
        print(f"  ours                 {result['evals_per_s']:>10.1f} evals/s  (mean of {result['paired_passes']} passes "
              f"interleaved with the peers' genomes: {low:.3f}-{high:.3f} s, median {median:.3f} s)")  # fmt: skip
    print(f"  ours, best pass      {result['evals_per_s_best_pass']:>10.1f} evals/s  (best of {args.repeat} back to back: "
          f"{result['wall_s_best']:.3f} s; median {result['wall_s_median']:.3f} s)")  # fmt: skip
    print(f"    unfused: signals   {result['signals_s']:>10.3f} s    engine (simulate + metrics) {result['engine_s']:.3f} s"
          f" = {result['engine_evals_per_s']:.0f} evals/s")  # fmt: skip
    if result["backtesting_py_evals_per_s"]:
        print(
            f"  backtesting.py       {result['backtesting_py_evals_per_s']:>10.1f} evals/s  "
            f"(one Backtest.run per genome, {result['peer_sample']} genomes, interleaved)  ours is x{result['speedup_vs_backtesting_py']}"
            f" [{result['speedup_vs_backtesting_py_ci'][0]}, {result['speedup_vs_backtesting_py_ci'][1]}] (95%, paired bootstrap)"
        )
        print(
            f"  vectorbt, batched    {result['vectorbt_batched_evals_per_s']:>10.1f} evals/s  "
            f"(all {result['genomes']} genomes the columns of one from_signals, {result['vectorbt_batched_calls']} calls, "
            f"interleaved)  ours is x{result['speedup_vs_vectorbt']}"
        )
        print(
            f"  naive vectorbt       {result['naive_vectorbt_evals_per_s']:>10.1f} evals/s  "
            f"(one from_signals per genome, {result['peer_sample']} genomes, interleaved)  ours is x{result['speedup_vs_naive_vectorbt']}"
        )
    print(f"  regime genes off     {result['regime_off_evals_per_s']:>10.1f} evals/s  (bars carrying the regime columns)")
    print(
        f"  regime genes on      {result['regime_on_evals_per_s']:>10.1f} evals/s  (codes 1-4)  on/off = {result['regime_on_vs_off']:.3f}"
    )
    print(
        f"  market/regime asset  {result['regime_asset_s']:>10.2f} s       ({result['regime_asset_days']} days x "
        f"{result['regime_asset_coins']} coins: read, compute with monthly refits, write)"
    )
    if "ml_evals_per_s" in result:
        print(f"  ML seeds             {result['ml_evals_per_s']:>10.2f} evals/s  ({result['ml_genomes']} genomes)")
    if "tree_evals_per_s" in result:
        print(f"  rule trees           {result['tree_evals_per_s']:>10.1f} evals/s  ({result['tree_genomes']} trees of "
              f"{result['tree_mean_nodes']} nodes on average, regime columns joined; {result['tree_vs_template_rate']:.3f} x "
              "the templates' best pass)")  # fmt: skip
    print(f"  peak RSS             {result['peak_rss_mb']:>10.1f} MB  (ours: the market, the 500-genome batch and its tables; "
          f"{result['process_peak_rss_mb']:,.0f} MB for the process after the peers and the timings above)")  # fmt: skip
    return 0
