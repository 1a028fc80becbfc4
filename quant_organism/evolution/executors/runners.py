"""Run islands (batches) serially, on a spawn-safe process pool, or on Ray; never let one sink the run.

Islands run in gangs (`gangs`): up to `lockstep_islands` of them advanced in lockstep by
`island.execute_gang`, so one evaluator call scores a generation of the whole gang. On Ray, while every gang
runs at once, a worker whose gang is done goes on with some of a busy worker's islands (`stealing.py`; the
outcome of a moved island comes back with the worker that finished it). Each executor turns an
exception into a `failed` outcome of its island alone and hands each outcome to the driver's
`on_outcome` as its gang ends (workers cannot call back). Time limits: an island stops itself between
generations once `batch_timeout_s` (times its gang's size) has passed (status `timeout`, the generations
done are kept); the process and Ray executors also kill a gang still running `batch_timeout_grace_s`
later and re-run its islands one by one, so only the runaway one is killed again (status `timeout`,
nothing kept). The serial executor can only do the former. A gang whose worker keeps dying is split once it
has spent its retries, and its islands run again one by one, so only the island at fault fails (on the
process pool, where a dead worker breaks the whole pool, each of them alone: see `_PoolQueue`). At most
`workers` gangs are in flight, so a gang's hard clock starts when it is submitted (for a fresh worker that
includes its start-up and warm-up, which the grace must cover).

Workers import `quant_organism` before numba (the function they run lives in this package), so
they share the project's numba cache, and warm the kernels once per process before their first
batch, so compile time never counts against a batch's limit. Market frames travel once per worker:
as the process pool's initializer arguments, or as one Ray object (`ray.put`) passed by reference.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import pickle
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from quant_organism.evolution import nsga2
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.evolution.executors.heap import keep_freed_blocks
from quant_organism.evolution.executors.ray_address import unreachable
from quant_organism.evolution.executors.steal_board import BoardActor
from quant_organism.evolution.executors.stealing import RayExchange
from quant_organism.evolution.island import STATUS_TIMEOUT, Evaluator, IslandHook, IslandOutcome, IslandTask, execute_gang
from quant_organism.strategies import rule_tree
from quant_organism.strategies.genes import SeedGenes, SeedType, random_values

log = logging.getLogger(__name__)
OnOutcome = Callable[[IslandOutcome], None]
RAY_WORKER_REGISTER_TIMEOUT_S = 300
RAY_OBJECT_STORE_BYTES = 200 * 1024**2

_warmed: set[SeedType] = set()


def warm_up(seed_types: Sequence[SeedType]) -> float:
    """Compile / load the numba kernels of these seeds and of the backtest in this process (once), and keep the large
    blocks it frees for its next scoring call (heap.py): every worker, and the driver of a serial run, starts here."""
    keep_freed_blocks()
    todo = [s for s in seed_types if s not in _warmed]
    if not todo:
        return 0.0
    from quant_organism.evolution.fitness import evaluate_universe

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    index = pd.date_range("2000-01-03", periods=600, freq="h", tz="UTC")
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(index))))
    frame = pd.DataFrame(
        {
            "open": close,
            "high": close * 1.005,
            "low": close * 0.995,
            "close": close,
            "volume": 1.0,
            "funding_rate": rng.normal(1e-5, 1e-5, len(index)),
        },
        index=index,
    )
    templates = [s for s in todo if s is not SeedType.RULE_TREE]
    trees = SeedType.RULE_TREE in todo
    genomes = [SeedGenes.create_default(s, f"warm_{s.value}") for s in templates] + ([_warm_tree(None)] if trees else [])
    evaluate_universe({"WARM": frame}, genomes)
    # again on fresh bars with a random genome more per seed: tables of several rows run other kernels than a
    # lone row's (a fresh cache compiled the rows-at-a-time standard deviations in the first timed run)
    genomes += [SeedGenes.random(s, f"warm_random_{s.value}", rng) for s in templates] + ([_warm_tree(rng)] if trees else [])
    evaluate_universe({"WARM": frame.copy()}, genomes)
    if not _warmed:  # NSGA-II's sorting and crowding: compiled in the first generation otherwise (2.3 s, 2026-11-27)
        nsga2.select(rng.normal(size=(8, 3)), (1.0, -1.0, 1.0), 4)
        nsga2.ranks_and_crowding(rng.normal(size=(8, 3)), (1.0, -1.0, 1.0))
    _warmed.update(todo)
    return time.perf_counter() - started


def _warm_tree(rng: np.random.Generator | None) -> SeedGenes:
    """A rule tree with a leaf of every leaf seed (their defaults, or random genes) under a volatility condition: a
    tree's leaves run the seeds' unfused batch path, which the templates' warm-up does not compile."""
    leaves = []
    for seed_type in rule_tree.LEAF_SEEDS:
        drawn = {} if rng is None else random_values(seed_type, rng)
        leaves.append(
            {"leaf": {"seed_type": seed_type.value, **{n: drawn[n] for n in rule_tree.signal_genes(seed_type) if n in drawn}}}
        )
    votes = {"op": "vote", "args": [{"op": "vote", "args": leaves[k : k + 3]} for k in (0, 3, 6)]}  # the nine leaf seeds
    condition = {"cond": rule_tree.VOL_RATIO, "fast": 12, "slow": 120, "above": 1.0}
    rule = {"op": "gate", "args": [condition, votes]}
    return SeedGenes(seed_id=f"warm_tree_{'random' if rng else 'default'}", seed_type=SeedType.RULE_TREE, rule=json.dumps(rule))


def _seed_types(tasks: Sequence[IslandTask]) -> list[SeedType]:
    return [s for s, _ in tasks[0].config.seed_type_weights()] if tasks else []


def hard_limit(config: EvolutionConfig, gang_size: int = 1) -> float | None:
    """Seconds after which a running gang is killed: its islands' soft limit plus the grace."""
    return config.batch_timeout_s * gang_size + config.batch_timeout_grace_s if config.batch_timeout_s else None


Gang = tuple[IslandTask, ...]


def gangs(tasks: Sequence[IslandTask], slots: int) -> list[Gang]:
    """The tasks in lockstep groups of at most `lockstep_islands`, and in no fewer groups than `slots`, so that
    every worker gets one. Groups interleave (0, 2, 4, ... and 1, 3, 5, ...): on the full preset on Ray the two
    gangs ended 0.02-0.07 s apart in six runs, consecutive ones 0.1-0.5 s apart in five (a gang's end is the
    run's wall)."""
    if not tasks:
        return []
    size = max(1, min(tasks[0].config.lockstep_islands, math.ceil(len(tasks) / max(1, slots))))
    n = math.ceil(len(tasks) / size)
    return [tuple(tasks[k::n]) for k in range(n)]


def _singles(gang: Gang) -> list[Gang]:
    return [(task,) for task in gang]


def _key(gang: Gang) -> tuple[int, ...]:
    return tuple(task.batch for task in gang)


def _names(gang: Gang) -> str:
    return ", ".join(str(task.batch) for task in gang)


# --- serial --------------------------------------------------------------------------------------
def run_serial(
    tasks: Sequence[IslandTask],
    frames: Mapping[str, pd.DataFrame],
    on_outcome: OnOutcome,
    evaluator: Evaluator | None = None,
    hook: IslandHook | None = None,
) -> dict[str, Any]:
    warm_up(_seed_types(tasks))
    for gang in gangs(tasks, 1):
        for outcome in execute_gang(gang, frames, evaluator, hook):
            on_outcome(outcome)
    return {"workers": 1}


# --- process pool --------------------------------------------------------------------------------
_worker_state: dict[str, Any] = {}


def _process_init(frames_path: str, evaluator, hook, seed_types) -> None:
    """Pool initializer. It must not raise (that would break the pool and hide the reason), so a
    failure is kept and reported by every batch this worker is given."""
    try:
        with open(frames_path, "rb") as handle:
            frames = pickle.load(handle)
        _worker_state.update(frames=frames, evaluator=evaluator, hook=hook, error=None)
        warm_up(seed_types)
    except Exception as exc:  # noqa: BLE001
        _worker_state["error"] = f"worker start-up failed: {type(exc).__name__}: {exc}"


def _process_gang(gang: Gang) -> list[IslandOutcome]:
    state = _worker_state
    if state.get("error"):
        return [IslandOutcome.failed(task.batch, state["error"]) for task in gang]
    return execute_gang(gang, state["frames"], state["evaluator"], state["hook"])


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now, running tasks included (ProcessPoolExecutor has no public kill)."""
    processes = list(getattr(pool, "_processes", {}).values())
    for process in processes:
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def run_process(
    tasks: Sequence[IslandTask],
    frames: Mapping[str, pd.DataFrame],
    on_outcome: OnOutcome,
    workers: int,
    evaluator: Evaluator | None = None,
    hook: IslandHook | None = None,
) -> dict[str, Any]:
    """Batches on a spawn-context ProcessPoolExecutor. A worker that dies breaks the whole pool, so the
    batches then in flight are re-run on a fresh pool, up to `max_retries` times each.

    The frames reach the workers through a temporary pickle file read by the pool initializer:
    initializer arguments travel in the spawn pipe, and a payload larger than the pipe buffer
    would make the parent wait for each child to finish importing before starting the next.
    """
    if not tasks:
        return {"workers": workers}
    with tempfile.TemporaryDirectory(prefix="quant_organism_evolution_") as folder:
        frames_path = os.path.join(folder, "frames.pkl")
        with open(frames_path, "wb") as handle:
            pickle.dump(dict(frames), handle, protocol=pickle.HIGHEST_PROTOCOL)
        _run_on_pools(tasks, frames_path, on_outcome, workers, evaluator, hook)
    return {"workers": workers}


def _run_on_pools(tasks, frames_path, on_outcome, workers, evaluator, hook) -> None:
    config = tasks[0].config
    context = multiprocessing.get_context("spawn")

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_process_init,
            initargs=(frames_path, evaluator, hook, _seed_types(tasks)),
        )

    queue = _PoolQueue(gangs(tasks, workers), config.max_retries)
    running: dict[Future, tuple[Gang, float]] = {}
    pool = new_pool()
    try:
        while queue or running:
            for gang in queue.take(len(running), workers):
                running[pool.submit(_process_gang, gang)] = (gang, time.monotonic())
            wait_s = _wait_s(config, running)
            done, _ = wait(list(running), timeout=wait_s, return_when=FIRST_COMPLETED)
            broken, shared = False, len(running) > 1  # shared: a broken pool cannot say whose worker died
            for future in done:
                gang, t0 = running.pop(future)
                try:
                    for outcome in future.result():
                        on_outcome(outcome)
                except BrokenProcessPool:
                    broken = True
                    queue.retry_or_fail(gang, on_outcome, time.monotonic() - t0, shared)
                except Exception as exc:  # noqa: BLE001 - e.g. an outcome that could not be pickled back
                    for task in gang:
                        on_outcome(IslandOutcome.failed(task.batch, f"{type(exc).__name__}: {exc}", time.monotonic() - t0))
            expired = _expired(config, running)
            for future in expired:
                gang, t0 = running.pop(future)
                _split_or_kill(gang, t0, config, queue.pending, on_outcome)
            if broken or expired:
                # The pool is unusable (broken) or holds a runaway gang: replace it; gangs that were
                # merely sharing it are re-run (they are deterministic), without counting an attempt.
                _kill_pool(pool)
                for future, (gang, t0) in list(running.items()):
                    running.pop(future)
                    if broken:
                        queue.retry_or_fail(gang, on_outcome, time.monotonic() - t0, shared)
                    else:
                        queue.put_back(gang)
                pool = new_pool()
    finally:
        _kill_pool(pool)


def _wait_s(config: EvolutionConfig, running: Mapping[Any, tuple]) -> float | None:
    """Seconds until the first running gang reaches its hard limit (None: no limit). `running`: key -> (gang, start, ...)."""
    if not running or hard_limit(config) is None:
        return None
    return max(0.0, min(t0 + hard_limit(config, len(g)) for g, t0, *_ in running.values()) - time.monotonic())


def _expired(config: EvolutionConfig, running: Mapping[Any, tuple]) -> list[Any]:
    now = time.monotonic()
    return [
        key for key, (g, t0, *_) in running.items() if hard_limit(config) is not None and now - t0 >= hard_limit(config, len(g))
    ]


def _split_or_kill(gang: Gang, t0: float, config: EvolutionConfig, pending: deque, on_outcome: OnOutcome) -> None:
    """A gang past its hard limit: its islands again one by one (only the runaway one will be killed), or,
    for a single island, the `timeout` outcome."""
    if len(gang) > 1:
        log.warning("gang of batches %s still running past its hard limit; re-running them one by one", _names(gang))
        pending.extendleft(reversed(_singles(gang)))
        return
    on_outcome(_killed(gang[0], time.monotonic() - t0, hard_limit(config)))


class _PoolQueue:
    """The process pool's gangs to run, with their attempts.

    A dead worker breaks the whole pool, so every gang in flight is charged an attempt, the culprit and its
    innocent neighbours alike. A gang that spent its `max_retries` beside others is therefore not failed but
    split, and its islands (a lone island too) run one at a time with nothing beside them, with fresh
    attempts, where a broken pool names its island: only the island at fault fails, as on Ray, where retries
    are per task. (Failing a lone island charged by a neighbour's deaths made the outcome depend on which
    finished first.)"""

    def __init__(self, gangs: Sequence[Gang], max_retries: int) -> None:
        self.pending: deque[Gang] = deque(gangs)
        self.alone: deque[Gang] = deque()  # islands of split gangs
        self.isolated: set[tuple[int, ...]] = set()
        self.attempts: dict[tuple[int, ...], int] = {}  # by the gang's batch numbers
        self.max_retries = max_retries

    def __bool__(self) -> bool:
        return bool(self.pending or self.alone)

    def take(self, in_flight: int, workers: int) -> list[Gang]:
        """The gangs to submit now: an isolated island once nothing runs, else pending gangs up to `workers`."""
        if self.alone:
            chosen = [self.alone.popleft()] if in_flight == 0 else []
        else:
            chosen = [self.pending.popleft() for _ in range(min(len(self.pending), workers - in_flight))]
        for gang in chosen:
            self.attempts[_key(gang)] = self.attempts.get(_key(gang), 0) + 1
        return chosen

    def put_back(self, gang: Gang) -> None:
        """A gang stopped through no fault of its own (its pool was replaced): again, uncharged."""
        self.attempts[_key(gang)] -= 1
        (self.alone if _key(gang) in self.isolated else self.pending).appendleft(gang)

    def retry_or_fail(self, gang: Gang, on_outcome: OnOutcome, wall_s: float, shared: bool = False) -> None:
        """After the pool broke under `gang` (`shared`: beside other gangs): again, or alone, or failed."""
        tried = self.attempts[_key(gang)]
        if tried <= self.max_retries:
            log.warning("batches %s: worker process died; retrying (attempt %d)", _names(gang), tried + 1)
            (self.alone if _key(gang) in self.isolated else self.pending).appendleft(gang)
        elif len(gang) > 1 or (shared and _key(gang) not in self.isolated):
            log.warning("batches %s: worker process died %d time(s); running them one at a time", _names(gang), tried)
            singles = _singles(gang)
            for single in singles:
                self.isolated.add(_key(single))
                self.attempts[_key(single)] = 0
            self.alone.extend(singles)
        else:
            on_outcome(IslandOutcome.failed(gang[0].batch, f"worker process died {tried} time(s)", wall_s))


def _killed(task: IslandTask, wall_s: float, limit: float) -> IslandOutcome:
    message = f"batch {task.batch} still running after {limit:g} s (batch_timeout_s + grace); killed"
    return IslandOutcome.failed(task.batch, message, wall_s, status=STATUS_TIMEOUT)


# --- Ray -------------------------------------------------------------------------------------------
class RayUnreachableError(RuntimeError):
    """The configured Ray cluster does not accept a connection."""


@contextmanager
def ray_session(workers: int | None = None, address: str | None = None) -> Iterator[Any]:
    """The `ray` module, initialised: reuses a running Ray; else joins `address` (the Dagster layer
    passes QUANT_ORGANISM_RAY_ADDRESS); else starts a quiet local Ray with `workers` CPUs and a 200 MB
    object store (no dashboard). Shuts down only what it started. Token auth is left as the user or the cluster
    configured it (RAY_AUTH_MODE): Ray 2.60 turns it on for a new local instance, and that works here too."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    quiet = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        reason = unreachable(address)
        if reason:
            raise RayUnreachableError(
                f"the Ray cluster at {address} does not answer ({reason}): start it (`ray start --head`), fix "
                "QUANT_ORGANISM_RAY_ADDRESS, or unset it to evolve on a local Ray"
            )
        ray.init(address=address, **quiet)
    else:
        # Workers import the whole stack (~10 s, more on a loaded 2-core machine with cold caches):
        # give them longer than Ray's default to register before it declares them dead.
        ray.init(
            num_cpus=workers or os.cpu_count(),
            object_store_memory=RAY_OBJECT_STORE_BYTES,
            _system_config={"worker_register_timeout_seconds": RAY_WORKER_REGISTER_TIMEOUT_S},
            **quiet,
        )
    try:
        yield ray
    finally:
        ray.shutdown()


def _ray_gang(
    gang: Gang, frames, evaluator, hook, board: str | None = None, worker: str = "", kill_at: float | None = None
) -> list[IslandOutcome]:
    """The Ray task. `frames` arrives resolved from the object store as read-only shared-memory
    arrays; they are copied (a few MB) because numba compiles separate, uncached-in-warm-up
    specialisations for read-only arrays, which cost ~30 s per worker. With a `board` the gang shares islands
    with the other workers (`stealing.py`) as `worker`, whose hard limit is `kill_at` (epoch seconds)."""
    try:
        warm_up([s for s, _ in gang[0].config.seed_type_weights()])
        frames = {coin: frame.copy() for coin, frame in frames.items()}
    except Exception as exc:  # noqa: BLE001
        return [IslandOutcome.failed(task.batch, f"worker warm-up failed: {type(exc).__name__}: {exc}") for task in gang]
    exchange = None if board is None else RayExchange(_board(board), worker, kill_at, gang[0].config.batch_timeout_grace_s)
    return execute_gang(gang, frames, evaluator, hook, exchange)


def ray_resources(ray) -> dict[str, float]:
    found = ray.cluster_resources()
    return {k: float(found[k]) for k in ("CPU", "GPU", "memory", "object_store_memory") if k in found}


def run_ray(
    tasks: Sequence[IslandTask],
    frames: Mapping[str, pd.DataFrame],
    on_outcome: OnOutcome,
    workers: int,
    evaluator: Evaluator | None = None,
    hook: IslandHook | None = None,
) -> dict[str, Any]:
    """Gangs of islands as Ray tasks (1 CPU each, retried up to `max_retries` times if their worker dies), at
    most `max_workers` in flight (default: every CPU of the Ray cluster). The first gangs share islands through
    a steal board (`stealing.py`): a worker done early goes on with some of a busy worker's islands. Islands
    re-run after a failure run alone, without sharing; an island that was handed to a worker that died or was
    killed is run again from its start once the rest is done, and an outcome that arrives twice counts once."""
    if not tasks:
        return {"workers": workers}
    config = tasks[0].config
    with ray_session(workers, config.ray_address) as ray:
        resources = ray_resources(ray)
        cluster_cpus = int(resources.get("CPU", workers))
        slots = max(1, cluster_cpus if config.max_workers is None else min(config.max_workers, cluster_cpus))
        remote = ray.remote(num_cpus=1, max_retries=config.max_retries, retry_exceptions=False)(_ray_gang)
        frames_ref = ray.put(dict(frames))
        first = gangs(tasks, slots)
        # Islands are shared only while every gang runs: a worker done early returns its CPU to the gangs still queued.
        board = steal_board(ray) if config.share_islands and 1 < len(first) <= slots else None
        run_id = uuid.uuid4().hex[:8]
        reported: set[int] = set()

        def report(outcome: IslandOutcome) -> None:
            if outcome.batch not in reported:  # a victim re-run by Ray after it gave islands away repeats them
                reported.add(outcome.batch)
                on_outcome(outcome)

        pending: deque[tuple[Gang, bool]] = deque((gang, board is not None) for gang in first)
        running: dict[Any, tuple[Gang, float, str]] = {}
        while pending or running:
            while pending and len(running) < slots:
                gang, shared = pending.popleft()
                gang = tuple(task for task in gang if task.batch not in reported)
                if not gang:
                    continue
                worker = f"{run_id}:{_names(gang)}"
                limit = hard_limit(config, len(gang))
                kill_at = time.time() + limit if limit is not None else None
                ref = remote.remote(gang, frames_ref, evaluator, hook, STEAL_BOARD_NAME if shared else None, worker, kill_at)
                running[ref] = (gang, time.monotonic(), worker)
            done, _ = ray.wait(list(running), num_returns=1, timeout=_wait_s(config, running))
            for ref in done:
                gang, t0, worker = running.pop(ref)
                _leave(board, worker)  # whatever became of it: no thief waits for it any more
                try:
                    outcomes = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - worker died past its retries, object lost, ...
                    if len(gang) > 1:  # find the island at fault: each on its own, with its own retries
                        pending.extendleft((single, False) for single in reversed(_singles(gang)))
                        continue
                    message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                    outcomes = [IslandOutcome.failed(gang[0].batch, message, time.monotonic() - t0)]
                for outcome in outcomes:
                    report(outcome)
            for ref in _expired(config, running):
                gang, t0, worker = running.pop(ref)
                ray.cancel(ref, force=True)
                _leave(board, worker)
                singles: deque[Gang] = deque()
                _split_or_kill(gang, t0, config, singles, report)
                pending.extendleft((single, False) for single in reversed(singles))
            if not pending and not running:  # islands handed to a worker that then died or was killed
                pending.extend(((task,), False) for task in tasks if task.batch not in reported)
                if pending:
                    log.warning(
                        "batches %s were lost with the worker they moved to; running them again",
                        _names(tuple(task for gang, _ in pending for task in gang)),
                    )
    return {"workers": slots, "ray_resources": resources}


STEAL_BOARD_NAME = "quant_organism_steal_board"


_board_actors: dict[tuple[str, str], Any] = {}


def steal_board(ray) -> Any:
    """The session's steal board actor (`core.steal_board.BoardActor`, no CPU of its own: it only keeps books),
    created once per Ray session and job and held here: Ray kills an actor once no handle to it is left, and a
    board started anew for each run took its process's start (about a second) from the run, beside busy workers."""
    context = ray.get_runtime_context()
    key = (context.get_node_id(), context.get_job_id())
    if key not in _board_actors:
        actor = ray.remote(BoardActor).options(name=STEAL_BOARD_NAME, get_if_exists=True, num_cpus=0, max_restarts=-1)
        _board_actors.clear()  # handles of an earlier session are dead with it
        _board_actors[key] = actor.remote()
    return _board_actors[key]


_boards: dict[str, Any] = {}


def _board(name: str) -> Any:
    """The steal board's handle in a worker, looked up once per process: a handle passed with each task made its
    first call wait 0.3-0.6 s for the actor's address, in every run (2026-11-27)."""
    if name not in _boards:
        import ray

        _boards[name] = ray.get_actor(name)
    return _boards[name]


def _leave(board, worker: str) -> None:
    if board is not None:
        board.leave.remote(worker)


EXECUTORS = {"serial": run_serial, "process": run_process, "ray": run_ray}
