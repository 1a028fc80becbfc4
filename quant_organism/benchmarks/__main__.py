"""`python -m quant_organism.benchmarks NAME [--json]`: benchmarks (BENCHMARKS), peers side by side in one run."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "ingest": "quant_organism.benchmarks.ingest_speed",
    "backtest": "quant_organism.benchmarks.backtest",
    "evolution": "quant_organism.benchmarks.evolution",
    "organism": "quant_organism.benchmarks.organism",
    "paper": "quant_organism.benchmarks.paper",
    "demo": "quant_organism.benchmarks.demo",
    "scale": "quant_organism.benchmarks.scale",
    "ui": "quant_organism.benchmarks.ui",
    "live": "quant_organism.benchmarks.live_book",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m quant_organism.benchmarks {{{','.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[argv[0]])  # first: a benchmark may set numba's threads before import
    from quant_organism.evolution.executors.heap import keep_freed_blocks

    keep_freed_blocks()  # a benchmark process scores populations as a worker does (evolution/executors/heap.py)
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
