"""The main command's steps on a small market, for the crash tests: `python -m quant_organism_tests.support.fault_driver`.

What `python -m quant_organism run` does (reap orphaned runs, ingest, evolve -> validate -> deploy -> report,
paper trade), on two coins and the test preset with a permissive validation gate so that something is
deployed and paper-traded. With `QUANT_ORGANISM_FAULT=<point>` set, the process is SIGKILLed there.
"""

from __future__ import annotations

import sys

FIRST, EVOLVE_DAY, PAPER_DAY = "2024-04-30", "2024-06-29", "2024-06-30"
RELAXED = {"mode": "minimal", "alpha": 0.99, "min_trades": 1, "require_positive_walk_forward": False}


def main() -> int:
    from quant_organism import settings
    from quant_organism.cli.launch import evolve, ingest, paper_trade, persistent_instance
    from quant_organism.core.durable import sweep_stale_temps
    from quant_organism.defs.automation.orphans import reap_orphaned_runs
    from quant_organism_tests.support.faults import arm_from_environment

    arm_from_environment()
    sweep_stale_temps(settings.data_dir(), min_age_s=0.0)
    instance = persistent_instance()
    reap_orphaned_runs(instance)
    if not all(s.success for s in ingest(instance, FIRST, PAPER_DAY)):
        return 1
    ops = {
        "validation__validated_strategies": {"config": RELAXED},
        "deployment__deployed_configs": {"config": {"probation_days": 0}},
    }  # capital at once: paper has a book to trade
    if not evolve(instance, EVOLVE_DAY, "test", ops=ops).success:
        return 2
    return 0 if paper_trade(instance, PAPER_DAY).success else 3


if __name__ == "__main__":
    sys.exit(main())
