"""quant_organism: breeds, validates and deploys trading strategies as Dagster assets."""

import os
from pathlib import Path

# numba's on-disk cache lives in the project, so every process (Ray and process-pool workers
# included) reuses compiled kernels instead of paying the cold compile again.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))
