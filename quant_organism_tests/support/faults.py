"""Arming the product's fault points (core/faults.py) in a test's child process: the product never arms them itself.

`arm_from_environment()` arms the point `QUANT_ORGANISM_FAULT` names. `python -m quant_organism_tests.support.faults
ARGS...` is `python -m quant_organism ARGS...` with that done first, for the crash tests of the main command.
"""

from __future__ import annotations

import os
import sys

from quant_organism.core import faults

FAULT_ENV = "QUANT_ORGANISM_FAULT"


def arm_from_environment() -> str | None:
    point = os.environ.get(FAULT_ENV) or None
    faults.arm(point)
    return point


if __name__ == "__main__":
    arm_from_environment()
    from quant_organism.cli.main import main

    sys.exit(main(sys.argv[1:]))
