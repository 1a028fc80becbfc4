"""The backtest benchmark's command line: runs end to end on a small case and reports the agreed keys."""

from __future__ import annotations

import json

from quant_organism.benchmarks import backtest as bench


def test_benchmark_json_reports_the_agreed_keys(capsys):
    # Peers are covered by the full run (`--sample 0` skips them: vectorbt's from_signals alone compiles
    # for ~8 s in every new process); `--no-pin` keeps the test process on all its CPUs.
    code = bench.main(["--json", "--no-pin", "--genomes", "20", "--sample", "0", "--repeat", "1", "--ml-per-seed", "0", "--days", "45"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"evals_per_s", "backtesting_py_evals_per_s", "naive_vectorbt_evals_per_s", "peak_rss_mb"} <= set(result)
    assert result["evals_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert result["genomes"] == 20 and result["bars"] == 45 * 24
    assert result["engine_s"] > 0 and result["signals_s"] > 0
    assert result["cpu"] is None and result["numba_cache_warmed"]
    assert result["regime_on_evals_per_s"] > 0 and result["regime_on_vs_off"] > 0  # regime genes on vs off, one run
    assert result["regime_asset_s"] > 0 and result["regime_asset_coins"] == 5 and result["regime_asset_days"] == 45


def test_benchmark_text_report_names_ours_engine_and_memory(capsys):
    assert bench.main(["--no-pin", "--genomes", "10", "--sample", "0", "--repeat", "1", "--ml-per-seed", "0", "--days", "30"]) == 0
    text = capsys.readouterr().out
    assert "evals/s" in text and "engine (simulate + metrics)" in text and "peak RSS" in text
    assert "regime genes on" in text and "market/regime asset" in text
