"""Executors: the same population serially, on a process pool and on a real local Ray (2 CPUs); no
evaluation anywhere sees validation bars; failed, killed and runaway batches are handled.

Ray is started once for the module (and reused by `run_evolution`, which only shuts down a Ray it
started itself). Worker deaths are real: the batch hook SIGKILLs its own process on the first attempt.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from quant_organism.evolution import EvolutionConfig, evaluate_universe, evolution_windows, ray_session, run_evolution
from quant_organism_tests.support.markets import planted_market

EVOLUTION_DAY = "2024-02-04"  # the market runs to 2024-02-09: five days of future bars must be cut off
LOOKBACK = 30


def config(executor: str, **overrides) -> EvolutionConfig:
    values = dict(
        total_strategies=12,
        batch_size=4,
        generations=3,
        lookback_days=LOOKBACK,
        min_trades=1,
        seed_types=["ema_crossover", "sma_trend", "rsi_filter"],
        random_seed=9,
        executor=executor,
        max_workers=2,
        batch_timeout_s=120,
    )
    return EvolutionConfig(**{**values, **overrides})


class RecordingEvaluator:
    """The real universal fitness; each call leaves a file naming the bars it was given (any process)."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)

    def __call__(self, frames, genomes, fitness):
        import numba

        seen = {coin: [f.index.min().isoformat(), f.index.max().isoformat(), len(f)] for coin, f in frames.items()}
        path = Path(self.folder) / f"{os.getpid()}-{uuid.uuid4().hex}.json"
        record = {"pid": os.getpid(), "genomes": len(genomes), "frames": seen, "numba_cache": numba.config.CACHE_DIR}
        # Atomic: a broken pool kills its other workers too, possibly mid-write; a half-written record
        # would be read as an empty file.
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(record))
        os.replace(partial, path)
        return evaluate_universe(frames, genomes, fitness)


class KillOnce:
    """SIGKILL the worker running `batch` the first time (a marker file remembers it happened)."""

    def __init__(self, batch: int, folder: Path) -> None:
        self.batch, self.folder = batch, str(folder)

    def __call__(self, batch: int) -> None:
        marker = Path(self.folder) / f"killed-{batch}"
        if batch == self.batch and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)


class KillAlways:
    """SIGKILL the worker running `batch`, every time."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def __call__(self, batch: int) -> None:
        if batch == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


class Misbehave:
    """Raise in one batch; hang (far past any limit) in another."""

    def __init__(self, raise_in: int | None = None, hang_in: int | None = None) -> None:
        self.raise_in, self.hang_in = raise_in, hang_in

    def __call__(self, batch: int) -> None:
        if batch == self.raise_in:
            raise ValueError(f"bad batch {batch}")
        if batch == self.hang_in:
            time.sleep(600)


@pytest.fixture(scope="module")
def market():
    return planted_market()


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray (2 CPUs, small object store, auth off) for the whole module."""
    with ray_session(2) as ray:
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # hooks work whatever the cwd
        yield ray


def run_recorded(market, executor, tmp_path_factory, hook=None, **overrides):
    folder = tmp_path_factory.mktemp(f"evals-{executor}")
    result = run_evolution(
        market, config(executor, **overrides), evolution_date=EVOLUTION_DAY, evaluator=RecordingEvaluator(folder), batch_hook=hook
    )
    calls = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    return result, calls


@pytest.fixture(scope="module")
def serial_run(market, tmp_path_factory):
    return run_recorded(market, "serial", tmp_path_factory)


@pytest.fixture(scope="module")
def process_run(market, tmp_path_factory):
    markers = tmp_path_factory.mktemp("process-markers")
    return (*run_recorded(market, "process", tmp_path_factory, hook=KillOnce(0, markers)), markers)


@pytest.fixture(scope="module")
def ray_run(market, tmp_path_factory, ray_cluster):
    markers = tmp_path_factory.mktemp("ray-markers")
    return (*run_recorded(market, "ray", tmp_path_factory, hook=KillOnce(0, markers)), markers)


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_every_executor_gives_the_identical_population(executor, serial_run, request):
    serial, _ = serial_run
    other, _, _ = request.getfixturevalue(f"{executor}_run")
    assert list(other.batches["status"]) == ["ok"] * 3
    pd.testing.assert_frame_equal(serial.population, other.population)
    timing_free = ["batch", "generation", "best_score", "median_score", "mean_score", "valid_share", "evaluations"]
    pd.testing.assert_frame_equal(serial.generation_stats[timing_free], other.generation_stats[timing_free])
    assert os.getpid() not in set(other.batches["pid"])  # the islands really ran in worker processes


@pytest.mark.parametrize("executor", ["serial", "process", "ray"])
def test_each_island_reports_its_time_in_the_evaluator(executor, request):
    """What `bench evolution` divides by the run's core time: a gang's evaluator calls, shared by its islands."""
    result, *_ = request.getfixturevalue(f"{executor}_run")
    batches = result.batches
    assert (batches["evaluate_s"] > 0).all()
    assert (batches["evaluate_s"] < batches["wall_s"]).all()  # breeding and selection take the rest


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_workers_share_the_project_numba_cache(executor, request):
    import numba

    _, calls, _ = request.getfixturevalue(f"{executor}_run")
    assert numba.config.CACHE_DIR.endswith(os.path.join(".cache", "numba"))
    assert {c["numba_cache"] for c in calls} == {numba.config.CACHE_DIR}


@pytest.mark.parametrize("executor", ["serial", "process", "ray"])
def test_no_evaluation_sees_bars_of_the_validation_windows(executor, request):
    _, calls, *_ = request.getfixturevalue(f"{executor}_run")
    windows = evolution_windows(EVOLUTION_DAY, LOOKBACK)
    assert calls, "the evaluator was never called"
    assert executor == "serial" or any(c["pid"] != os.getpid() for c in calls)
    train_bars = int(windows.train.days * 24)
    for call in calls:
        for coin, (first, last, n) in call["frames"].items():
            assert pd.Timestamp(first) >= windows.train.start, (executor, coin, first)
            assert pd.Timestamp(last) < windows.train.end, (executor, coin, last)
            assert n == train_bars  # and the whole train window is used


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_a_worker_killed_mid_run_is_retried_and_the_run_completes(executor, request):
    result, _, markers = request.getfixturevalue(f"{executor}_run")
    killed = markers / "killed-0"
    assert killed.exists(), "the injected SIGKILL never ran"
    assert int(killed.read_text()) not in set(result.batches["pid"])  # batch 0 finished in a new process
    assert result.batches.set_index("batch").loc[0, "status"] == "ok"
    assert (result.population["batch"] == 0).any()


def test_a_worker_that_always_dies_fails_only_its_own_island_on_the_process_pool(market, serial_run):
    """Batches 0 and 2 run as one gang (3 islands on 2 workers): batch 2 kills its worker every time, so the
    gang spends its retries; its islands then run one at a time, and only batch 2 fails. Batch 1, whose pool
    broke beside it, is retried and kept."""
    serial, _ = serial_run
    result = run_evolution(
        market,
        config("process", max_retries=1, max_failed_island_share=0.5),
        evolution_date=EVOLUTION_DAY,
        batch_hook=KillAlways(2),
    )
    batches = result.batches.set_index("batch")
    assert list(batches["status"]) == ["ok", "ok", "failed"]
    assert batches.loc[2, "error"] == "worker process died 2 time(s)"
    expected = serial.population[serial.population["batch"] != 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.population, expected)


def test_a_failing_batch_on_ray_is_recorded_and_the_run_carries_on(market, serial_run, ray_cluster):
    serial, _ = serial_run
    events = []
    result = run_evolution(
        market,
        config("ray", max_failed_island_share=0.5),
        events.append,
        evolution_date=EVOLUTION_DAY,
        batch_hook=Misbehave(raise_in=1),
    )
    batches = result.batches.set_index("batch")
    assert list(batches["status"]) == ["ok", "failed", "ok"]
    assert "ValueError: bad batch 1" in batches.loc[1, "error"]
    expected = serial.population[serial.population["batch"] != 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.population, expected)
    assert sorted(e["batch"] for e in events if e["event"] == "batch_finished") == [0, 1, 2]
    assert result.ray_resources["CPU"] == 2.0 and result.workers == 2


_SLOW = "QUANT_ORGANISM_TEST_SLOW_WORKER"  # a process-wide flag: hooks and evaluators travel as separate pickles


class SlowEvenGang:
    """Batch hook: a worker that starts an even batch is a slow one from then on (its process's flag), one that
    starts an odd batch a fast one (gangs interleave: (0, 2) and (1, 3)). Cores running at unequal speeds."""

    def __call__(self, batch: int) -> None:
        os.environ[_SLOW] = "1" if batch % 2 == 0 else ""


class SlowWhereSlow:
    """The real fitness, `pause_s` slower per call in a slow worker and `fast_pause_s` in a fast one: a fast gang
    that finished in less time than the slow worker's task takes to start and offer its islands would find nobody
    to help (a race this test lost once in CI, 2026-11-27, when a small gang's six generations took about 0.1 s)."""

    def __init__(self, pause_s: float, fast_pause_s: float = 0.0) -> None:
        self.pause_s, self.fast_pause_s = pause_s, fast_pause_s

    def __call__(self, frames, genomes, fitness):
        time.sleep(self.pause_s if os.environ.get(_SLOW) else self.fast_pause_s)
        return evaluate_universe(frames, genomes, fitness)


def _uneven_run(market, evaluator) -> tuple:
    """The serial run of four islands, then the same on Ray with gang (0, 2)'s worker slow (`SlowEvenGang`)."""
    overrides = dict(total_strategies=16, generations=6)
    serial = run_evolution(market, config("serial", **overrides), evolution_date=EVOLUTION_DAY)
    run_evolution(market, config("ray", total_strategies=4, batch_size=2, generations=0), evolution_date=EVOLUTION_DAY)
    # (both workers started and warm: a worker done before the other offered anything finds nobody to help)
    ray_config = config("ray", **overrides)
    return serial, run_evolution(market, ray_config, evolution_date=EVOLUTION_DAY, evaluator=evaluator, batch_hook=SlowEvenGang())


def test_on_ray_a_worker_done_early_goes_on_with_islands_of_a_slow_one_and_results_do_not_change(market, ray_cluster):
    """Four islands in two gangs, (0, 2) and (1, 3); the worker of the first is slow (0.3 s per generation more).
    The fast one, once done, takes islands of the slow gang between two generations (work stealing), and every
    island's result is the one the serial run has."""
    # the fast gang done after ~0.4 s, the slow one's after ~1.8
    serial, result = _uneven_run(market, SlowWhereSlow(0.3, fast_pause_s=0.06))
    batches = result.batches.set_index("batch")
    assert list(batches["status"]) == ["ok"] * 4
    assert batches.loc[2, "moves"] == 1 and batches.loc[[0, 1, 3], "moves"].eq(0).all()  # the slow gang's second
    assert batches.loc[2, "pid"] == batches.loc[1, "pid"] != batches.loc[0, "pid"]
    pd.testing.assert_frame_equal(result.population, serial.population)


class KillAdopterOnce(SlowWhereSlow):
    """`SlowWhereSlow`, and the first time a fast worker evaluates for an island it did not start (one it adopted:
    an island of the slow gang), it SIGKILLs its own process (a marker file remembers it happened). An island
    is adopted between rounds (`island._execute_gang`), so the round's `live` islands show it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(0.3, fast_pause_s=0.06)
        self.folder = str(folder)

    def __call__(self, frames, genomes, fitness):
        marker = Path(self.folder) / "killed"
        if not os.environ.get(_SLOW) and not marker.exists() and set(_live_batches()) - {1, 3}:
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(frames, genomes, fitness)


class KillVictimOnce(SlowWhereSlow):
    """`SlowWhereSlow`, and the first time the slow worker evaluates after giving an island of its gang away (its
    round's `live` islands lack one), it SIGKILLs its own process (a marker file remembers it happened)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(0.3, fast_pause_s=0.06)
        self.folder = str(folder)

    def __call__(self, frames, genomes, fitness):
        marker = Path(self.folder) / "killed"
        if os.environ.get(_SLOW) and not marker.exists() and set(_live_batches()) == {0}:
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(frames, genomes, fitness)


def _live_batches() -> list[int]:
    frame = sys._getframe()
    while frame is not None and frame.f_code.co_name != "_run_rounds":
        frame = frame.f_back
    assert frame is not None, "the evaluator is no longer called from island._run_rounds: update this test"
    return list(frame.f_locals["live"])


def test_on_ray_an_island_lost_with_the_worker_that_adopted_it_runs_again_and_results_do_not_change(
    market, ray_cluster, tmp_path, caplog
):
    """As the work-stealing test, but the fast worker dies once it runs an adopted island of the slow gang: Ray
    runs the thief's own gang again in a new worker, the island it took is run again from its start once the rest
    is done (its victim gave it away), and every island's result is still the serial run's."""
    serial, result = _uneven_run(market, KillAdopterOnce(tmp_path))
    killed = tmp_path / "killed"
    assert killed.exists(), "the fast worker never adopted an island: nothing was tested"
    batches = result.batches.set_index("batch")
    assert list(batches["status"]) == ["ok"] * 4
    assert int(killed.read_text()) not in set(batches["pid"])  # every island finished in a live process
    lost = [r.getMessage() for r in caplog.records if "lost with the worker they moved to" in r.getMessage()]
    assert lost == ["batches 2 were lost with the worker they moved to; running them again"]
    pd.testing.assert_frame_equal(result.population, serial.population)


def test_on_ray_a_victim_that_dies_after_giving_an_island_away_is_run_again_and_its_islands_count_once(
    market, ray_cluster, tmp_path
):
    """The slow worker dies after it gave island 2 to the fast one: Ray runs its gang (0, 2) again in a new
    worker, so island 2 finishes twice (once where it moved, once in the re-run); it counts once, and every
    island's result is still the serial run's."""
    serial, result = _uneven_run(market, KillVictimOnce(tmp_path))
    killed = tmp_path / "killed"
    assert killed.exists(), "the slow worker never gave an island away: nothing was tested"
    batches = result.batches.set_index("batch")
    assert list(batches.index) == [0, 1, 2, 3] and list(batches["status"]) == ["ok"] * 4
    assert int(killed.read_text()) not in set(batches["pid"])
    pd.testing.assert_frame_equal(result.population, serial.population)


def test_a_runaway_batch_is_killed_at_its_hard_limit(market, serial_run, ray_cluster):
    """Last in the module: the killed worker is not replaced before the module's Ray shuts down.

    Batches 0 and 2 run as one gang (3 islands on 2 CPUs: gangs 0+2 and 1): the gang is killed at its hard
    limit, its islands run again one by one, and only the runaway one is killed again."""
    serial, _ = serial_run
    started = time.perf_counter()
    result = run_evolution(
        market,
        config("ray", batch_timeout_s=1.0, batch_timeout_grace_s=4.0, max_failed_island_share=0.5),
        evolution_date=EVOLUTION_DAY,
        batch_hook=Misbehave(hang_in=2),
    )
    assert time.perf_counter() - started < 120
    batches = result.batches.set_index("batch")
    assert batches.loc[2, "status"] == "timeout" and "killed" in batches.loc[2, "error"]
    assert list(batches.loc[[0, 1], "status"]) == ["ok", "ok"]
    expected = serial.population[serial.population["batch"] != 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.population, expected)


def test_a_lone_island_charged_by_a_neighbours_deaths_runs_alone_before_it_is_judged():
    """The pool breaks twice while gang (0, 2) and island 1 run side by side (island 2 kills its worker): a
    broken pool cannot say whose worker died, so island 1 is not failed for its neighbour but run alone with
    fresh attempts, as the split gang's islands are; only an island that dies alone fails. (Before, island 1
    failed whenever it had not finished before the second death: the outcome depended on timing.)"""
    from types import SimpleNamespace

    from quant_organism.evolution.executors.runners import _PoolQueue

    gang, lone = (SimpleNamespace(batch=0), SimpleNamespace(batch=2)), (SimpleNamespace(batch=1),)
    failed = []
    queue = _PoolQueue([gang, lone], max_retries=1)
    for _ in range(2):  # two rounds side by side, each ended by the broken pool
        in_flight = queue.take(0, workers=2)
        assert sorted(tuple(t.batch for t in g) for g in in_flight) == [(0, 2), (1,)]
        for g in in_flight:
            queue.retry_or_fail(g, failed.append, 0.0, shared=True)
    assert failed == [] and sorted(g[0].batch for g in queue.alone) == [0, 1, 2]
    while queue:  # alone now: island 2 dies every time, the others finish
        [g] = queue.take(0, workers=2)
        if g[0].batch == 2:
            queue.retry_or_fail(g, failed.append, 0.0, shared=False)
    assert [(o.batch, o.error) for o in failed] == [(2, "worker process died 2 time(s)")]


_FIRST_GENERATION_COMPILES = """
import json, sys
from numba.core.registry import CPUDispatcher
from quant_organism.evolution import EvolutionConfig, market_frames, run_evolution, warm_up
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.strategies import SeedType

def signatures():
    return {
        f"{name}.{attr}": len(value.signatures)
        for name, module in list(sys.modules.items()) if name.startswith("quant_organism")
        for attr, value in list(vars(module).items()) if isinstance(value, CPUDispatcher)
    }

config = EvolutionConfig(  # every seed, the ML ones included (the production preset's)
    total_strategies=2 * len(SeedType), batch_size=len(SeedType), generations=2, lookback_days=30,
    seed_types=list(SeedType), random_seed=3, executor="serial",
)
frames = market_frames(SyntheticSource(), ["BTC", "ETH"], "2024-01-01", "2024-01-31", "1h")
warm_up([s for s, _ in config.seed_type_weights()])
before = signatures()
run_evolution(frames, config)
print(json.dumps(sorted(k for k, n in signatures().items() if n > before.get(k, 0))))
"""


def test_after_warm_up_an_evolution_run_compiles_or_loads_no_kernel():
    """Workers warm before their first island so compile time never counts against an island's time limit (nor
    against a benchmark's timed run): an evolution run after `warm_up` finds every numba kernel it calls ready.
    In a fresh process, so kernels compiled by earlier tests cannot hide one the warm-up misses (NSGA-II's
    sorting and the several-row standard deviations were: 2.3 s compiled in a first run)."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _FIRST_GENERATION_COMPILES], capture_output=True, text=True, timeout=600, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_ray_floor_holds_ray_with_prepared_workers_for_the_memory_sampler():
    """bench scale's Ray floor (`benchmarks.ray_floor`): the local Ray the executor starts, each CPU's worker prepared
    for its first island, and the driver, each counted under its role by the sampler that measures the 50-coin run."""
    from quant_organism.benchmarks import scale

    args = ["-m", "quant_organism.benchmarks.ray_floor", "--workers", "1", "--hold", "1"]
    text, _, rss, pss, by_role = scale._python_measured(args, {}, timeout=300)
    assert "1 worker(s) prepared" in text
    assert {"driver", "ray_services", "ray_workers"} <= set(by_role)
    assert by_role["ray_workers"] > 200  # a worker that imported the stack and loaded its kernels (an idle one: ~126 MB)
    assert by_role["driver"] > 200  # the main command's imports (Ray's alone: ~85 MB)
    assert rss == pytest.approx(sum(by_role.values()), abs=1.0) and 0 < pss <= rss
