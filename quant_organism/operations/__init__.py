"""Plain-Python decisions behind the automation conditions and sensors (the Dagster layer only calls them):
which days are complete and hold enough history (days.py), what the decay sensor remembers (cursors.py), when
decay calls for a re-evolution (decay_trigger.py), the failed-run log (failures.py) and the job names (job_names.py).
"""

from quant_organism.core.timeutil import utc
from quant_organism.operations.cursors import CursorError, DecayCursor
from quant_organism.operations.days import (
    DECAY,
    QualityLookup,
    check_day,
    complete_days,
    day_problems,
    evolve_run_key,
    previous_day,
    short_history,
)
from quant_organism.operations.decay_trigger import (
    DecayDecision,
    DecayTrigger,
    PaperRecord,
    decay_reasons,
    decide_decay,
    set_paper_sharpe,
)
from quant_organism.operations.failures import FAILURE_FIELDS, FAILURES_FILE, read_failures, record_failure

__all__ = [
    "DECAY",
    "FAILURE_FIELDS",
    "FAILURES_FILE",
    "CursorError",
    "DecayCursor",
    "DecayDecision",
    "DecayTrigger",
    "PaperRecord",
    "QualityLookup",
    "check_day",
    "complete_days",
    "day_problems",
    "decay_reasons",
    "decide_decay",
    "evolve_run_key",
    "previous_day",
    "read_failures",
    "record_failure",
    "set_paper_sharpe",
    "short_history",
    "utc",
]
