"""`python -m quant_organism.benchmarks scale`: every row of the scale table from one run.

Each row is measured by the project's own code paths, each heavy one in a fresh process (so Ray, CPU pinning
and numba caches of one row never help another):

- technical / ML backtests per second on one core, with backtesting.py and vectorbt side by side (vectorbt as
  its users run a search, every genome a column of one call: the headline ratio; one call per genome beside it)
  (`benchmarks backtest --json`: passes of ours interleaved with the peers' genomes, each rate a mean over the
  same seconds, the best pass beside it), and the peak RSS of that 500-genome batch;
- backtests per second per core inside the full-preset evolution (serial and Ray), as a share of the kernel
  rate timed in passes inside each of bench evolution's timed runs, in the same seconds and processes (the
  headline; bench evolution's docstring says how), beside it the share over the kernel measured right before and
  after each run, and the share of bench backtest's rate (another process, minutes earlier: the machine's drift
  between the two moves it), and the share of evolution's core time spent in the evaluator in the same run;
- the validation replay stage's bars per second (candidates x coins x bars through the runtime engine, the
  prefix proofs of their signals and the backtest the replay is compared with), and the runtime engine's
  bars per second per book alone (signals computed and proven before the clock, as backtesting.py is handed
  its signals), both beside backtesting.py's bars per second in the same process over the same seconds (six
  replay passes, each after a slice of three `Backtest.run`s on genomes of bench backtest's first ten; each
  rate its work over its summed time, as bench backtest pairs ours with the peers);
- the main command's ingest, 120 days x 5 coins synthetic and the real files' 324 days x 5 coins, and the full
  preset's evolve -> validate -> deploy -> report on the real files (the CLI's own timing lines);
- with `--universe50`: the main command on the real universe (`../shared/market-data/hyperliquid-universe`,
  186 perpetuals, delisted ones included) as a user runs it: `universe --top 50` ranks the point-in-time top 50
  by trailing 30-day dollar volume on the day after `UNIVERSE50_END`, then the full preset at 4h over all the
  history the files hold before it (the lookback grows with it, as the evidence windows do), with the default
  executor (`auto`: the machine chooses, and the run prints why). Its wall time and the peak memory of its whole
  process tree, sampled every 0.25 s: the sum of the processes' RSS, and of their PSS (shared pages counted
  once), and the RSS at the peak by role (the driver, Ray's workers, Ray's own services, other); then Ray's floor
  (`ray_floor`): the local Ray a run starts, its workers prepared for their first island and a driver with the
  main command's imports, held still with no data, its peak RSS by role: what `auto` weighs against the cores.
  Skipped, saying so, where the shared folder is absent.
Targets are the issue's; a row below its target says so. With `--json` the last line is one JSON object
whose top-level keys are the headline figures (`HEADLINE`), the detail nested beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quant_organism.benchmarks.workload import spread

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "market-data"
TARGETS = {
    "technical": 10_000.0,
    "ml": 30.0,
    "ml_preset_ratio": 2.0,
    "evolution_share": 0.70,
    "real_e2e_s": 20.0,
    "ingest_synthetic_s": 5.0,
    "ingest_real_s": 15.0,
    "peak_rss_mb": 1024.0,
}


def _python(args: list[str], env: dict | None = None, timeout: float = 1800) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[2],
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout, time.perf_counter() - started


def _json(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{") :])


def _role(proc, root: int) -> str:
    """Which part of the run a process is: the driver, a Ray worker, Ray's own services, or other."""
    if proc.pid == root:
        return "driver"
    name = proc.name()
    if name.startswith("ray::") and name not in ("ray::DashboardAgent", "ray::RuntimeEnvAgent"):
        return "ray_workers"
    if name.startswith("ray::") or name in ("gcs_server", "raylet") or "/ray/" in " ".join(proc.cmdline()):
        return "ray_services"
    return "other"


def _tree_memory(pid: int) -> dict[str, tuple[int, int]]:
    """(RSS, PSS) in bytes of process `pid` and its descendants, summed by role (`_role`); vanished processes
    count 0."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    out: dict[str, tuple[int, int]] = {}
    for proc in procs:
        try:
            info = proc.memory_full_info()
            role = _role(proc, pid)
        except psutil.Error:
            continue
        rss, pss = out.get(role, (0, 0))
        out[role] = (rss + info.rss, pss + getattr(info, "pss", info.rss))
    return out


def _python_measured(args: list[str], env: dict, timeout: float) -> tuple[str, float, float, float, dict]:
    """`_python` with the process tree's peak RSS and PSS (MB) sampled while it runs, and the RSS of each role
    (`_role`) at the RSS peak."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **env},
            cwd=Path(__file__).resolve().parents[2],
        )
        peak_rss = peak_pss = 0
        at_peak: dict = {}
        while proc.poll() is None:
            roles = _tree_memory(proc.pid)
            rss, pss = sum(r for r, _ in roles.values()), sum(p for _, p in roles.values())
            if rss > peak_rss:
                peak_rss, at_peak = rss, roles
            peak_pss = max(peak_pss, pss)
            if time.perf_counter() - started > timeout:
                proc.kill()
            time.sleep(0.25)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{text[-3000:]}")
    by_role = {role: round(rss / 2**20, 1) for role, (rss, _) in sorted(at_peak.items())}
    return text, time.perf_counter() - started, peak_rss / 2**20, peak_pss / 2**20, by_role


UNIVERSE = SHARED / "hyperliquid-universe"
UNIVERSE50_END = "2025-07-24"  # the files' last whole day: the run is dated there, the members chosen the day after
UNIVERSE50_START = "2023-03-01"  # the oldest coins' first whole days (BTC and ETH from 2023-02-26)


def real_universe50(data: Path) -> dict:
    """The main command on the point-in-time top 50 of the real universe at 4h, full preset, default executor."""
    import pandas as pd

    if not UNIVERSE.is_dir():
        return {"skipped": f"no {UNIVERSE} (the shared market data is absent)"}
    env = {
        "QUANT_ORGANISM_DATA_DIR": str(data),
        "QUANT_ORGANISM_SOURCE": "files",
        "QUANT_ORGANISM_FILES_DIR": str(UNIVERSE),
        "QUANT_ORGANISM_INTERVAL": "4h",
        "QUANT_ORGANISM_START_DATE": UNIVERSE50_START,
        "QUANT_ORGANISM_UNIVERSE": "top50",
        "QUANT_ORGANISM_COINS": "",
    }
    as_of = (pd.Timestamp(UNIVERSE50_END) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    _python(["-m", "quant_organism", "universe", "--top", "50", "--as-of", as_of], env)
    days = (pd.Timestamp(UNIVERSE50_END) - pd.Timestamp(UNIVERSE50_START)).days + 1
    text, wall, rss, pss, by_role = _python_measured(
        ["-m", "quant_organism", "run", "--end", UNIVERSE50_END, "--days", str(days)], env, timeout=3600
    )
    executor = re.search(r"executor (\w+): (.*)", text)
    history = re.search(r"\[ingest\] (\d+) days x (\d+) coins", text)
    return {
        "ingest_s": _seconds(r"\[ingest\] .* in ([\d.]+)s", text),
        "evolve_s": _seconds(r"\[evolve\] .* in ([\d.]+)s", text),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(rss, 1),
        "peak_pss_mb": round(pss, 1),
        "peak_rss_mb_by_role": by_role,
        "executor": executor.group(1) if executor else None,
        "executor_reason": executor.group(2).strip() if executor else None,
        "days": int(history.group(1)) if history else None,
        "coins": int(history.group(2)) if history else None,
        "interval": "4h",
        "members_as_of": as_of,
    }


def _seconds(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None


def replay_rate(genomes: int = 10, coins: int = 5, passes: int = 6) -> dict:
    """Bars per second of the validation replay stage: `genomes` technical candidates on the last 30 days,
    replayed together as validation replays the candidates it replays (`replay_stages`), beside
    backtesting.py's bars per second over the same seconds (`_paired_replay` says how)."""
    import numpy as np
    import pandas as pd

    from quant_organism.evolution.operators import random_genome
    from quant_organism.evolution.traded_frames import market_frames
    from quant_organism.market.sources.synthetic import SyntheticSource
    from quant_organism.settings import DEFAULT_COINS
    from quant_organism.strategies import TECHNICAL_SEEDS
    from quant_organism.validation.replay import ReplayConfig, replay_stage, replay_stages

    source = SyntheticSource()
    start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-12-31", tz="UTC")
    frames = market_frames(source, DEFAULT_COINS[:coins], start, end)
    rng = np.random.default_rng(5)
    genes = [
        random_genome(TECHNICAL_SEEDS[k % len(TECHNICAL_SEEDS)], rng).model_copy(update={"seed_id": f"r{k}"})
        for k in range(genomes)
    ]
    config = ReplayConfig(window_bars=720)
    warm = np.random.default_rng(6)  # other genomes of the same seed types: their kernels loaded once before the
    for seed_type in dict.fromkeys(g.seed_type for g in genes):  # clock, as bench backtest warms every numba cache
        replay_stage(random_genome(seed_type, warm), frames, config, end=end)

    def replay_once() -> None:
        verdicts = replay_stages(genes, frames, config, end=end)  # as validation replays its best `replay_top`
        if not all(v.metrics.get("agrees_with_backtest") for v in verdicts):  # a rate of wrong replays means nothing
            raise RuntimeError(f"a replay disagreed with its backtest: {[v.reasons for v in verdicts]}")

    bars = genomes * len(frames) * config.window_bars
    paired = _paired_replay(replay_once, backtesting_py_slices(), passes)
    walls = paired.pop("replay_walls_s")
    stepping = runtime_stepping_s(genes, frames, config.window_bars)
    return {
        "replay_bars": bars,
        "replay_passes": len(walls),
        "replay_wall_s": spread(walls),
        "replay_bars_per_s": round(bars * len(walls) / sum(walls), 1),
        **paired,
        "runtime_stepping_s": round(stepping, 3),
        "runtime_book_bars_per_s": round(bars / stepping, 1),
    }


def _paired_replay(replay_once, peer_slices, passes: int) -> dict:
    """The replay and backtesting.py in the same seconds: `passes` times, a slice of the peer's genomes (about
    as long as a replay pass) then one replay pass; each rate is its work over its summed time. As `bench
    backtest` pairs ours with the peers, and for the same reason: this machine switches between two speeds every
    few seconds, and one replay pass timed between two peer passes read x0.82 and x1.29 in one hour of one
    day (2026-11-27) as one side or the other fell in the slow mode."""
    replay_walls, peer_walls, peer_bars = [], [], 0
    for k in range(passes):
        bars, seconds = peer_slices(k)
        peer_bars += bars
        peer_walls.append(seconds)
        started = time.perf_counter()
        replay_once()
        replay_walls.append(time.perf_counter() - started)
    return {
        "replay_walls_s": replay_walls,
        "backtesting_py_bars_per_s": round(peer_bars / sum(peer_walls), 1),
        "backtesting_py_slice_s": spread(peer_walls),
    }


def backtesting_py_slices(genomes: int = 10, per_slice: int = 3):
    """A callable `k -> (bars, seconds)` timing backtesting.py's `k`-th slice of `per_slice` genomes (cycling
    through bench backtest's first `genomes`, on its market and peer harness): one `Backtest.run` per genome on a
    year of hourly bars. Three genomes of a year take about as long as one replay pass of ours."""
    from quant_organism.benchmarks.workload import backtesting_py_runner, market, signals_for, technical_genomes

    candles, funding, _ = market()
    genes = technical_genomes()[:genomes]
    signals = signals_for(candles, funding, genes)
    run = backtesting_py_runner(candles)
    run(genes[0], signals[0])  # its imports and caches

    def time_slice(k: int) -> tuple[int, float]:
        picked = [(k * per_slice + j) % genomes for j in range(per_slice)]
        started = time.perf_counter()
        for i in picked:
            run(genes[i], signals[i])
        return len(picked) * len(candles), time.perf_counter() - started

    return time_slice


def runtime_stepping_s(genes, frames, window_bars: int, repeat: int = 3) -> float:
    """Seconds the runtime engine takes to trade the replay's bars (one book per candidate and coin, the
    replay's neutral policy) once each candidate's signals are computed and proven: the per-bar loop and its
    trades and marks as tables, as backtesting.py is timed running on signals handed to it and returning its
    stats. The replay stage adds the proofs and the backtest it is compared with. Best of `repeat` passes over
    the candidates, as `bench backtest` times ours."""
    from quant_organism.catalog import StrategyConfig
    from quant_organism.runtime import RuntimePolicy, StrategyRuntimeEngine

    configs = [StrategyConfig.from_genes(g, fitness_score=0.0, backtest_sharpe=0.0) for g in genes]
    passes = []
    for _ in range(repeat):
        total = 0.0
        for config in configs:
            engine = StrategyRuntimeEngine(
                [config], policy=RuntimePolicy.backtest_parity(), coins=tuple(frames), signal_mode="precomputed"
            )
            times = engine.bar_times(frames)[-window_bars:]
            engine.prepare(frames, times)
            started = time.perf_counter()
            run = engine.run(frames, start=times[0])
            run.trades_frame(), run.marks_frame()  # its results as tables, as backtesting.py's run returns its stats
            total += time.perf_counter() - started
        passes.append(total)
    return min(passes)


def run(args: argparse.Namespace) -> dict:
    out: dict = {}
    backtest = _json(_python(["-m", "quant_organism.benchmarks", "backtest", "--json"])[0])
    out["backtest"] = backtest
    evolution = _json(_python(["-m", "quant_organism.benchmarks", "evolution", "--json", "--skip", "store"])[0])
    years = evolution["train_days"] / 365.0
    coins = len(evolution["coins"])
    kernel = backtest["evals_per_s"]
    serial_core = evolution["serial_evaluations"] * coins * years / evolution["serial_wall_s"]
    out["evolution"] = {
        "serial_backtests_per_core_s": round(serial_core, 1),
        "serial_share": round(serial_core / kernel, 3),
        "serial_evaluator_share": round(evolution["serial_evaluator_share"], 3),
    }
    if "serial_paired" in evolution:
        out["evolution"]["serial_paired"] = evolution["serial_paired"]
    if "ml_preset_ratio" in evolution:
        out["evolution"]["ml_preset_ratio"] = round(evolution["ml_preset_ratio"], 2)
        out["evolution"]["serial_with_ml_wall_s"] = round(evolution["serial_with_ml_wall_s"], 3)
        for key in ("serial_walls_around_ml_s", "serial_with_ml_walls_s", "ml_preset_ratios"):
            out["evolution"][key] = evolution.get(key)
    if "ray_wall_s" in evolution:
        ray_core = evolution["ray_evaluations"] * coins * years / (evolution["ray_wall_s"] * evolution["workers"])
        out["evolution"].update(
            ray_backtests_per_core_s=round(ray_core, 1),
            ray_share=round(ray_core / kernel, 3),
            ray_evaluator_share=round(evolution["ray_evaluator_share"], 3),
        )
        if "ray_paired" in evolution:
            out["evolution"]["ray_paired"] = evolution["ray_paired"]
    out["replay"] = replay_rate()
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        text, _ = _python(
            ["-m", "quant_organism", "run", "--end", "2024-06-29", "--days", "120", "--ingest-only"],
            {"QUANT_ORGANISM_DATA_DIR": f"{tmp}/synthetic", "QUANT_ORGANISM_COINS": ""},
        )
        out["ingest_synthetic_s"] = _seconds(r"\[ingest\] .* in ([\d.]+)s", text)
        if SHARED.is_dir():
            files = {
                "QUANT_ORGANISM_SOURCE": "files",
                "QUANT_ORGANISM_FILES_DIR": str(SHARED),
                "QUANT_ORGANISM_DATA_DIR": f"{tmp}/real",
                "QUANT_ORGANISM_COINS": "",
            }
            text, _ = _python(["-m", "quant_organism", "run", "--end", "2025-07-25", "--ingest-only"], files)
            out["ingest_real_s"] = _seconds(r"\[ingest\] .* in ([\d.]+)s", text)
            text, wall = _python(["-m", "quant_organism", "run", "--end", "2025-07-25"], files)
            out["real_e2e_s"] = _seconds(r"\[evolve\] .* in ([\d.]+)s", text)
        if args.universe50:
            out["universe50"] = real_universe50(Path(tmp) / "u50")
            text, wall, rss, pss, by_role = _python_measured(["-m", "quant_organism.benchmarks.ray_floor"], {}, timeout=600)
            out["universe50"]["ray_floor"] = {
                "peak_rss_mb": round(rss, 1),
                "peak_pss_mb": round(pss, 1),
                "peak_rss_mb_by_role": by_role,
            }
    out.update(headline(out))
    return out


HEADLINE = (
    "evals_per_s",
    "backtesting_py_evals_per_s",
    "replay_bars_per_s",
    "backtesting_py_bars_per_s",
    "runtime_book_bars_per_s",
    "ml_evals_per_s",
    "ml_preset_ratio",
    "evolution_kernel_share",
    "vectorbt_batched_evals_per_s",
    "speedup_vs_backtesting_py",
    "speedup_vs_backtesting_py_ci",
    "speedup_vs_vectorbt",
    "universe50_executor",
    "universe50_executor_reason",
    "universe50_seconds",
    "universe50_peak_rss_mb",
    "universe50_ray_floor_rss_mb",
    "five_coin_e2e_s",
)


def headline(r: dict) -> dict:
    """The machine-readable figures: rates of ours and of backtesting.py in the same run, evolution's share
    of the kernel rate (the lower of serial and Ray, each over the kernel's rate timed inside bench evolution's
    runs; the shares over the kernel timed around those runs and against bench backtest's rate, taken minutes
    earlier in another process, stay in the report beside them), and the 50-coin run's wall time and peak tree RSS."""
    b, e = r["backtest"], r["evolution"]
    bt_evals = b.get("backtesting_py_evals_per_s")
    shares = [e[k]["share"] for k in ("serial_paired", "ray_paired") if k in e]
    shares = shares or [s for s in (e.get("serial_share"), e.get("ray_share")) if s is not None]
    out = {
        "evals_per_s": b["evals_per_s"],
        "backtesting_py_evals_per_s": bt_evals,
        "vectorbt_batched_evals_per_s": b.get("vectorbt_batched_evals_per_s"),
        "speedup_vs_backtesting_py": b.get("speedup_vs_backtesting_py"),
        "speedup_vs_backtesting_py_ci": b.get("speedup_vs_backtesting_py_ci"),
        "speedup_vs_vectorbt": b.get("speedup_vs_vectorbt"),
        "five_coin_e2e_s": r.get("real_e2e_s"),
        "replay_bars_per_s": r["replay"]["replay_bars_per_s"],
        "runtime_book_bars_per_s": r["replay"].get("runtime_book_bars_per_s"),
        "backtesting_py_bars_per_s": r["replay"].get("backtesting_py_bars_per_s")
        or (round(bt_evals * b["bars"], 1) if bt_evals else None),
        "ml_evals_per_s": b.get("ml_evals_per_s"),
        "ml_preset_ratio": e.get("ml_preset_ratio"),
        "evolution_kernel_share": min(shares) if shares else None,
    }
    if "universe50" in r:
        u50 = r["universe50"]
        out["universe50_executor"] = u50.get("executor")
        out["universe50_executor_reason"] = u50.get("executor_reason") or u50.get("skipped")
        out["universe50_seconds"] = u50.get("wall_s")
        out["universe50_peak_rss_mb"] = u50.get("peak_rss_mb")
        out["universe50_peak_pss_mb"] = u50.get("peak_pss_mb")
        out["universe50_ray_floor_rss_mb"] = (u50.get("ray_floor") or {}).get("peak_rss_mb")
    return out


def _row(label: str, value, unit: str, target: float | None, better: str, peers: str = "") -> str:
    if value is None:
        return f"| {label} | not measured | {'' if target is None else target} | | {peers} |"
    meets = "" if target is None else ("yes" if (value >= target if better == "higher" else value < target) else "no")
    shown = f"{value:,.1f} {unit}".strip()
    goal = "" if target is None else f"{'>=' if better == 'higher' else '<'} {target:,.0f} {unit}".strip()
    return f"| {label} | {shown} | {goal} | {meets} | {peers} |"


def _interval(ci) -> str:
    """A bootstrap interval as the report prints it: "[low, high] " (empty when not measured)."""
    return f"[{ci[0]}, {ci[1]}] " if ci else ""


def _peer_ratio(ours: float | None, peer: float | None) -> str:
    return f"x{ours / peer:.2f} backtesting.py ({peer:,.0f} bars/s)" if ours and peer else ""


def _replay_passes(replay: dict) -> str:
    walls = replay.get("replay_wall_s")
    if not isinstance(walls, list):
        return ""
    return (
        f"; {replay['replay_passes']} replay passes of {walls[0]:.3f} / {walls[1]:.3f} / {walls[2]:.3f} s "
        "(min / median / max), each after a slice of backtesting.py's genomes"
    )


def _paired_row(label: str, paired: dict | None) -> str:
    from quant_organism.benchmarks.workload import paired_text

    share = 100 * paired["share"] if paired else None
    return _row(label, share, "%", 100 * TARGETS["evolution_share"], "higher", paired_text(paired) if paired else "")


def _roles_text(figures: dict) -> str:
    """A tree's PSS and its RSS at the peak by role, as the report shows them beside its peak RSS."""
    if not figures:
        return ""
    roles = ", ".join(f"{k} {v:,.0f}" for k, v in (figures.get("peak_rss_mb_by_role") or {}).items())
    return f"PSS {figures.get('peak_pss_mb', 0):,.0f} MB; RSS at the peak by role: {roles}"


def _universe50_rows(u50: dict, five_coin_s: float | None) -> list[str]:
    """The real 50-coin run: its executor and why, its wall time beside the 5-coin run's, its peak memory."""
    if not u50 or u50.get("skipped"):
        return [f"| real top 50 at 4h from the CLI | skipped: {u50.get('skipped', 'not run (--universe50)')} | | | |"]
    what = (f"real point-in-time top 50 at 4h, {u50.get('days')} days x {u50.get('coins')} coins, full preset from the CLI, "
            f"default executor ({u50.get('executor')}: {u50.get('executor_reason')})")  # fmt: skip
    beside = f"the 5-coin real 1h run's evolve..report {five_coin_s:.1f} s" if five_coin_s else ""
    return [
        _row(f"{what}, wall (ingest {u50.get('ingest_s')} s)", u50.get("wall_s"), "s", None, "lower", beside),
        _row(
            "same, peak RSS of the process tree (PSS beside it)",
            u50.get("peak_rss_mb"),
            "MB",
            TARGETS["peak_rss_mb"],
            "lower",
            _roles_text(u50),
        ),  # fmt: skip
    ]


def _peers(b: dict) -> str:
    """The backtest row's peers, as ratios with their rates and how they were paired."""
    return (
        f"x{b['speedup_vs_backtesting_py']} {_interval(b.get('speedup_vs_backtesting_py_ci'))}backtesting.py "
        f"({b['backtesting_py_evals_per_s']}/s), "
        f"x{b.get('speedup_vs_vectorbt')} vectorbt with the population the columns of one call "
        f"({b.get('vectorbt_batched_evals_per_s')}/s), x{b['speedup_vs_naive_vectorbt']} vectorbt one call per genome "
        f"({b['naive_vectorbt_evals_per_s']}/s); rates over the same "
        f"seconds ({b.get('paired_passes')} passes of ours interleaved with their genomes); best pass of ours "
        f"{b.get('evals_per_s_best_pass', 0):,.1f}/s"
        if b.get("backtesting_py_evals_per_s")
        else ""
    )


def report(r: dict) -> str:
    from quant_organism.benchmarks.workload import ml_walls_text

    b, e = r["backtest"], r["evolution"]
    bt_bars = headline(r)["backtesting_py_bars_per_s"]
    peers = _peers(b)
    lines = [
        "| measure | now | target | meets | peers, as ratios |",
        "|---|---|---|---|---|",
        _row(
            "bench backtest, technical seeds, 1 y hourly, one core",
            b["evals_per_s"],
            "evals/s",
            TARGETS["technical"],
            "higher",
            peers,
        ),
        _row("same, ML seeds", b.get("ml_evals_per_s"), "evals/s", TARGETS["ml"], "higher"),
        _row(
            "full preset with the ML seeds, wall time over without them (serial; the runs without them right before and after)",
            e.get("ml_preset_ratio"),
            "x",
            TARGETS["ml_preset_ratio"],
            "lower",
            ml_walls_text(e),
        ),  # fmt: skip
        _paired_row("evolution (serial), backtests per core-s as % of the kernel timed inside its runs", e.get("serial_paired")),
        _paired_row("evolution (Ray, 2 CPUs), same", e.get("ray_paired")),
        _row(
            "evolution (serial), backtests per core-s as % of bench backtest's kernel rate (another process, earlier)",
            100 * e["serial_share"],
            "%",
            100 * TARGETS["evolution_share"],
            "higher",
            f"{e['serial_backtests_per_core_s']:,.0f} vs {b['evals_per_s']:,.0f} one-year backtests/s"
            + (f"; in-run evaluator share {100 * e['serial_evaluator_share']:.1f} %" if "serial_evaluator_share" in e else ""),
        ),
        _row(
            "evolution (Ray, 2 CPUs), same",
            100 * e["ray_share"] if "ray_share" in e else None,
            "%",
            100 * TARGETS["evolution_share"],
            "higher",
            f"in-run evaluator share {100 * e['ray_evaluator_share']:.1f} %" if "ray_evaluator_share" in e else "",
        ),
        _row(
            "full preset evolve+validate+deploy+report, real 1h files", r.get("real_e2e_s"), "s", TARGETS["real_e2e_s"], "lower"
        ),
        _row(
            "replay stage (runtime, prefix proofs of the signals, the backtest it is compared with)",
            r["replay"]["replay_bars_per_s"],
            "bars/s",
            bt_bars,
            "higher",
            _peer_ratio(r["replay"]["replay_bars_per_s"], bt_bars) + _replay_passes(r["replay"]),
        ),
        _row(
            "runtime per book and bar (signals computed and proven before the clock, as backtesting.py is handed its)",
            r["replay"].get("runtime_book_bars_per_s"),
            "bars/s",
            bt_bars,
            "higher",
            _peer_ratio(r["replay"].get("runtime_book_bars_per_s"), bt_bars),
        ),
        _row(
            "main command ingest, 120 d x 5 coins synthetic",
            r.get("ingest_synthetic_s"),
            "s",
            TARGETS["ingest_synthetic_s"],
            "lower",
        ),
        _row("main command ingest, 324 d x 5 coins real files", r.get("ingest_real_s"), "s", TARGETS["ingest_real_s"], "lower"),
        *_universe50_rows(r.get("universe50") or {}, r.get("real_e2e_s")),
        _row(
            "Ray's floor: the local Ray a run starts, its workers prepared, the driver's imports; no data (`ray_floor`)",
            ((r.get("universe50") or {}).get("ray_floor") or {}).get("peak_rss_mb"),
            "MB",
            TARGETS["peak_rss_mb"],
            "lower",
            _roles_text((r.get("universe50") or {}).get("ray_floor") or {}),
        ),
        _row(
            "peak RSS of the 500-genome batch (the market, the batch, its tables; before the peers run)",
            b.get("peak_rss_mb"),
            "MB",
            TARGETS["peak_rss_mb"],
            "lower",
            f"the process after the peers: {b['process_peak_rss_mb']:,.0f} MB" if b.get("process_peak_rss_mb") else "",
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quant_organism.benchmarks scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--universe50",
        action="store_true",
        help="also run the main command on the real point-in-time top 50 at 4h with the default executor, and Ray's "
        "floor (needs ../shared/market-data/hyperliquid-universe)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--docs", action="store_true", help="also write the report into docs/benchmarks.md")
    args = parser.parse_args(argv)
    result = run(args)
    ordered = {k: result[k] for k in HEADLINE if k in result}
    ordered.update((k, v) for k, v in result.items() if k not in ordered)
    if args.docs:
        from quant_organism.benchmarks.docs_page import write_section

        command = "python -m quant_organism.benchmarks scale" + (" --universe50" if args.universe50 else "")
        headline = json.dumps({k: result[k] for k in HEADLINE if k in result}, default=str)
        write_section("scale", command, f"{report(result)}\n\nHeadline keys (`--json`, first keys):\n\n```json\n{headline}\n```")
    if args.json:
        print(json.dumps(ordered, default=str))  # one line, the headline keys first
    else:
        print(report(result))
    return 0
