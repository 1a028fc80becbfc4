"""What the benchmarks that run many independent markets share: a process pool with a progress bar, the Wilson
interval their rates are quoted with, and the forward capture pooled over runs."""

from __future__ import annotations

import math
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import pandas as pd


def run_in_pool(function, argument_tuples: list[tuple], workers: int, desc: str) -> list:
    """`function(*arguments)` for each tuple in a process pool of `workers`, with a progress bar; results in
    the order they finish."""
    from tqdm import tqdm

    results = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(function, *arguments) for arguments in argument_tuples]
        with tqdm(total=len(futures), desc=desc, unit="run", file=sys.stderr) as bar:
            for future in as_completed(futures):
                results.append(future.result())
                bar.update(1)
    return results


def wilson(successes: int, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return (math.nan, math.nan)
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return float(low), float(high)


def moments(prefix: str, returns) -> dict[str, float]:
    """The sufficient statistics of a run's per-bar returns (count, sum, sum of squares), for pooling runs' Sharpes."""
    values = returns.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return {f"{prefix}_n": float(values.size), f"{prefix}_sum": float(values.sum()), f"{prefix}_sumsq": float((values**2).sum())}


def pooled_capture(group: pd.DataFrame, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(capture, low, high): the Sharpe of the deployed sets' forward returns pooled over the runs that deploy, over
    the planted rule's pooled over the same runs, with a 95% percentile bootstrap over runs. A ratio of pooled
    Sharpes, not a mean of per-run ratios (whose small denominators explode)."""
    cols = ["fwd_n", "fwd_sum", "fwd_sumsq", "rule_n", "rule_sum", "rule_sumsq"]
    if not set(cols) <= set(group.columns):
        return math.nan, math.nan, math.nan
    stats = group[cols].dropna().to_numpy(dtype=float)
    if len(stats) == 0:
        return math.nan, math.nan, math.nan

    def ratio(rows: np.ndarray) -> float:
        totals = rows.sum(axis=0)
        sharpes = []
        for n, total, squares in (totals[0:3], totals[3:6]):
            mean = total / n
            var = squares / n - mean**2
            sharpes.append(mean / math.sqrt(var) if var > 0 else math.nan)
        return sharpes[0] / sharpes[1] if sharpes[1] and sharpes[1] > 0 else math.nan

    rng = np.random.default_rng(seed)
    draws = np.array([ratio(stats[rng.integers(0, len(stats), len(stats))]) for _ in range(reps)])
    draws = draws[np.isfinite(draws)]
    low, high = np.percentile(draws, [2.5, 97.5]) if len(draws) else (math.nan, math.nan)
    return ratio(stats), float(low), float(high)
