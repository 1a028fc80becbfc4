"""The UI a newcomer opens after the demo: the main command run as `make demo` runs it (shorter: two evolution dates
and a fortnight of paper trading), then `python -m quant_organism ui` over its instance with the automation on, as
`make ui` starts it, and a headless Chromium on the pages a newcomer opens.

What it shows: the command line's runs in Overview's timeline and in a job's run history (they were created as runs
of the code location); the catalogue's partitions ending on the data's last day, every ingested day materialised;
`deployed_configs`'s decision table with a reason for every strategy weighed; a figure drawn in place on
`validated_strategies`; an automation tab with the sensor's evaluations. Each page's seconds to its content are
kept in test-output/ui/demo.json (`python -m quant_organism.benchmarks ui --demo` prints them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from quant_organism_tests.support import ui_support as ui

# The demo's shape, shortened: evolve on END - 14 days, re-evolve after 7, paper-trade 14 days, three coins.
# QUANT_ORGANISM_UI_DEMO=full (what `bench ui --demo` sets) runs `make demo` itself: 5 coins, 97 paper days, 4 dates.
FULL = os.environ.get("QUANT_ORGANISM_UI_DEMO") == "full"
END = "2025-10-19" if FULL else "2025-07-28"
PAPER_DAYS, EVOLVE_EVERY = (97, 30) if FULL else (14, 7)
COINS = "BTC,ETH,SOL,DOGE,XRP" if FULL else "BTC,ETH,SOL"
EVOLUTION_DATES = ["2025-07-14", "2025-08-13", "2025-09-12", "2025-10-12"] if FULL else ["2025-07-14", "2025-07-21"]
CHROMIUM, CHROMIUM_ARGS = ui.CHROMIUM, ui.CHROMIUM_ARGS
OUTPUT = ui.REPO_ROOT / "test-output" / "ui"

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # pages are timed: alone, so no other test loads the CPUs

RUNS_QUERY = """
query Runs($job: String!) { runsOrError(filter: {pipelineName: $job}) { ... on Runs { results {
  runId status repositoryOrigin { repositoryLocationName repositoryName } } } } }
"""
PARTITIONS_QUERY = """
query Partitions($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  partitionKeysByDimension { name partitionKeys }
  partitionStats { numMaterialized numPartitions } } } }
"""
DECISIONS_QUERY = """
{ assetOrError(assetKey: {path: ["deployment", "deployed_configs"]}) { ... on Asset {
  assetMaterializations(limit: 1) { partition metadataEntries { label
    ... on TableMetadataEntry { table { records } } } } } } }
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """A data root the shortened demo wrote, and the UI serving it with the automation on."""
    root = tmp_path_factory.mktemp("ui_demo")
    env = ui.project_env(root / "data", COINS)
    env["QUANT_ORGANISM_AUTOMATION"] = "on"  # as `make ui` starts it: the sensors evaluate from the first tick
    command = [sys.executable, "-m", "quant_organism", "run", "--end", END, "--paper-days", str(PAPER_DAYS),
               "--evolve-every", str(EVOLVE_EVERY)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ui.REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"the demo failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    print(f"\ndemo in {time.perf_counter() - started:.1f}s")
    server = ui.start_ui(env, root / "ui.log")
    try:
        ui.wait_ready(server)
        server.graphql("mutation { setNuxSeen }")  # no one-time community dialog over the pages
        yield server, done.stdout
    finally:
        server.stop()


def test_the_demos_runs_are_the_code_locations(demo):
    srv, _ = demo
    for job in ("ingest_market_data", "evolve_full", "paper_trade"):
        runs = srv.graphql(RUNS_QUERY, {"job": job})["runsOrError"]["results"]
        assert runs, job
        for run in runs:
            assert run["repositoryOrigin"] == {"repositoryLocationName": ui.LOCATION, "repositoryName": "__repository__"}
    evolved = srv.graphql(RUNS_QUERY, {"job": "evolve_full"})["runsOrError"]["results"]
    assert len([r for r in evolved if r["status"] == "SUCCESS"]) >= len(EVOLUTION_DATES)


def test_partitions_end_on_the_datas_last_day(demo):
    srv, _ = demo
    candles = srv.graphql(PARTITIONS_QUERY, {"path": ["market", "candles"]})["assetNodeOrError"]
    days = next(d["partitionKeys"] for d in candles["partitionKeysByDimension"] if d["name"] == "date")
    assert days[-1] == END
    paper = srv.graphql(PARTITIONS_QUERY, {"path": ["runtime", "paper_performance"]})["assetNodeOrError"]
    assert paper["partitionStats"]["numMaterialized"] == PAPER_DAYS  # every paper day, none after the last


def test_every_strategy_weighed_has_its_outcome_and_reason(demo):
    srv, _ = demo
    latest = srv.graphql(DECISIONS_QUERY)["assetOrError"]["assetMaterializations"][0]
    assert latest["partition"] == EVOLUTION_DATES[-1]
    table = next(e for e in latest["metadataEntries"] if e["label"] == "decisions")["table"]["records"]
    rows = [json.loads(r) for r in table]
    assert rows and all(r.get("outcome") and r.get("reason") for r in rows), rows
    assert "decisions_in_full" in {e["label"] for e in latest["metadataEntries"]}  # the same rows, whole, in a dialog


def test_a_newcomer_sees_runs_partitions_decisions_figures_and_automation(demo):
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make test` installs it (`make browsers`)"
    srv, _ = demo
    shots = OUTPUT / "demo"
    shots.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            page.set_default_timeout(60_000)

            def visit(name: str, path: str, shown, timeout: float = 60_000) -> None:
                started = time.perf_counter()
                page.goto(f"{srv.url}/{path}", wait_until="commit")
                expect(shown()).to_be_visible(timeout=timeout)
                seconds[name] = round(time.perf_counter() - started, 2)
                page.screenshot(path=str(shots / f"{name}.png"))

            visit("timeline", "overview/activity/timeline", lambda: page.get_by_text("evolve_full").first)
            for job in ("ingest_market_data", "paper_trade", "market_regime"):
                expect(page.get_by_text(job, exact=True).first).to_be_visible()
            evolved = srv.graphql(RUNS_QUERY, {"job": "evolve_full"})["runsOrError"]["results"]
            visit(
                "job_runs",
                f"locations/{ui.LOCATION}/jobs/evolve_full/runs",
                lambda: page.get_by_text(evolved[-1]["runId"][:8]).first,
            )
            visit("catalog", "assets", lambda: page.get_by_text("market / candles").first)
            visit(
                "candles_partitions",
                "assets/market/candles?view=partitions",
                lambda: page.get_by_text(END).first,
            )
            visit(
                "deployed_configs",
                "assets/deployment/deployed_configs",
                lambda: page.get_by_text("decisions", exact=True).first,
            )
            expect(page.get_by_text("error_budgets", exact=True).first).to_be_visible()
            visit(
                "validated_strategies",
                "assets/validation/validated_strategies",
                lambda: page.locator("img[src^='data:image/svg+xml']").first,
            )
            # the automation tab fills on the sensor's first tick, seconds after the daemon starts: opened again
            # until it has (the page does not poll)
            evaluated = lambda: page.get_by_text("Not requested").or_(page.get_by_text("Requested")).first  # noqa: E731
            deadline = time.monotonic() + 180
            while True:
                try:
                    visit("automation_tab", "assets/evolution/population?view=automation", evaluated, 20_000)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
            visit("automation", "automation", lambda: page.get_by_text("automation_sensor").first)
        finally:
            browser.close()
    record = {"pages_s": seconds, "end": END, "coins": COINS, "paper_days": PAPER_DAYS, "evolution_dates": EVOLUTION_DATES}
    (OUTPUT / "demo.json").write_text(json.dumps(record, indent=2))
    print(f"\nseconds to content: {seconds}")
