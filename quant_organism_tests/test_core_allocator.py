"""The allocator keeps a batch's freed tables for the next batch (core/allocator.py).

Measured as the kernel sees it: page faults while a second batch of tables is allocated and filled after the
first was freed. Each case runs in a fresh interpreter, since the setting is per process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's mallopt")

PROBE = """
import json, resource
import numpy as np
import quant_organism
from quant_organism.core.allocator import retain_freed_memory

def batch():  # what one batch of genomes does: a few indicator tables of ~6 MB, filled, then freed
    tables = [np.full((90, 8784), np.nan) for _ in range(4)]
    return sum(float(t[0, 0] != t[0, 0]) for t in tables)

batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
batch()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": retain_freed_memory(), "faults": faults}))
"""


def _probe(tuning: str) -> dict:
    env = {**os.environ, "QUANT_ORGANISM_MALLOC_TUNING": tuning}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_batch_reuses_the_first_batchs_pages():
    tuned, default = _probe("1"), _probe("0")
    assert tuned["applied"] and not default["applied"]
    # 4 tables x 6.3 MB come back as fresh pages with the default thresholds (thousands of 4 KiB faults here,
    # fewer where transparent huge pages serve them), and as the pages already mapped when reused
    assert default["faults"] > 10, default
    assert tuned["faults"] * 10 < default["faults"], (tuned, default)
