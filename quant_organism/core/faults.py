"""Fault injection for the crash tests: `fault_point(name)` kills the process with SIGKILL when the point
`arm(name)` armed is that one.

A real `kill -9` at a chosen phase boundary, so the tests prove what a crash there leaves behind and that
a rerun ends where a clean run ends. Only the tests arm it: their drivers call `arm` with the point they name in
`QUANT_ORGANISM_FAULT` (quant_organism_tests/support/faults.py); the product never does. Unarmed, a fault point
costs one comparison.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "ingest:written",  # candles of a coin's range are in the lake, the run not yet marked successful
    "evolution:population",  # the population is saved
    "evolution:strategy_configs",  # candidates are in the store
    "validation:recorded",  # verdicts are written and recorded in the store
    "deployment:staged",  # the new deployment is staged and its manifest written, before the store's commit point
    "deployment:committed",  # the store passed its commit point (a commit that archives), files not yet in place
    "store:committed",  # the same for any other store commit
    "deployment:deployed",  # the deployment is in place, before its check and the report
    "paper:traded",  # the day's paper trades are in the ledger, before configs are updated
)

_armed: str | None = None


def arm(name: str | None) -> None:
    """Kill this process at the fault point `name` (None disarms)."""
    global _armed
    _armed = name or None


def fault_point(name: str) -> None:
    if _armed == name:
        os.kill(os.getpid(), signal.SIGKILL)
