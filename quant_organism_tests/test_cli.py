"""Issue 15, findings 7 and 8: a CLI a person reads, instance paths that follow the data root, temp files of
killed writers swept, and a second ledger writer that waits instead of failing on DuckDB's lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.market.sources.synthetic import SyntheticSource

ROOT = Path(__file__).resolve().parents[1]


def _cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "QUANT_ORGANISM_DATA_DIR": str(data_dir), "QUANT_ORGANISM_COINS": "BTC,ETH", **env}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "quant_organism", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600
    )


def _late_files(folder: Path, first_day: str) -> Path:
    """BTC and ETH hourly files whose history begins on `first_day` (a history shorter than asked for)."""
    folder.mkdir()
    for coin in ("BTC", "ETH"):
        bars = SyntheticSource().candles(coin, first_day, "2024-06-01")
        bars.drop(columns="coin").assign(timestamp=bars["timestamp"].astype("int64") // 10**6).to_csv(
            folder / f"{coin}_1h.csv", index=False
        )
    return folder


def test_a_run_prints_a_few_lines_per_phase_and_logs_the_event_stream_to_a_file(tmp_path):
    files = _late_files(tmp_path / "files", "2024-03-20")
    done = _cli(
        tmp_path / "data",
        "run",
        "--end",
        "2024-05-30",
        "--preset",
        "test",
        "--days",
        "90",
        "--paper-days",
        "1",
        QUANT_ORGANISM_SOURCE="files",
        QUANT_ORGANISM_FILES_DIR=str(files),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) < 30, lines
    # history shorter than asked for: said in one sentence, and the run goes on with what exists
    assert any(line.startswith("history: the source's data for") and "begins 2024-03-20" in line for line in lines)
    assert [line.split("]")[0] + "]" for line in lines if line.startswith("[")] == ["[ingest]", "[evolve]", "[paper]"]
    days = (pd.Timestamp("2024-05-30") - pd.Timestamp("2024-03-20")).days + 1  # ingested from where the files begin
    # no Fear & Greed file beside the candles: said on the terminal, not only in the log
    assert any(line.startswith(f"sentiment: {days}/{days} days without a Fear & Greed value (no Fear") for line in lines)
    [log_file] = (tmp_path / "data" / "logs").glob("run-*.log")
    assert str(log_file) in done.stdout
    events = log_file.read_text()
    assert "STEP_SUCCESS" in events and "evolution__population" in events and events.count("\n") > 100
    status = _cli(tmp_path / "data", "status", QUANT_ORGANISM_SOURCE="files", QUANT_ORGANISM_FILES_DIR=str(files))
    assert status.returncode == 0 and status.stdout.startswith("quant_organism status"), status.stderr[-3000:]
    assert "Warning" not in status.stderr, status.stderr[-3000:]  # no library notices for the person reading it
    query = _cli(tmp_path / "data", "query", "select count(*) AS n from partition_quality where passed")  # market views too
    assert query.returncode == 0 and query.stdout.split() == ["n", str(2 * 2 * days)], query.stdout + query.stderr


def test_a_day_below_the_quality_gate_is_named_left_out_and_the_run_goes_on(tmp_path):
    """An exchange outage (hours missing from one day) fails the ingest's blocking quality check for that
    partition. The command names it with its score and the query that says why, leaves it out of what reads the
    lake (evolution's coverage rule judges what remains) and goes on: evolution and paper trading run."""
    files = _late_files(tmp_path / "files", "2024-03-01")
    btc = pd.read_csv(files / "BTC_1h.csv")
    hours = pd.to_datetime(btc["timestamp"], unit="ms", utc=True)
    btc[~((hours >= "2024-05-05 10:00") & (hours < "2024-05-05 16:00"))].to_csv(files / "BTC_1h.csv", index=False)
    env = {"QUANT_ORGANISM_SOURCE": "files", "QUANT_ORGANISM_FILES_DIR": str(files)}
    done = _cli(tmp_path / "data", "run", "--end", "2024-05-30", "--days", "90", "--preset", "test", "--paper-days", "1", **env)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if "below the quality threshold" in line]
    assert "1 partition(s) left out of what reads the lake" in line and "BTC 2024-05-05 (75.0%)" in line
    assert "python -m quant_organism query 'select * from partition_quality where not passed'" in line
    assert [x.split("]")[0] + "]" for x in done.stdout.splitlines() if x.startswith("[")] == ["[ingest]", "[evolve]", "[paper]"]
    query = _cli(tmp_path / "data", "query", "select coin, day, missing_rows from partition_quality where not passed", **env)
    assert query.stdout.split() == ["coin", "day", "missing_rows", "BTC", "2024-05-05", "6"], query.stdout + query.stderr


def test_a_history_that_stops_moves_the_default_end_and_refuses_an_end_past_it(tmp_path):
    """Files end somewhere in the past. Without --end (yesterday) the run ends on the last whole day every coin has,
    and says so; an --end past every coin's data is refused with the day to pick; a coin whose data stops
    earlier than --end is named, and its missing days are left out at the quality gate."""
    files = _late_files(tmp_path / "files", "2024-03-01")  # bars up to 2024-05-31 23:00
    eth = pd.read_csv(files / "ETH_1h.csv")
    eth[pd.to_datetime(eth["timestamp"], unit="ms") < "2024-05-20 12:00"].to_csv(files / "ETH_1h.csv", index=False)
    env = {"QUANT_ORGANISM_SOURCE": "files", "QUANT_ORGANISM_FILES_DIR": str(files)}
    moved = _cli(tmp_path / "data", "run", "--preset", "test", "--days", "10", "--ingest-only", **env)
    assert moved.returncode == 0, moved.stderr[-3000:]
    assert "history: the source's data for ETH ends 2024-05-19 (its last whole day); the run ends there" in moved.stdout
    assert "[ingest] 10 days x 2 coins, sentiment and regimes: 2/2 ok" in moved.stdout  # 2024-05-10..19, all clean
    past = _cli(tmp_path / "data", "run", "--preset", "test", "--end", "2024-06-10", "--ingest-only", **env)
    assert past.returncode == 1 and "FAILED: ingest" in past.stderr
    assert "the source's history ends 2024-05-31 (the last whole day of BTC's data), before --end 2024-06-10" in past.stderr
    assert "pick --end 2024-05-19 or earlier" in past.stderr
    one = _cli(tmp_path / "data", "run", "--preset", "test", "--end", "2024-05-25", "--days", "10", "--ingest-only", **env)
    assert one.returncode == 0, one.stderr[-3000:]
    assert "history: the source's data for ETH ends 2024-05-19; its later days are missing" in one.stdout
    assert "ETH 2024-05-20 (50.0%)" in one.stdout and "6 partition(s) left out" in one.stdout


def test_failures_say_what_where_why_and_what_to_do(tmp_path):
    files = _late_files(tmp_path / "files", "2024-03-01")
    (files / "ETH_1h.csv").write_text("timestamp,open,high,low,close,volume\n1709251200000,1,2,0.5,x,3\nyesterday,1,2,0.5,1,3\n")
    done = _cli(
        tmp_path / "data",
        "run",
        "--end",
        "2024-04-10",
        "--preset",
        "test",
        "--days",
        "20",
        "--ingest-only",
        QUANT_ORGANISM_SOURCE="files",
        QUANT_ORGANISM_FILES_DIR=str(files),
    )
    assert done.returncode == 1
    assert "FAILED: market data (coin ETH, source=files)" in done.stderr
    assert "why: " in done.stderr and "ETH_1h.csv" in done.stderr and "'yesterday'" in done.stderr
    assert "what to do: " in done.stderr

    missing = _cli(
        tmp_path / "data",
        "run",
        "--preset",
        "test",
        QUANT_ORGANISM_SOURCE="files",
        QUANT_ORGANISM_FILES_DIR=str(tmp_path / "nowhere"),
    )
    assert missing.returncode == 1 and missing.stderr.count("does not exist") == 1  # once, not per partition
    early = _cli(tmp_path / "data", "run", "--end", "2020-01-01")
    assert early.returncode == 2 and "is before the first partition 2024-01-01" in early.stderr
    assert "Traceback" not in early.stderr + missing.stderr + done.stderr

    old_files = tmp_path / "old_files"  # a history that ends before the partitions begin: the start date to set
    old_files.mkdir()
    for coin in ("BTC", "ETH"):
        bars = SyntheticSource().candles(coin, "2023-09-01", "2023-11-01")
        bars.drop(columns="coin").to_csv(old_files / f"{coin}_1h.csv", index=False)
    old = _cli(tmp_path / "data", "run", "--preset", "test", "--ingest-only", QUANT_ORGANISM_SOURCE="files",
               QUANT_ORGANISM_FILES_DIR=str(old_files))  # fmt: skip
    assert old.returncode == 1 and "is before the first partition 2024-01-01" in old.stderr
    assert "what to do: set QUANT_ORGANISM_START_DATE=2023-09-01 (the first whole day every coin's data has)" in old.stderr


def test_the_instance_follows_a_moved_data_root(tmp_path, monkeypatch):
    from quant_organism.cli.launch import prepare_dagster_home

    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path / "old"))
    prepare_dagster_home()
    (tmp_path / "old").rename(tmp_path / "new")
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path / "new"))
    home = Path(prepare_dagster_home())
    text = (home / "dagster.yaml").read_text()
    assert str(tmp_path / "new") in text and str(tmp_path / "old") not in text


def test_temp_files_of_killed_writers_are_swept_and_live_ones_kept(tmp_path):
    from quant_organism.core.durable import sweep_stale_temps, temp_path

    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = tmp_path / "lake" / "candles" / "coin=BTC" / "date=2024-01-01"
    folder.mkdir(parents=True)
    stale = folder / f".data.parquet.{dead.pid}.0.tmp"
    mine = temp_path(folder / "data.parquet")
    other = folder / "notes.tmp"
    for path in (stale, mine, other):
        path.write_text("x")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert sweep_stale_temps(tmp_path) == [stale]
    assert mine.exists() and other.exists() and not stale.exists()


def test_a_second_ledger_writer_waits_for_the_lock_then_says_clearly_when_it_gives_up(tmp_path):
    from quant_organism.runtime.ledger import LedgerLockedError, PaperLedger

    path = tmp_path / "ledger.duckdb"
    PaperLedger(path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(3)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    ledger = PaperLedger(path, lock_timeout=30)  # waits for the holder (3 s), then opens
    assert 1.0 < time.monotonic() - started < 30 and ledger.strategies() == []
    holder.wait()

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(20)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    try:
        with pytest.raises(LedgerLockedError, match="stayed locked by another process for 1 s"):
            PaperLedger(path, lock_timeout=1)
    finally:
        holder.kill()
        holder.wait()


def test_coins_ingested_by_worker_processes_land_in_the_instance_and_a_failure_says_why(tmp_path, monkeypatch):
    from quant_organism.cli import launch

    files = _late_files(tmp_path / "files", "2024-03-01")
    (files / "ETH_1h.csv").write_text("timestamp,open,high,low,close,volume\n1709251200000,1,2,0.5,x,3\n")
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))  # persistent_instance exports its own: undone on exit
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(files))
    monkeypatch.setenv("QUANT_ORGANISM_INGEST_WORKERS", "2")
    instance = launch.persistent_instance()
    btc, eth = launch.ingest(instance, "2024-03-01", "2024-03-10", ("BTC", "ETH"), parallel=True)
    assert (btc.coin, btc.success, btc.failure) == ("BTC", True, None)
    assert (eth.coin, eth.success) == ("ETH", False) and "quality_score" in eth.failure  # its bars were quarantined
    assert btc.run_id != eth.run_id  # the runs were made in the workers
    import dagster as dg

    instance = dg.DagsterInstance.get()  # a fresh view of what the workers wrote
    assert instance.get_run_by_id(btc.run_id).is_success and instance.get_run_by_id(eth.run_id).is_failure
    materialized = instance.get_materialized_partitions(dg.AssetKey(["market", "candles"]))
    assert {f"BTC|2024-03-{day:02d}" for day in range(1, 11)} <= {str(k) for k in materialized}


def test_a_coin_listed_later_is_ingested_from_the_day_it_listed(tmp_path, monkeypatch):
    """A point-in-time universe's coins list on different days: each coin's range starts on its own first day,
    so no day before a listing is asked of the source (nor reported below the quality gate)."""
    import dagster as dg

    from quant_organism.cli import launch

    files = _late_files(tmp_path / "files", "2024-03-01")
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(files))
    instance = launch.persistent_instance()
    btc, eth = launch.ingest(instance, "2024-03-01", "2024-03-04", ("BTC", "ETH"), parallel=False, listed={"ETH": "2024-03-03"})
    assert (btc.start, eth.start) == ("2024-03-01", "2024-03-03") and btc.success and eth.success
    materialized = {str(k) for k in instance.get_materialized_partitions(dg.AssetKey(["market", "candles"]))}
    assert {"ETH|2024-03-03", "ETH|2024-03-04", "BTC|2024-03-01"} <= materialized
    assert not {"ETH|2024-03-01", "ETH|2024-03-02"} & materialized


@pytest.mark.parametrize(("pbo", "shown"), [(0.0, "PBO 0.00"), (0.62, "PBO 0.62"), (None, "PBO not computed")])
def test_the_summary_prints_a_pbo_of_zero_as_zero(pbo, shown):
    """A PBO of 0 (a stable edge) once printed as nan, because `0.0 or nan` is nan."""
    from quant_organism.cli.main import _report_lines

    report = {"deployed": ["x"], "statistics": {"candidates_spa_pvalue": 0.0, "pbo": pbo}, "phases": {"deployment": {}}}
    assert _report_lines(report)[-1] == f"SPA p-value of the candidates 0.000, {shown}"


def test_rays_announcement_of_its_default_auth_is_dropped_and_its_other_warnings_kept(caplog):
    import logging

    from quant_organism.cli.main import RAY_AUTH_NOTICE, _quiet_api_notices

    _quiet_api_notices()
    logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        logger.warning(RAY_AUTH_NOTICE + ". Set RAY_AUTH_MODE=disabled to opt out.")
        logger.warning("Token authentication is disabled for this Ray cluster. Anyone with network access ...")
    assert [r.getMessage()[:40] for r in caplog.records] == ["Token authentication is disabled for thi"]


def test_the_main_command_ingests_from_a_hyperliquid_url_and_says_when_it_cannot_be_reached(tmp_path):
    """QUANT_ORGANISM_HYPERLIQUID_URL points the real SDK at another endpoint (a local replay server here, testnet
    for a user); an endpoint that refuses connections fails the ingest with what to do about the network."""
    from quant_organism_tests.support.hl_replay_server import HyperliquidReplayServer
    from quant_organism_tests.support.hl_tables import synthetic_candles, synthetic_funding

    env = {"QUANT_ORGANISM_SOURCE": "hyperliquid", "QUANT_ORGANISM_COINS": "BTC", "QUANT_ORGANISM_SENTIMENT_SOURCE": "none"}
    args = ("run", "--preset", "test", "--end", "2024-10-10", "--days", "3", "--ingest-only")
    with HyperliquidReplayServer(candle_cap=500, funding_cap=500) as server:
        start = pd.Timestamp("2024-09-01", tz="UTC")
        server.add_candles("BTC", synthetic_candles(start, 24 * 60), "1h")
        server.add_funding("BTC", synthetic_funding(start, 24 * 60))
        done = _cli(tmp_path / "data", *args, QUANT_ORGANISM_HYPERLIQUID_URL=server.url, **env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "[ingest] 3 days x 1 coins, sentiment and regimes: 1/1 ok" in done.stdout
        assert server.count("candleSnapshot") >= 1 and server.count("fundingHistory") >= 1
    query = _cli(tmp_path / "data", "query", "select count(*) AS n from candles")
    assert query.stdout.split() == ["n", str(3 * 24)], query.stdout + query.stderr
    closed = _cli(tmp_path / "data2", *args, QUANT_ORGANISM_HYPERLIQUID_URL="http://127.0.0.1:9", **env)
    assert closed.returncode == 1 and "FAILED: ingest (coin BTC" in closed.stderr
    assert "connection error" in closed.stderr and "Failure: " not in closed.stderr  # the description, not the class
    assert "what to do: the exchange could not be reached: check the network" in closed.stderr


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("QUANT_ORGANISM_UNIVERSE", "bad", "expected 'default' or 'topN'"),
        ("QUANT_ORGANISM_INTERVAL", "2h", "QUANT_ORGANISM_INTERVAL='2h': expected one of 1m, 5m, 15m, 1h, 4h, 1d"),
        ("QUANT_ORGANISM_START_DATE", "2024/01/01", "expected a day as YYYY-MM-DD"),
        ("QUANT_ORGANISM_COINS", "btc,ETH,BTC", "names one coin twice (btc, BTC)"),
        ("QUANT_ORGANISM_RUN_HEARTBEAT_TIMEOUT", "soon", "expected seconds"),
    ],
)
def test_a_bad_setting_is_refused_with_its_message_before_the_command_starts(
    variable, value, said, tmp_path, monkeypatch, capsys
):
    from quant_organism.cli.main import main

    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(variable, value)
    assert main(["run", "--preset", "test", "--ingest-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("quant_organism: ") and said in err and "Traceback" not in err
    assert not (tmp_path / "data" / "lake").exists()  # nothing started


def test_coins_named_in_lower_case_are_the_synthetic_markets_documented_tickers(monkeypatch):
    from quant_organism import settings

    monkeypatch.setenv("QUANT_ORGANISM_COINS", "btc, eth")
    monkeypatch.delenv("QUANT_ORGANISM_SOURCE", raising=False)
    assert settings.coins() == ("BTC", "ETH")
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")  # files and the exchange keep the spelling given
    assert settings.coins() == ("btc", "eth")


def test_a_dead_ray_address_fails_the_evolution_in_seconds_with_its_reason(tmp_path):
    """The reason reads as the raised error itself, not Dagster's wrapper of it."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.perf_counter()
    done = _cli(tmp_path / "data", "run", "--preset", "test", "--end", "2024-06-30", "--executor", "ray",
                QUANT_ORGANISM_RAY_ADDRESS=f"127.0.0.1:{port}")  # fmt: skip
    assert done.returncode == 1 and time.perf_counter() - started < 120
    assert f"why: evolution__population: RayUnreachableError: the Ray cluster at 127.0.0.1:{port} does not answer" in done.stderr
    assert "DagsterExecutionStepExecutionError" not in done.stderr and "quant_organism.evolution" not in done.stderr


def test_when_every_partition_is_below_the_gate_the_regimes_failure_points_at_them(tmp_path):
    """No clean bar at all (every close unreadable): the regimes cannot run, and what to do is the data named above,
    not the sentiment source."""
    files = _late_files(tmp_path / "files", "2024-05-01")
    for coin in ("BTC", "ETH"):
        bars = pd.read_csv(files / f"{coin}_1h.csv")
        bars.assign(close="n/a").to_csv(files / f"{coin}_1h.csv", index=False)
    env = {"QUANT_ORGANISM_SOURCE": "files", "QUANT_ORGANISM_FILES_DIR": str(files)}
    done = _cli(tmp_path / "data", "run", "--preset", "test", "--end", "2024-05-20", "--days", "5", "--ingest-only", **env)
    assert done.returncode == 1 and "FAILED: market regimes" in done.stderr
    assert "10 partition(s) left out of what reads the lake" in done.stdout
    assert "what to do: the partitions named above are below the quality gate" in done.stderr


def test_a_run_on_binance_downloads_as_they_come_builds_its_hours_from_zipped_15m_months(tmp_path):
    """Binance's monthly 15m kline downloads, zipped and headerless, for two coins: the run reads them as they come,
    builds 1h bars from them and says so, and ingests every hour."""
    import zipfile

    files = tmp_path / "files"
    files.mkdir()
    rng = np.random.default_rng(11)
    for coin in ("BTCUSDT", "ETHUSDT"):
        times = pd.date_range("2024-01-01", "2024-02-29 23:45", freq="15min", tz="UTC")
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, len(times))))
        open_ = np.r_[100.0, close[:-1]]
        high, low = np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999
        ms = times.as_unit("ms").asi8
        rows = pd.DataFrame({"t": ms, "o": open_, "h": high, "l": low, "c": close, "v": 5.0, "ct": ms + 899_999,
                             "qv": 500.0, "n": 9, "tb": 2.0, "tq": 200.0, "i": 0})  # fmt: skip
        for month, part in rows.groupby(times.strftime("%Y-%m")):
            name = f"{coin}-15m-{month}"
            with zipfile.ZipFile(files / f"{name}.zip", "w") as archive:
                archive.writestr(f"{name}.csv", part.to_csv(header=False, index=False))
    env = {"QUANT_ORGANISM_SOURCE": "files", "QUANT_ORGANISM_FILES_DIR": str(files), "QUANT_ORGANISM_COINS": "BTCUSDT,ETHUSDT"}
    args = ("run", "--preset", "test", "--end", "2024-02-10", "--days", "20", "--ingest-only")
    done = _cli(tmp_path / "data", *args, **env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "history: BTCUSDT: 2 files 2024-01..2024-02 read as one history; 1h bars built from its 15m file(s), 1440 bars"
        in done.stdout
    )
    assert "[ingest] 20 days x 2 coins, sentiment and regimes: 2/2 ok" in done.stdout
    query = _cli(tmp_path / "data", "query", "select count(*) AS n from candles where coin = 'ETHUSDT'", **env)
    assert query.stdout.split() == ["n", str(20 * 24)], query.stdout + query.stderr
