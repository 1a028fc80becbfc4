"""Shared fixtures: an isolated data root per test, and the location of the real market data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MARKET_DATA = REPO_ROOT.parent / "shared" / "market-data"

# The files that take longest (minutes each, `--durations`), longest first. pytest-xdist hands test files to
# its workers in collection order (`--no-loadscope-reorder`, Makefile): started first, none of them is left
# to run alone at the end of the pass.
LONGEST_FIRST = (
    "test_simulated_month.py",
    "test_cli.py",
    "test_forward_truth.py",
    "test_runtime_parity.py",
    "test_market_regime.py",
    "test_nightly_week.py",
    "test_intraday_paper.py",
    "test_backtest_benchmark.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # a stable sort: the rest keep their order


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh QUANT_ORGANISM_DATA_DIR for the test."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(root))
    return root


@pytest.fixture
def market_data_dir() -> Path:
    """../shared/market-data beside the repository; tests using it skip cleanly where it is absent."""
    if not (SHARED_MARKET_DATA / "hyperliquid__BTC_1h.csv").exists():
        pytest.skip(f"real market data not found at {SHARED_MARKET_DATA} (only present inside this workplace)")
    return SHARED_MARKET_DATA


@pytest.fixture(autouse=True)
def _partitions_end_where_the_data_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fixed end of the partitions, and none left behind: the command line sets QUANT_ORGANISM_END_DATE when a
    test's run reaches past its lake's end (`launch.reaching`); the empty value is no end, and it is undone after."""
    monkeypatch.setenv("QUANT_ORGANISM_END_DATE", "")


@pytest.fixture(autouse=True)
def _partitions_planned_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's `prepare_dagster_home` sets DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS in its process for
    range runs; a test after a CLI test in the same worker would inherit it, and under it a failed run's
    partitions read as missing, not failed (which the automation conditions tell apart). Each test starts without."""
    monkeypatch.delenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", raising=False)


@pytest.fixture(autouse=True)
def _no_stale_dagster_state_storage():
    """Dagster keeps the defs-state storage of the last test instance in a context variable; after that
    instance is closed, loading any Definitions would query the dead instance. Reset it between tests."""
    yield
    from dagster._core.storage.defs_state import base

    base._current_storage.set(None)
