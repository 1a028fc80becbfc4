"""What the benchmarks that run many independent markets share: a process pool with a progress bar, and the
Wilson interval their rates are quoted with."""

from __future__ import annotations

import math
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed


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
