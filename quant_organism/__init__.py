"""quant_organism: breeds, validates and deploys trading strategies as Dagster assets."""

import os
from pathlib import Path

# numba's on-disk cache lives in the project, so every process (Ray and process-pool workers
# included) reuses compiled kernels instead of paying the cold compile again.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))

# Ray (2.60) notices a driver started by `uv run` (as `make` starts everything) and launches its
# workers through `uv run` as well; on this project that left Ray tasks waiting forever for workers.
# The workers already run in this virtualenv, so the hook is switched off (before ray is imported).
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
