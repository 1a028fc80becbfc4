"""The instance's event log: Dagster's consolidated SQLite storage, with one engine per process.

Dagster's `ConsolidatedSqliteEventLogStorage` builds a new SQLAlchemy engine and opens the database for
every event, and commits each with a full fsync of the write-ahead log: about 9 ms an event here, which
made Dagster's per-partition events (a planned and a materialisation event per asset and partition) the
bulk of an ingest's time. This subclass keeps one pooled engine per process and runs the WAL with
`synchronous=NORMAL` (SQLite's recommended setting for WAL: a crash of the process loses nothing, a power
cut can lose the last transactions but never corrupts the database). Same schema, same files: an instance
can switch to it and back.

The parent also inspects the schema on every asset event (does table X exist, does the asset-key table have
column Y?), each time through a new engine: a tenth of an ingest. A table or column that exists stays (the
schema is only ever migrated forward), so a positive answer is remembered for the process's life; a
negative one is asked again, so a migration in another process is seen.

And Dagster stores a batch of events (`DAGSTER_EVENT_BATCH_SIZE`: a range run's per-partition
materialisations) one event at a time, two commits each (the event row, then its asset index rows); here a
batch is one transaction, all or nothing.
"""

import os
import threading
from contextlib import contextmanager

from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from sqlalchemy import create_engine, event
from sqlalchemy.pool import QueuePool

BUSY_TIMEOUT_S = 30


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None) -> None:
        self._engine = None  # before the parent's init, which may already connect (migrations, reindex)
        self._engine_pid = None
        self._known_tables: set[str] = set()
        self._known_asset_key_columns: set[str] = set()
        self._batch = threading.local()  # the connection of a batch being stored by this thread, if any
        super().__init__(base_dir, inst_data)

    def store_event_batch(self, events) -> None:
        """Store a batch of events in one transaction: Dagster's default stores each event in two (the event
        row, then its asset index rows), each committed alone. All or nothing: a batch that fails to
        store leaves none of its events, as a failed single event leaves none."""
        if getattr(self._batch, "conn", None) is not None:
            super().store_event_batch(events)
            return
        with self._pooled_engine().connect() as conn, conn.begin():
            self._batch.conn = conn
            try:
                super().store_event_batch(events)
            finally:
                self._batch.conn = None

    def has_table(self, table_name: str) -> bool:
        if table_name in self._known_tables:
            return True
        with self._pooled_engine().connect() as conn:
            found = bool(conn.dialect.has_table(conn, table_name))
        if found:
            self._known_tables.add(table_name)
        return found

    def _has_asset_key_col_on_connection(self, conn, column_name: str) -> bool:
        if column_name in self._known_asset_key_columns:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._known_asset_key_columns.add(column_name)
        return found

    def _pooled_engine(self):
        if self._engine is None or self._engine_pid != os.getpid():  # a forked child opens its own
            engine = create_engine(
                self._conn_string,
                poolclass=QueuePool,
                pool_size=4,
                max_overflow=8,
                connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
            )
            event.listen(engine, "connect", _tune)
            self._engine, self._engine_pid = engine, os.getpid()
        return self._engine

    @contextmanager
    def _connect(self):
        batch = getattr(self._batch, "conn", None)
        if batch is not None and self._engine_pid == os.getpid():
            yield batch  # inside store_event_batch: its transaction
            return
        with self._pooled_engine().connect() as conn:
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        if self._engine is not None and self._engine_pid == os.getpid():
            self._engine.dispose()
        self._engine = None
        super().dispose()


def _tune(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
