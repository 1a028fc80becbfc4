"""The terminal dashboard in Textual's pilot, on a populated fixture instance (benchmarks/live_book.populate: the live
session's own state and alerts, probationers whose records went through ProbationEntry.update, both tiers'
verdicts, an evolution's statistics): every section shows, it writes nothing, and the kill switch asks for a
confirmation before it writes the request the live process acts on."""

from __future__ import annotations

import asyncio
import json

from quant_organism.benchmarks.live_book import populate
from quant_organism.cli.dashboard_app import Dashboard
from quant_organism.reporting.dashboard_data import KILL_FILE


def _files(root) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_every_section_shows_the_instance_and_the_dashboard_writes_nothing(tmp_path):
    populate(tmp_path, coins=5)
    before = _files(tmp_path)

    async def drive():
        app = Dashboard(tmp_path, refresh_s=0.2)
        async with app.run_test(size=(170, 60)) as pilot:
            await pilot.pause(0.5)  # a few timed refreshes
            await pilot.press("r")
            rows = {k: app.query_one(f"#{k}-table").row_count for k in ("live", "probation", "night", "health")}
            summary = str(app.query_one("#summary").content)
            fitness = app.query_one("#best").data
            return rows, summary, fitness, app.refreshes

    rows, summary, fitness, refreshes = asyncio.run(drive())
    assert rows["live"] > 0 and rows["probation"] == 3 and rows["night"] == 4 and rows["health"] >= 1
    assert "VaR 99% 1d" in summary and "drawdown" in summary and "breakers" in summary
    assert len(fitness) == 12 and fitness == sorted(fitness)  # the best score by generation never falls
    assert refreshes >= 3
    assert _files(tmp_path) == before  # read-only beside the automation


def test_the_kill_switch_needs_a_confirmation_then_writes_the_request(tmp_path):
    populate(tmp_path, coins=3)

    async def drive():
        app = Dashboard(tmp_path, refresh_s=60)
        async with app.run_test() as pilot:
            await pilot.press("k", "x")  # armed, then cancelled by another key
            await pilot.pause()
            cancelled = not (tmp_path / KILL_FILE).exists()
            await pilot.press("k", "y")
            await pilot.pause()
            return cancelled

    assert asyncio.run(drive())
    request = json.loads((tmp_path / KILL_FILE).read_text())
    assert request["requested_by"].startswith("dashboard")


def test_an_empty_data_root_shows_what_is_missing_and_does_not_fail(tmp_path):
    async def drive():
        app = Dashboard(tmp_path, refresh_s=60)
        async with app.run_test() as pilot:
            await pilot.pause()
            return {k: str(app.query_one(f"#{k}-note").content) for k in ("live", "probation", "night", "health")}

    notes = asyncio.run(drive())
    assert notes == {"live": "no live state", "probation": "nothing deployed yet", "night": "no night has been validated yet",
                     "health": "no feed health record"}  # fmt: skip
