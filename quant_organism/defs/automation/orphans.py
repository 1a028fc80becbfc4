"""Runs whose process died (`kill -9`, OOM, a lost machine) stay STARTED in Dagster's storage forever,
and a STARTED run keeps its partition in progress: the automation would never request it again.

`reap_orphaned_runs` finds such runs and marks them failed so automation retries the day:
- a run launched by this project's CLI carries its process id and host (`WORKER_TAGS`); on this host,
  a dead process means an orphan at once;
- any other run (launched by the daemon) is an orphan when no event arrived for `heartbeat_timeout`
  seconds (the assets log at least once per phase and per generation, so a live run is never silent
  that long).
"""

from __future__ import annotations

import os
import socket
import time

import dagster as dg

from quant_organism.core.durable import process_alive

PID_TAG = "quant_organism/pid"
HOST_TAG = "quant_organism/host"
ORPHANED_TAG = "quant_organism/orphaned"  # set on a run this module marked failed
DEFAULT_HEARTBEAT_TIMEOUT_S = 2 * 3600.0
LIVE_STATUSES = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def worker_tags() -> dict[str, str]:
    """Tags naming this process, for a run executed in it."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def orphan_reason(instance: dg.DagsterInstance, run: dg.DagsterRun, now: float, heartbeat_timeout: float) -> str | None:
    """Why `run` (STARTING/STARTED) is an orphan, or None when it may still be running."""
    pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
    if pid and pid.isdigit() and host == socket.gethostname():
        if int(pid) != os.getpid() and not process_alive(int(pid)):
            return f"its process {pid} on {host} is gone (killed or crashed) while the run was {run.status.value}"
        return None
    records = instance.get_records_for_run(run.run_id, limit=1, ascending=False).records
    last = records[0].timestamp if records else (instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp())
    if now - last > heartbeat_timeout:
        return f"no event for {now - last:.0f} s (more than the {heartbeat_timeout:.0f} s heartbeat timeout)"
    return None


def reap_orphaned_runs(
    instance: dg.DagsterInstance, *, heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT_S, now: float | None = None
) -> list[tuple[str, str]]:
    """Mark every orphaned run failed (with the reason in its event log); returns (run_id, reason) pairs."""
    now = time.time() if now is None else now
    reaped = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=LIVE_STATUSES)):
        run = record.dagster_run
        reason = orphan_reason(instance, run, now, heartbeat_timeout)
        if reason is not None:
            instance.add_run_tags(run.run_id, {ORPHANED_TAG: "true"})
            instance.report_run_failed(run, message=f"orphaned run marked failed by quant_organism: {reason}")
            reaped.append((run.run_id, reason))
    return reaped
