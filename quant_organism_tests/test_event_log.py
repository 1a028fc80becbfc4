"""The instance's pooled SQLite event log: a batch of events is stored in one transaction, all or nothing."""

import time

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from sqlalchemy import event

from quant_organism.defs.shared.event_log import PooledSqliteEventLogStorage

ASSET = dg.AssetKey(["market", "candles"])


def materialisation(run_id: str, partition: str) -> EventLogEntry:
    dagster_event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="ingest_market_data",
        event_specific_data=StepMaterializationData(dg.AssetMaterialization(asset_key=ASSET, partition=partition)),
    )
    return EventLogEntry(
        error_info=None, level="DEBUG", user_message="", run_id=run_id, timestamp=time.time(), dagster_event=dagster_event
    )


@pytest.fixture
def storage(tmp_path):
    store = PooledSqliteEventLogStorage(str(tmp_path / "history"))
    yield store
    store.dispose()


def count_commits(store: PooledSqliteEventLogStorage) -> list[int]:
    commits = [0]
    event.listen(store._pooled_engine(), "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))
    return commits


def test_a_batch_of_materialisations_is_one_transaction_and_indexes_every_partition(storage):
    commits = count_commits(storage)
    days = [f"BTC|2024-03-{d:02d}" for d in range(1, 31)]
    storage.store_event_batch([materialisation("run-a", day) for day in days])
    assert commits[0] == 1  # Dagster's default: two commits per event (its row, then its asset index)
    records = storage.get_records_for_run("run-a").records
    assert len(records) == len(days)
    latest = storage.get_latest_storage_id_by_partition(ASSET, DagsterEventType.ASSET_MATERIALIZATION)
    assert set(latest) == set(days)  # the asset index holds every partition


def test_a_batch_that_fails_stores_none_of_its_events_and_the_next_one_stores_normally(storage, monkeypatch):
    original = PooledSqliteEventLogStorage.store_event
    stored = [0]

    def third_fails(self, entry):
        stored[0] += 1
        if stored[0] == 3:
            raise RuntimeError("disk full")
        original(self, entry)

    monkeypatch.setattr(PooledSqliteEventLogStorage, "store_event", third_fails)
    with pytest.raises(RuntimeError, match="disk full"):
        storage.store_event_batch([materialisation("run-b", f"BTC|2024-03-0{d}") for d in range(1, 6)])
    assert storage.get_records_for_run("run-b").records == []  # rolled back: no half-stored batch
    monkeypatch.setattr(PooledSqliteEventLogStorage, "store_event", original)
    storage.store_event_batch([materialisation("run-b", "BTC|2024-03-09")])
    storage.store_event(materialisation("run-b", "BTC|2024-03-10"))  # a single event outside any batch
    assert len(storage.get_records_for_run("run-b").records) == 2
