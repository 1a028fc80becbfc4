"""Plain-Python decisions behind the schedules and sensors (the Dagster layer only calls them):
which days are complete (days.py), what the sensors remember (cursors.py), when decay calls for a
re-evolution (decay_trigger.py), the failed-run log (failures.py) and the job names (job_names.py).
"""

from quant_organism.automation.cursors import CursorError, DecayCursor, NewDataCursor, days_to_request
from quant_organism.automation.days import (
    DECAY,
    NEW_DATA,
    NIGHTLY,
    QualityLookup,
    check_day,
    complete_days,
    day_problems,
    describe_incomplete,
    evolve_run_key,
    ingest_run_key,
    previous_day,
    short_history,
)
from quant_organism.automation.decay_trigger import (
    DecayDecision,
    DecayTrigger,
    PaperRecord,
    decay_reasons,
    decide_decay,
    set_paper_sharpe,
)
from quant_organism.automation.failures import FAILURE_FIELDS, FAILURES_FILE, read_failures, record_failure
from quant_organism.core.timeutil import utc

__all__ = [
    "DECAY",
    "NEW_DATA",
    "NIGHTLY",
    "FAILURE_FIELDS",
    "FAILURES_FILE",
    "CursorError",
    "DecayCursor",
    "DecayDecision",
    "DecayTrigger",
    "NewDataCursor",
    "PaperRecord",
    "QualityLookup",
    "check_day",
    "complete_days",
    "day_problems",
    "days_to_request",
    "decay_reasons",
    "decide_decay",
    "describe_incomplete",
    "evolve_run_key",
    "ingest_run_key",
    "previous_day",
    "read_failures",
    "record_failure",
    "set_paper_sharpe",
    "short_history",
    "utc",
]
