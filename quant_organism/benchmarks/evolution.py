"""Evolution benchmark: the full preset (10 islands x 50 x 20 generations) serial and on Ray, one run.

Market: the project's synthetic market, the five default coins, one year of hourly bars ending on
the evolution date (2024-12-31), so the train window is the preset's first 219 days.

What is timed:
- serial: `run_evolution` in this process, after its numba kernels are warmed (compile excluded);
- ray: `run_evolution` on a local Ray with `--workers` CPUs (2), started and its workers warmed by
  a tiny run first; Ray's start and that warm-up are reported separately as the cold-start cost;
- parallel efficiency = serial wall / (workers x ray wall); the two populations are compared (they
  must be identical: same seed, same islands);
- with the ML seeds: the same serial run with linear_svc and pca_tree_quantile added to the mix, `--repeats`
  times, each between two technical runs; each run's wall over the mean of the technical runs right before and
  right after it, and `ml_preset_ratio` the median of those ratios (the goal for ML seeds in production is
  <= 2). One pair is not enough: the machine switches between two speeds, and in one bench the technical runs
  around the ML run took 3.92 and 6.70 s (2026-11-27). Also over the first technical run's wall
  (`ml_preset_ratio_to_first_run`, what this ratio was before it was paired);
- the evaluator's share: the time the islands spent in the evaluator (the backtests of their genomes, all
  coins, and the fitness aggregation) over the run's core time (wall x workers), serial and on Ray: the rest
  is breeding, selection, bookkeeping and, on Ray, what parallelism costs;
- the kernel's share, sampled inside each run: evolution's one-year backtests per core-second of its own over
  the kernel rate (`bench backtest`'s workload) timed in passes inside the run, in the same seconds and processes.
  The runs' evaluator (`workload.KernelSampler`) times one fresh pass of the workload before every third call of
  the project's fitness (about 0.3 s of evolution between passes of 0.15 s), in each process that evolves (on
  Ray, each worker, beside the other worker as evolution runs), and the run's core time is reduced by what the
  passes took. Populations are unchanged (a test). Why inside: this machine switches between two speeds every few
  seconds, and kernel rates taken just before and just after a 4-6 s run each fall in either mode: four serial
  shares measured that way in one script read 0.49 to 0.97, and sampled inside the runs 0.73 to 0.76
  (2026-11-27). The serial and the Ray run are each timed `--repeats` times (3); the share is the mean over those
  runs. The kernel is also measured in this process right before and right after each run (the mean rate of five
  passes back to back, workload.KernelRate says why a mean), and the share over those (`share_around`, what this
  bench reported before) is printed beside it. On Ray, with one gang per worker, each run's gang walls and its
  share over the gangs' own time (their summed walls, not workers x wall) are reported beside it: the gap
  between the two is what a worker waited for the other, the skew of the two cores' speeds (`_gang_walls`),
  not evolution's own work. Since islands move between workers (a worker done early goes on with islands of
  the other: work stealing), each Ray run's count of moved islands is reported too, and the gang walls only for
  runs where none moved. Walls and rates reported per run (serial, Ray) are the runs' own: less the passes;
- the config store: saving the best 100 strategies as configs through
  `StrategyStore.save_evolved_strategies` (one transaction) and loading them back.
On a shared machine other work skews parallel efficiency: the load average and the cores other
processes kept busy during each timed run are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import pandas as pd
import psutil

from quant_organism.benchmarks.workload import KernelRate, KernelSampler, ml_walls_text, paired_text
from quant_organism.evolution import (
    EvolutionConfig,
    evolution_windows,
    load_preset,
    market_frames,
    ray_session,
    run_evolution,
    to_strategy_configs,
    warm_up,
)
from quant_organism.settings import DEFAULT_COINS
from quant_organism.strategies import ML_SEEDS

EVOLUTION_DATE = "2024-12-31"
LOOKBACK_DAYS = 365


def _frames(config) -> tuple[dict[str, pd.DataFrame], float]:
    from quant_organism.market.sources.synthetic import SyntheticSource

    started = time.perf_counter()
    windows = evolution_windows(EVOLUTION_DATE, config.lookback_days, config.split)
    frames = market_frames(SyntheticSource(), DEFAULT_COINS, windows.lookback.start, windows.lookback.end, "1h")
    return frames, time.perf_counter() - started


def _store(result, n: int) -> dict[str, float | int]:
    from quant_organism.catalog import StrategyStore

    configs = to_strategy_configs(result, n)
    with tempfile.TemporaryDirectory(prefix="quant_organism_bench_store_") as folder:
        store = StrategyStore(folder)
        started = time.perf_counter()
        store.save_evolved_strategies(configs)
        saved = time.perf_counter() - started
        started = time.perf_counter()
        loaded = store.load_strategies()
        load_s = time.perf_counter() - started
    if len(loaded) != len(configs):
        raise RuntimeError(f"store round trip lost configs: saved {len(configs)}, loaded {len(loaded)}")
    return {"configs": len(configs), "save_s": saved, "load_s": load_s}


class CpuMeter:
    """Cores kept busy during a timed section by this process tree and by everything else: on a shared
    machine the latter is what parallel efficiency loses to."""

    def __enter__(self) -> CpuMeter:
        self._start = (time.perf_counter(), self._machine_busy(), self._own_busy())
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self._start[0]
        machine = self._machine_busy() - self._start[1]
        own = self._own_busy() - self._start[2]
        self.own_cores = own / wall
        self.other_cores = max(0.0, machine - own) / wall

    @staticmethod
    def _machine_busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)

    @staticmethod
    def _own_busy() -> float:
        me = psutil.Process()
        total = sum(me.cpu_times()[:2]) + me.cpu_times().children_user + me.cpu_times().children_system
        for child in me.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.Error:
                pass
        return total


def run(args: argparse.Namespace) -> dict:
    preset = load_preset("full")
    batch_size = args.batch_size or preset.batch_size
    overrides = {
        "lookback_days": LOOKBACK_DAYS,
        "batch_size": batch_size,
        "total_strategies": (args.batches or preset.n_batches) * batch_size,
        "generations": preset.generations if args.generations is None else args.generations,
    }
    technical = [s for s in load_preset("full").seed_types if s not in ML_SEEDS]  # the kernel-rate comparison
    base = load_preset("full", **overrides, seed_types=technical)
    frames, data_s = _frames(base)
    out: dict = {
        "preset": "full",
        "batches": base.n_batches,
        "batch_size": base.batch_size,
        "generations": base.generations,
        "coins": list(frames),
        "bars_per_coin": len(next(iter(frames.values()))),
        "train_days": evolution_windows(EVOLUTION_DATE, base.lookback_days, base.split).train.days,
        "workers": args.workers,
        "data_s": data_s,
        "load_average_before": list(os.getloadavg()),
    }
    seed_types = [s for s, _ in base.seed_type_weights()]
    out["serial_warm_up_s"] = warm_up(seed_types)
    kernel = KernelRate()
    backtests = out["train_days"] / 365.0 * len(frames)  # one-year backtests per evaluation (all coins)

    serial_config = EvolutionConfig.model_validate({**base.model_dump(), "executor": "serial"})
    evolve = lambda evaluator=None: run_evolution(frames, serial_config, evaluator=evaluator)  # noqa: E731
    serial, meter, paired = _paired(kernel, evolve, args.repeats, 1, backtests, KernelSampler)
    out["serial_paired"] = paired
    serial_s = serial.wall_s - paired["sampling_taken_s"][0]  # the first run's own time: less the kernel's passes
    out.update(
        serial_wall_s=serial_s,
        serial_evaluations=serial.evaluations,
        serial_evaluations_per_s=serial.evaluations / serial_s,
        best_score=serial.totals()["best_score"],
        serial_batch_wall_s=[float(serial.batches["wall_s"].min()), float(serial.batches["wall_s"].max())],
        serial_own_cores_busy=meter.own_cores,
        serial_other_cores_busy=meter.other_cores,
        serial_evaluator_share=(float(serial.batches["evaluate_s"].sum()) - paired["sampling_taken_s"][0]) / serial_s,
    )

    if "ml" not in args.skip:
        out.update(_ml_ratio(frames, base, technical, serial_config, args.repeats))

    if "ray" not in args.skip:
        started = time.perf_counter()
        ray_config = EvolutionConfig.model_validate({**base.model_dump(), "executor": "ray", "max_workers": args.workers})
        with ray_session(args.workers):
            out["ray_init_s"] = time.perf_counter() - started
            started = time.perf_counter()
            tiny = EvolutionConfig.model_validate(
                {**ray_config.model_dump(), "total_strategies": 2 * args.workers, "batch_size": 2, "generations": 0}
            )
            with tempfile.TemporaryDirectory(prefix="kernel-samples-") as log_dir:  # workers start, import and warm,
                run_evolution(frames, tiny, evaluator=KernelSampler(log_dir, every=1))  # the kernel's workload too
            out["ray_worker_warm_s"] = time.perf_counter() - started
            evolve = lambda evaluator=None: run_evolution(frames, ray_config, evaluator=evaluator)  # noqa: E731
            ray_result, meter, ray_paired = _paired(kernel, evolve, args.repeats, args.workers, backtests, KernelSampler)
            out["ray_paired"] = ray_paired
        ray_s = ray_result.wall_s - ray_paired["sampling_taken_s"][0] / args.workers  # per worker, less the kernel's passes
        out.update(
            ray_own_cores_busy=meter.own_cores,
            ray_other_cores_busy=meter.other_cores,
            ray_wall_s=ray_s,
            ray_evaluations=ray_result.evaluations,
            ray_evaluations_per_s=ray_result.evaluations / ray_s,
            ray_resources=ray_result.ray_resources,
            parallel_efficiency=serial_s / (args.workers * ray_s),
            # CPU-seconds of the serial run over those of the Ray run (its workers, raylet and driver):
            # what parallelising costs in CPU, whatever share of the machine other processes took
            cpu_efficiency=(serial_s * out["serial_own_cores_busy"]) / (ray_s * meter.own_cores),
            identical_population=bool(serial.population.equals(ray_result.population)),
            ray_evaluator_share=(float(ray_result.batches["evaluate_s"].sum()) - ray_paired["sampling_taken_s"][0])
            / (ray_s * args.workers),
            ray_batches_by_status=ray_result.totals()["batches_by_status"],
        )
    if "store" not in args.skip:
        out["store"] = _store(serial, args.configs)
    out["load_average_after"] = list(os.getloadavg())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _ml_ratio(frames, base, technical, serial_config, repeats: int) -> dict:
    """The full preset's wall time with the ML seeds over without them, each ML run between two technical ones."""
    with_ml = EvolutionConfig.model_validate({**base.model_dump(), "executor": "serial", "seed_types": [*technical, *ML_SEEDS]})
    warm_up([s for s, _ in with_ml.seed_type_weights()])
    technical_walls, ml_walls, ratios = [run_evolution(frames, serial_config).wall_s], [], []
    for _ in range(repeats):
        ml_run = run_evolution(frames, with_ml)
        after = run_evolution(frames, serial_config)  # the technical run again, right after: each ratio is paired
        ml_walls.append(ml_run.wall_s)
        technical_walls.append(after.wall_s)
        ratios.append(ml_run.wall_s / ((technical_walls[-2] + technical_walls[-1]) / 2.0))
    return dict(
        serial_with_ml_wall_s=statistics.median(ml_walls),
        serial_with_ml_walls_s=[round(w, 3) for w in ml_walls],
        serial_with_ml_evaluations=ml_run.evaluations,
        serial_walls_around_ml_s=[round(w, 3) for w in technical_walls],
        ml_preset_ratios=[round(r, 3) for r in ratios],
        ml_preset_ratio=statistics.median(ratios),
        ml_preset_ratio_to_first_run=ml_walls[0] / technical_walls[0],
    )


def _paired(
    kernel: Callable[[], tuple[float, float]],
    evolve: Callable,
    repeats: int,
    workers: int,
    backtests: float,
    sampler: Callable[[str], KernelSampler] | None = None,
) -> tuple:
    """`repeats` timed runs of `evolve`, each between two kernel measurements (the kernel rate is measured
    before the first run and after every run). Run i's rate: its one-year backtests per core-second of its own
    (the run's core time less what sampling took from it).

    With a `sampler` (a log folder -> `KernelSampler`), `evolve(evaluator)` runs with one, and run i's share is
    its rate over the kernel's rate in the passes sampled inside it, in the same seconds and processes
    (`KernelSampler` says why); its share over the average of the kernel's mean rates just before and just after
    it is reported beside it (`shares_around`). Without one, that is the share. The best pass's rates are
    reported too. Returns the first run's result, the CPU meter of that run, and the figures (the mean share and
    its parts)."""
    measured = [kernel()]
    walls, shares, around_shares, gangs, busy, moved, sampled = [], [], [], [], [], [], []
    first = meter = None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="kernel-samples-") as log_dir, CpuMeter() as run_meter:
            kernel_sampler = sampler(log_dir) if sampler is not None else None
            result = evolve(kernel_sampler) if kernel_sampler is not None else evolve()
            inside = kernel_sampler.totals() if kernel_sampler is not None else None
        if first is None:
            first, meter = result, run_meter
        elif result.evaluations != first.evaluations:
            raise RuntimeError(f"a repeated run evaluated {result.evaluations} genomes, the first {first.evaluations}")
        measured.append(kernel())
        taken = inside["taken_s"] if inside else 0.0
        walls.append(result.wall_s)
        work = result.evaluations * backtests
        rate = work / (result.wall_s * workers - taken)
        around = (measured[-2][0] + measured[-1][0]) / 2.0
        around_shares.append(rate / around)
        reference = inside["genomes"] / inside["pass_s"] if inside else around
        if inside:
            sampled.append(inside)
        shares.append(rate / reference)
        gangs.append(_gang_walls(result, workers))
        moved.append(_islands_moved(result))
        if gangs[-1]:
            busy.append(work / (sum(gangs[-1]) - taken) / reference)
    figures = {
        "kernel_evals_per_s": [round(mean, 1) for mean, _ in measured],
        "kernel_best_pass_evals_per_s": [round(best, 1) for _, best in measured],
        "walls_s": [round(w, 3) for w in walls],
        "shares": [round(x, 3) for x in shares],
        "share": round(sum(shares) / len(shares), 3),
    }
    if sampled:
        figures.update(
            sampled_passes=[x["passes"] for x in sampled],
            sampled_kernel_evals_per_s=[round(x["genomes"] / x["pass_s"], 1) for x in sampled],
            sampling_taken_s=[round(x["taken_s"], 3) for x in sampled],
            shares_around=[round(x, 3) for x in around_shares],
            share_around=round(sum(around_shares) / len(around_shares), 3),
        )
    if workers > 1:
        figures["islands_moved"] = moved
    if busy and len(busy) == len(shares):
        figures["gang_walls_s"] = [[round(w, 3) for w in run] for run in gangs]
        figures["busy_shares"] = [round(x, 3) for x in busy]
        figures["busy_share"] = round(sum(busy) / len(busy), 3)
    return first, meter, figures


def _islands_moved(result) -> int:
    """How many times islands went on in another worker in this run (work stealing, `evolution/executors/stealing.py`)."""
    batches = getattr(result, "batches", None)
    return int(batches["moves"].sum()) if batches is not None and "moves" in batches else 0


def _gang_walls(result, workers: int) -> list[float] | None:
    """Each worker's time in its gang (its islands' longest wall), slowest first, when the run had one gang per
    worker (the full preset on 2 CPUs: 10 islands in 2 gangs of 5); else None.

    The share over these times instead of the run's wall leaves out what a worker waited for the other (and
    Ray's start and return): on this 2-core VM the two cores' speeds differ from second to second, so gangs of
    equal work ended up to 1.4 s apart in a 4 s run (2026-11-27), and the Ray share moved with that skew."""
    batches = getattr(result, "batches", None)
    if workers < 2 or batches is None or "pid" not in batches or batches["pid"].nunique() != workers:
        return None
    if _islands_moved(result):
        return None  # islands went on in another worker: a worker's islands are no longer one gang
    per_worker = batches.groupby("pid")["wall_s"]
    if int(per_worker.size().max()) > result.config.lockstep_islands:
        return None  # a worker ran more than one gang: its islands' walls overlap no longer
    return sorted((float(w) for w in per_worker.max()), reverse=True)


def _report(r: dict) -> None:
    print(
        f"evolution benchmark: {r['batches']} batches x {r['batch_size']} x {r['generations']} generations, "
        f"{len(r['coins'])} coins x {r['bars_per_coin']} hourly bars (train {r['train_days']:g} days)"
    )
    print(
        f"  load average before  {', '.join(f'{x:.2f}' for x in r['load_average_before'])} "
        f"(2-core machine; other work skews parallel figures)"
    )
    print(f"  data                 {r['data_s']:8.2f} s    warm-up (this process) {r['serial_warm_up_s']:.2f} s")
    lo, hi = r["serial_batch_wall_s"]
    print(
        f"  serial               {r['serial_wall_s']:8.2f} s    {r['serial_evaluations_per_s']:8.1f} evaluations/s "
        f"({r['serial_evaluations']} genomes x {len(r['coins'])} coins; batches {lo:.2f}-{hi:.2f} s; "
        f"this run kept {r['serial_own_cores_busy']:.2f} cores busy, other processes {r['serial_other_cores_busy']:.2f})"
    )
    print(f"  evaluator share      {r['serial_evaluator_share']:8.1%}    (serial: time in the evaluator / wall)")
    print(f"  kernel share, paired {r['serial_paired']['share']:8.1%}    ({paired_text(r['serial_paired'])})")
    if "ml_preset_ratio" in r:
        print(
            f"  serial with ML seeds {r['serial_with_ml_wall_s']:8.2f} s    x{r['ml_preset_ratio']:.2f} the technical runs "
            f"right before and after each (median; {ml_walls_text(r)}; {r['serial_with_ml_evaluations']} genomes; "
            "goal <= 2x)"
        )
    if "ray_wall_s" in r:
        print(
            f"  ray ({r['workers']} CPUs)         {r['ray_wall_s']:8.2f} s    {r['ray_evaluations_per_s']:8.1f} evaluations/s "
            f"(batches {r['ray_batches_by_status']}; this run kept {r['ray_own_cores_busy']:.2f} cores busy, "
            f"other processes {r['ray_other_cores_busy']:.2f})"
        )
        print(
            f"  parallel efficiency  {r['parallel_efficiency']:8.1%}    (serial wall / ({r['workers']} x ray wall); "
            f"identical population: {r['identical_population']})"
        )
        print(f"  CPU efficiency       {r['cpu_efficiency']:8.1%}    (serial CPU-seconds / Ray CPU-seconds, all Ray processes)")
        print(
            f"  evaluator share, Ray {r['ray_evaluator_share']:8.1%}    (time in the evaluator / (wall x {r['workers']} workers))"
        )
        print(f"  kernel share, Ray    {r['ray_paired']['share']:8.1%}    ({paired_text(r['ray_paired'])})")
        print(f"  ray cold start       {r['ray_init_s']:8.2f} s init + {r['ray_worker_warm_s']:.2f} s worker start/warm-up")
    if "store" in r:
        s = r["store"]
        print(f"  config store         save {s['configs']} in {s['save_s']:.3f} s, load in {s['load_s']:.3f} s")
    print(
        f"  best score {r['best_score']:.3f}; peak RSS {r['peak_rss_mb']:.0f} MB; "
        f"load average after {', '.join(f'{x:.2f}' for x in r['load_average_after'])}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks evolution", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--batches", type=int, help="islands (default: the full preset's 10)")
    parser.add_argument("--batch-size", type=int, help="individuals per island (default 50)")
    parser.add_argument("--generations", type=int, help="generations (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="Ray CPUs (default 2)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs, serial and on Ray, each between two kernel measurements (default 3)"
    )
    parser.add_argument("--configs", type=int, default=100, help="configs saved and loaded (default 100)")
    parser.add_argument("--skip", action="append", default=[], choices=["ray", "store", "ml"], help="leave a part out")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        _report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
