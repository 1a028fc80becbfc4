"""Memory across runs (issue 13): two runs of one date keep both results; the example queries of docs/memory-and-workflows.md
run against the views and return rows of both; the memory asset plots across runs.

The chain runs twice through Dagster's harness on the synthetic market (two coins, the test preset), the
second run with another random seed, then paper-trades the next day, so every view has rows.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from quant_organism.reporting.memory import open_memory, views_in
from quant_organism_tests.support.chain import ingest_coins, project_definitions

MEMORY_DOC = Path(__file__).resolve().parents[1] / "docs" / "memory-and-workflows.md"
RELAXED = {"mode": "minimal", "alpha": 0.99, "min_trades": 1, "require_positive_walk_forward": False}
DAY, NEXT_DAY = "2024-06-29", "2024-06-30"


def readme_queries() -> list[str]:
    """The SQL blocks of the memory section of docs/memory-and-workflows.md."""
    text = MEMORY_DOC.read_text()
    section = text.split("## Memory", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("memory")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
        definitions = project_definitions(data_dir)
        with dg.instance_for_test() as instance:
            ingest_coins(definitions, instance, ("BTC", "ETH"), "2024-04-30", NEXT_DAY)
            runs = []
            # both runs deploy (a run whose gate rejects everything deploys cash: its plan is the date's whole decision)
            # and the second gate asks 17 trades, so some of its candidates are rejected
            for seed, gate in ((42, RELAXED), (43, {**RELAXED, "min_trades": 17})):
                config = {
                    "ops": {
                        "evolution__population": {"config": {"preset": "test", "random_seed": seed}},
                        "validation__validated_strategies": {"config": gate},
                        "deployment__deployed_configs": {"config": {"probation_days": 0}},
                    }
                }  # capital at once
                result = definitions.resolve_job_def("evolve").execute_in_process(
                    instance=instance, partition_key=DAY, run_config=config
                )
                assert result.success
                runs.append(result.run_id)
            paper = definitions.resolve_job_def("paper_trade").execute_in_process(instance=instance, partition_key=NEXT_DAY)
            assert paper.success
            memory = definitions.resolve_job_def("research_memory").execute_in_process(instance=instance)
            assert memory.success
            meta = {
                k: getattr(v, "value", v)
                for k, v in memory.asset_materializations_for_node("reporting__research_memory")[0].metadata.items()
            }
        yield data_dir, runs, meta


def test_two_runs_of_one_date_keep_both_results(two_runs):
    data_dir, runs, _ = two_runs
    for table in ("populations", "generations", "runs", "verdicts", "deployments", "reports"):
        kept = sorted(p.name for p in (data_dir / "history" / table / f"evolution_date={DAY}").iterdir())
        assert kept == sorted(f"run_id={r}" for r in runs), table
    # the latest run is still where the assets read it
    latest = pd.read_parquet(data_dir / "evolution" / f"date={DAY}" / "population.parquet")
    with open_memory(data_dir, data_dir / "paper" / "ledger.duckdb") as con:
        second = con.execute("SELECT count(*) FROM populations WHERE run_id = ?", [runs[1]]).fetchone()[0]
        assert second == len(latest)
        assert {"populations", "verdicts", "deployments", "paper_pnl", "paper_daily", "paper_trades"} <= set(views_in(con))
        for view in ("populations", "verdicts", "deployments", "runs", "reports", "paper_pnl"):
            columns = [c[0] for c in con.execute(f"DESCRIBE {view}").fetchall()]
            assert {"run_id", "evolution_date"} <= set(columns), view
        # the paper ledger is tagged with the run whose deployment traded
        tagged = con.execute("SELECT DISTINCT run_id FROM paper_pnl").fetchall()
        assert tagged and {r for (r,) in tagged} <= set(runs)


def test_readme_example_queries_return_rows_of_both_runs(two_runs):
    data_dir, runs, _ = two_runs
    queries = readme_queries()
    assert len(queries) >= 5
    with open_memory(data_dir, data_dir / "paper" / "ledger.duckdb") as con:
        for sql in queries:
            frame = con.execute(sql).df()
            assert len(frame), sql
            if "run_id" in frame.columns:
                assert set(frame["run_id"]) == set(runs), sql


def test_memory_asset_plots_across_runs(two_runs):
    _, runs, meta = two_runs
    assert meta["runs"] == len(runs)
    assert meta["memory_plot"].startswith("![memory](data:image/png;base64,")
    assert {"populations", "verdicts", "deployments"} <= set(meta["catalog_views"])
    assert "evolution_date" in meta["best_fitness_by_night"]


def test_query_command_prints_rows(two_runs, monkeypatch, capsys):
    from quant_organism.cli.main import main

    data_dir, runs, _ = two_runs
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(data_dir))
    assert main(["query", "SELECT run_id, count(*) AS n FROM verdicts GROUP BY run_id ORDER BY run_id", "--csv"]) == 0
    out = capsys.readouterr().out
    assert all(r in out for r in runs)
    assert main(["query", "SELECT * FROM no_such_view"]) == 2
    assert "views:" in capsys.readouterr().err
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(data_dir / "elsewhere"))  # a data root nothing ran in yet
    assert main(["query", "SELECT * FROM runs"]) == 2
    assert "views: none yet under" in capsys.readouterr().err
