"""The kernel's benchmark workload, shared by `bench backtest` and the benchmarks that compare with its rate.

`bench backtest` times 500 technical genomes on a year of hourly bars; `bench evolution` times the same
workload in its own process right beside each evolution run, so that evolution's share of the kernel rate
compares two figures measured minutes apart at most, not two processes run at different moments (on a
machine whose speed drifts, that drift was most of the spread between runs: docs/history/2026-11-29-measurements.md).
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from pathlib import Path

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

    def __init__(self, passes: int = 5, genomes: int = GENOMES, days: int = YEAR_DAYS) -> None:
        self.candles, self.funding, _ = market(days)
        self.genes = technical_genomes(genomes)
        self.passes = passes
        warm(self.candles, self.funding, self.genes)

    def __call__(self) -> tuple[float, float]:
        """(mean rate, best pass's rate) of `passes` passes."""
        runs, _ = timed_passes(self.candles, self.funding, self.genes, self.passes)
        return len(self.genes) * len(runs) / sum(runs), len(self.genes) / min(runs)


_process_kernel: dict[int, KernelRate] = {}  # per process id: each Ray worker builds its own, once


class KernelSampler:
    """An evolution evaluator that times the kernel's workload inside the run's own seconds: before every `every`-th
    call of the project's fitness (`evaluate_universe`, whose answer it returns unchanged), one fresh pass of the
    kernel's workload (`KernelRate`'s, a pass of `bench backtest`: 500 genomes on a year) in the same process.

    Why: the machine switches between two speeds every few seconds, so kernel rates taken just before and just
    after a 4-6 s run can each fall in either mode, and one script's four serial shares measured that way read
    0.49 to 0.97 (2026-11-27). Passes spread through the run (a pass of 0.15 s after every third generation's
    evaluation, about 0.3 s of evolution) see the same modes as the run. On Ray each worker samples in its own
    process, so the kernel runs beside the other worker as evolution does.

    Each process appends one line per pass to its own file under `log_dir` (Ray workers are other processes):
    the pass's genomes, its seconds, and all the seconds the sampling took from the run (the pass, and building
    the workload on first use), which the run's time is reduced by; `totals` reads them back."""

    def __init__(self, log_dir: str, every: int = 3) -> None:
        self.log_dir, self.every = log_dir, int(every)
        self._calls = 0

    def __call__(self, frames, genes_list, fitness) -> pd.DataFrame:
        from quant_organism.evolution.fitness import evaluate_universe

        if self._calls % self.every == 0:
            self._sample()
        self._calls += 1
        return evaluate_universe(frames, genes_list, fitness)

    def _sample(self) -> None:
        started = time.perf_counter()
        rate = _process_kernel.get(os.getpid())
        if rate is None:
            rate = _process_kernel[os.getpid()] = KernelRate(passes=1)
        (seconds,), _ = timed_passes(rate.candles, rate.funding, rate.genes, 1)
        taken = time.perf_counter() - started
        with open(os.path.join(self.log_dir, f"{os.getpid()}.txt"), "a", encoding="utf-8") as out:
            out.write(f"{len(rate.genes)} {seconds!r} {taken!r}\n")

    def totals(self) -> dict:
        """The passes of every process: their count, genomes and seconds, and the seconds taken from the run."""
        logs = sorted(Path(self.log_dir).glob("*.txt"))
        rows = [line.split() for log in logs for line in log.read_text(encoding="utf-8").splitlines()]
        return {
            "passes": len(rows),
            "genomes": sum(int(r[0]) for r in rows),
            "pass_s": sum(float(r[1]) for r in rows),
            "taken_s": sum(float(r[2]) for r in rows),
        }


def spread(values, digits: int = 3) -> list[float]:
    """[min, median, max] of timed walls, rounded: how the benchmarks report repeated passes."""
    return [round(min(values), digits), round(statistics.median(values), digits), round(max(values), digits)]


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
    if paired.get("sampled_kernel_evals_per_s"):
        inside = ", ".join(f"{x:,.0f}" for x in paired["sampled_kernel_evals_per_s"])
        passes = ", ".join(str(n) for n in paired["sampled_passes"])
        around = ", ".join(f"{x:.2f}" for x in paired["shares_around"])
        text = (
            f"runs of {walls} s (the kernel's passes inside them included), shares {shares} over the kernel sampled "
            f"inside each run ({passes} passes, {inside} evals/s); over the kernel measured before, between and after "
            f"them (mean {rates}, best pass {best} evals/s) the shares read {around} (mean {paired['share_around']:.2f})"
        )
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
