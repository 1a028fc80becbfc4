"""Dagster test instances on the event log the project's own instance runs on.

`cli/launch.py` writes the project's DAGSTER_HOME with `PooledSqliteEventLogStorage` (defs/shared/event_log.py):
every run's events in one SQLite file, one pooled engine per process, one transaction per batch of events.
Dagster's `instance_for_test()` default keeps a SQLite file per run and opens a new engine and fsyncs for every
event (about 9 ms an event here), so a test that ingests a year of partitions through the real jobs spent most
of its time in bookkeeping the organism never runs with. Tests that drive many runs use these instead.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from quant_organism.defs.shared.event_log import PooledSqliteEventLogStorage


def one_event_log(instance_dir: Path) -> dict:
    """Instance overrides that give a test instance the project's event log under `instance_dir`/history. They land
    in the instance's dagster.yaml, so a run in a child process uses the same file."""
    return {
        "event_log_storage": {
            "module": PooledSqliteEventLogStorage.__module__,  # the class cli/launch.py names in DAGSTER_HOME
            "class": PooledSqliteEventLogStorage.__name__,
            "config": {"base_dir": str(instance_dir / "history")},
        }
    }


@contextmanager
def product_instance() -> Iterator[dg.DagsterInstance]:
    """`dg.instance_for_test()` in a fresh temporary folder, with the project's event log."""
    with tempfile.TemporaryDirectory(prefix="qo-instance-") as folder:
        with dg.instance_for_test(temp_dir=folder, overrides=one_event_log(Path(folder))) as instance:
            yield instance
