"""What the UI needs to show the command line's work: runs attributed to the code location's jobs (Overview's
timeline and a job's run history filter by the repository label), and partitions that end where the data end."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from quant_organism.operations.job_names import INGEST_JOB


@pytest.fixture
def two_coins(data_dir, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "synthetic")
    return data_dir


def test_a_command_line_run_belongs_to_its_job_in_the_code_location(two_coins):
    from quant_organism.cli import launch
    from quant_organism.cli.code_location import LOCATION_NAME

    instance = launch.persistent_instance()
    summaries = launch.ingest(instance, "2024-03-01", "2024-03-03", parallel=False)
    assert all(s.success for s in summaries)
    label = f"__repository__@{LOCATION_NAME}"
    for summary in summaries:
        run = instance.get_run_by_id(summary.run_id)
        assert run.remote_job_origin is not None and run.remote_job_origin.job_name == INGEST_JOB
        assert run.remote_job_origin.repository_origin.code_location_origin.location_name == LOCATION_NAME
    # the query behind a job's run history in the UI: its name and the repository label
    history = instance.get_runs(dg.RunsFilter(job_name=INGEST_JOB, tags={".dagster/repository": label}))
    assert {r.run_id for r in history} == {s.run_id for s in summaries}


def test_partitions_end_at_the_lakes_last_day_and_a_command_moves_them(two_coins, monkeypatch):
    from quant_organism.cli import launch
    from quant_organism.definitions import load_definitions
    from quant_organism.defs.shared.partitions import partitions_end

    assert partitions_end() is None  # an empty lake: a first ingest may ask any day
    instance = launch.persistent_instance()
    assert all(s.success for s in launch.ingest(instance, "2024-03-01", "2024-03-03", parallel=False))
    assert partitions_end() == "2024-03-03"
    keys = load_definitions().resolve_job_def(INGEST_JOB).partitions_def  # what the UI loads now
    assert max(k.keys_by_dimension["date"] for k in keys.get_partition_keys()) == "2024-03-03"

    # a later window moves the end with it, and its runs succeed on the new days
    assert all(s.success for s in launch.ingest(instance, "2024-03-04", "2024-03-05", parallel=False))
    assert partitions_end() == "2024-03-05" and os.environ["QUANT_ORGANISM_END_DATE"] == "2024-03-05"
    daily = launch._definitions().resolve_job_def(INGEST_JOB).partitions_def
    assert max(k.keys_by_dimension["date"] for k in daily.get_partition_keys()) == "2024-03-05"

    monkeypatch.setenv("QUANT_ORGANISM_END_DATE", "2024-06-30")  # fixed by hand
    assert partitions_end() == "2024-06-30"
    monkeypatch.setenv("QUANT_ORGANISM_END_DATE", "")
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "hyperliquid")  # a live source: every complete day
    assert partitions_end() is None
