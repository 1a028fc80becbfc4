"""The kernel's benchmark workload, shared by `bench backtest` and the benchmarks that compare with its rate.

`bench backtest` times 500 technical genomes on a year of hourly bars; `bench evolution` times the same
workload in its own process right beside each evolution run, so that evolution's share of the kernel rate
compares two figures measured minutes apart at most, not two processes run at different moments (on a
machine whose speed drifts, that drift was most of the spread between runs: docs/measurements.md).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from quant_organism.backtest import CostModel, evaluate_population

START = pd.Timestamp("2024-01-01", tz="UTC")
YEAR_DAYS = 366  # 2024: 8,784 hourly bars
COSTS = CostModel()
GENOMES = 500
SEED = 1


def market(days: int = YEAR_DAYS) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Hourly BTC bars and funding: the project's synthetic market, else a seeded random walk."""
    end = START + pd.Timedelta(days=days)
    try:
        from quant_organism.market.sources.synthetic import SyntheticSource
    except ImportError:
        return (*_random_walk(end), "seeded random walk")
    source = SyntheticSource()
    candles = source.candles("BTC", START, end, "1h").set_index("timestamp")
    funding = source.funding("BTC", START, end)
    return candles, funding, "SyntheticSource BTC 1h"


def _random_walk(end: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    index = pd.date_range(START, end, freq="h", inclusive="left")
    n = len(index)
    close = 30_000 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.004))
    opens = np.r_[30_000.0, close[:-1]]
    wick = np.abs(rng.normal(0, 0.002, (2, n)))
    candles = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * (1 + wick[0]),
            "low": np.minimum(opens, close) * (1 - wick[1]),
            "close": close,
            "volume": rng.lognormal(6, 1, n),
        },
        index=index,
    )
    funding = pd.DataFrame({"timestamp": index, "coin": "BTC", "funding_rate": rng.normal(1.25e-5, 1e-5, n)})
    return candles, funding


def population(seed_types, size: int, seed: int):
    """`size` random genomes spread evenly over `seed_types`."""
    from quant_organism.strategies import SeedGenes

    rng = np.random.default_rng(seed)
    return [SeedGenes.random(seed_types[k % len(seed_types)], f"g{k:04d}", rng) for k in range(size)]


def technical_genomes(size: int = GENOMES) -> list:
    """The benchmark's genomes: technical seeds, regime gene off."""
    from quant_organism.strategies import TECHNICAL_SEEDS

    return [g.model_copy(update={"regime_filter": 0}) for g in population(TECHNICAL_SEEDS, size, seed=SEED)]


def warm(candles, funding, genes) -> None:
    """Load every numba kernel the genomes use (on a short slice), so no compile or cache load is timed."""
    evaluate_population(candles.iloc[:500], genes[:40], funding=funding, costs=COSTS)


def timed_passes(candles, funding, genes, repeat: int) -> tuple[list[float], pd.DataFrame]:
    """Wall seconds of `repeat` fresh evaluations of the whole population (`evaluate_population` end to end),
    and the last evaluation's result."""
    runs = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = evaluate_population(candles, genes, funding=funding, costs=COSTS)
        runs.append(time.perf_counter() - started)
    return runs, result


class KernelRate:
    """The kernel rate (one-year backtests per second) measurable again and again in one process: the market
    and genomes are built and the kernels warmed once.

    A call times `passes` fresh evaluations back to back and returns their mean rate (all genomes over all
    the time), the estimator an evolution run's rate is (its evaluations over its wall time): on a machine whose
    speed jitters from one second to the next, the best of a few sub-second passes (`bench backtest`'s headline)
    is systematically faster than any mean over seconds, and a share of two rates needs one estimator for both.
    """

    def __init__(self, passes: int = 5) -> None:
        self.candles, self.funding, _ = market()
        self.genes = technical_genomes()
        self.passes = passes
        warm(self.candles, self.funding, self.genes)

    def __call__(self) -> tuple[float, float]:
        """(mean rate, best pass's rate) of `passes` passes."""
        runs, _ = timed_passes(self.candles, self.funding, self.genes, self.passes)
        return len(self.genes) * len(runs) / sum(runs), len(self.genes) / min(runs)


def paired_text(paired: dict) -> str:
    """One line for a share paired in time (bench evolution's `_paired` figures): the runs' walls and shares, the
    kernel's mean and best-pass rates measured around them and, where each worker ran one gang, the gangs' walls
    and the shares over them (`evolution._gang_walls` says why), and on several workers the islands that moved
    between them in each run."""
    walls = ", ".join(f"{x:.2f}" for x in paired["walls_s"])
    shares = ", ".join(f"{x:.2f}" for x in paired["shares"])
    rates = ", ".join(f"{x:,.0f}" for x in paired["kernel_evals_per_s"])
    best = ", ".join(f"{x:,.0f}" for x in paired["kernel_best_pass_evals_per_s"])
    text = f"runs of {walls} s, shares {shares}; kernel before, between and after: mean {rates}, best pass {best} evals/s"
    if paired.get("islands_moved") is not None:
        text += f"; islands moved between workers {', '.join(str(n) for n in paired['islands_moved'])}"
    if paired.get("gang_walls_s"):
        gangs = "; ".join(" and ".join(f"{w:.2f}" for w in run) for run in paired["gang_walls_s"])
        busy = ", ".join(f"{x:.2f}" for x in paired["busy_shares"])
        text += f"; the workers' gangs ran {gangs} s: over the gangs' own time, shares {busy} (mean {paired['busy_share']:.2f})"
    return text


def ml_walls_text(figures: dict) -> str:
    """The ML preset's runs and the technical runs around them (bench evolution's figures), in words."""
    around = figures.get("serial_walls_around_ml_s")
    if not around:
        return ""
    with_ml = figures.get("serial_with_ml_walls_s") or [figures["serial_with_ml_wall_s"]]
    ratios = figures.get("ml_preset_ratios")
    text = f"{', '.join(f'{w:.2f}' for w in with_ml)} s with them, between {', '.join(f'{w:.2f}' for w in around)} s without"
    return text + (f" (ratios {', '.join(f'{r:.2f}' for r in ratios)})" if ratios else "")


def bars_with_funding(candles: pd.DataFrame, funding: pd.DataFrame) -> pd.DataFrame:
    rates = funding.set_index("timestamp")["funding_rate"].reindex(candles.index)
    return candles.assign(funding_rate=rates.to_numpy())


def signals_for(candles, funding, genes) -> list[pd.Series]:
    from quant_organism.strategies import get_registry

    registry = get_registry()
    bars = bars_with_funding(candles, funding)
    return [registry.batch_signals(g.seed_type, bars, [g]).iloc[:, 0] for g in genes]


def time_backtesting_py(candles, genes, signals) -> float:
    """evals/s of backtesting.py, one `Backtest.run` per genome on the same targets."""
    run = backtesting_py_runner(candles)
    started = time.perf_counter()
    for g, s in zip(genes, signals):
        run(g, s)
    return len(genes) / (time.perf_counter() - started)


def backtesting_py_runner(candles):
    """backtesting.py's backtest of one genome on these candles: a callable `(genome, target series)` that runs
    one `Backtest.run` (its statistics included, as it always computes them) on the genome's targets, size and
    stops, with the project's taker fee as commission and its slippage as spread."""
    import backtesting.backtesting
    from backtesting import Backtest, Strategy

    backtesting.backtesting._tqdm = lambda seq, **_: seq  # its progress bar only: it would flood the report

    class FollowTargets(Strategy):
        targets = np.zeros(0)
        size = 0.5
        sl = 0.0
        tp = 0.0

        def init(self) -> None:
            pass

        def next(self) -> None:
            want = self.targets[len(self.data) - 1]
            have = 1 if self.position.is_long else -1 if self.position.is_short else 0
            if want == have:
                return
            price = self.data.Close[-1]
            if want == 0:
                self.position.close()
                return
            sl = price * (1 - want * self.sl) if self.sl > 0 else None
            tp = price * (1 + want * self.tp) if self.tp > 0 else None
            order = self.buy if want > 0 else self.sell
            try:
                order(size=self.size, sl=sl, tp=tp)
            except ValueError:  # levels inside the spread: trade without them
                order(size=self.size)

    data = candles.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    bt = Backtest(
        data, FollowTargets, cash=1e12, commission=COSTS.taker_fee, spread=COSTS.slippage,
        trade_on_close=False, exclusive_orders=True, finalize_trades=True,
    )  # fmt: skip

    def run(g, s: pd.Series) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt.run(targets=s.to_numpy(), size=min(g.position_size, 0.9999), sl=g.stop_loss, tp=g.take_profit)

    return run
