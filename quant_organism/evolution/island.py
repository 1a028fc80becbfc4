"""One batch = one island: a population of `batch_size` genomes evolved for `generations` generations.

Per generation: the best `n_elite` by score survive unchanged; `batch_size - n_elite` offspring are
bred from parents picked by NSGA-II crowded tournaments (crossover within a seed type, then
mutation, on flat gene values); the other survivors are chosen by NSGA-II selection (DEAP's `selNSGA2`
with the log sort, decision for decision, computed on arrays in `nsga2`) from the non-elite parents plus
the offspring, on the four objectives. Genomes are identified by `genes_hash`: one already seen in this
island is not evaluated again and keeps its first name `{seed_type}_{generation}_{hash[:8]}`.

Everything random comes from a generator seeded by (random_seed, batch index), so a batch gives the
same result in any process. A run is plain Python that any executor can call; it checks the frames
against the train window before every evaluation (`guard_train_frames`).

The loop is a state machine (`Island.begin` / `Island.resume`) that hands out each generation's new genomes
and takes their rows back, so `execute_gang` can advance several islands in lockstep and score all their
genomes in one evaluator call: same results, the per-call cost paid once. Between two generations an island
can be pickled and go on in another worker (`stealing.py`), again with the same result.
"""

from __future__ import annotations

import contextlib
import gc
import operator
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from quant_organism.backtest.objectives import OBJECTIVE_COLUMNS, OBJECTIVE_WEIGHTS, FitnessConfig
from quant_organism.evolution import gp, nsga2, operators
from quant_organism.evolution.date_windows import Window, WindowLeakError, guard_train_frames
from quant_organism.evolution.evolution_config import OBJECTIVE_COLUMN, EvolutionConfig
from quant_organism.evolution.fitness import evaluate_universe
from quant_organism.evolution.operators import allocate, crowded_tournament
from quant_organism.strategies.genes import SeedGenes, SeedType, evolved_name, genes_hash_and_json, genes_json, repair_values

Evaluator = Callable[[Mapping[str, pd.DataFrame], Sequence[SeedGenes], FitnessConfig], pd.DataFrame]
"""(train frames, distinct genomes, fitness config) -> one row per genome with `obj_*`, valid, score."""
IslandHook = Callable[[int], None]
"""Called with the island's index in the worker before the island starts (fault injection, tracing)."""

STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT, STATUS_BUDGET = "ok", "failed", "timeout", "budget"
"""`budget`: stopped cleanly at the run's evolution deadline; what it evaluated is kept and valid."""
STATUS_LEAK = "leak"
"""The in-island leak guard fired: never a failed batch to absorb; `run_evolution` fails the run on it."""


_objectives_of = operator.itemgetter(*OBJECTIVE_COLUMNS)  # a row's objective values, in OBJECTIVE_WEIGHTS' order
GRAFT_DONORS = 5
"""Templates of an island a rule tree may graft: its best valid ones of a leaf seed, by score."""


class Individual:
    """A genome as its repaired gene values, its evolved name and hash, with its objective values (sharpe,
    consistency, max_drawdown, turnover) and its evaluated row. The `SeedGenes` model is built only for the
    evaluator, under the hash: an island breeds on values, and building a model per offspring was a fifth of
    breeding."""

    __slots__ = ("seed_type", "values", "name", "generation", "hash", "genes", "objectives", "score", "row")

    def __init__(
        self, seed_type: SeedType, values: dict, name: str, generation: int, genes_hash: str, genes: str | None = None
    ) -> None:
        self.seed_type = seed_type
        self.values = values
        self.name = name
        self.generation = generation
        self.hash = genes_hash
        self.genes = genes  # `genes_json(values)`, when it was made with the hash (`genes_hash_and_json`)
        self.objectives: tuple[float, ...] = ()
        self.score = float("nan")
        self.row: dict = {}


@dataclass(frozen=True)
class IslandTask:
    """What a worker needs besides the frames: which island, how big, the config and the windows."""

    batch: int  # the island's index; stored runs and presets keep the older name (`batch`, `batch_size`)
    size: int
    config: EvolutionConfig
    train: Window
    validation: tuple[Window, ...] = ()
    deadline: float | None = None  # epoch seconds: the run's evolution budget ends here (core/budget.py)
    inherited: tuple[SeedGenes, ...] = ()  # winners of an earlier phase placed in generation 0 (workflows)


@dataclass
class IslandOutcome:
    """A finished (or failed / timed-out) island: its evaluated individuals and per-generation stats."""

    batch: int
    status: str
    error: str | None
    wall_s: float
    evaluations: int
    population: pd.DataFrame = field(default_factory=pd.DataFrame)
    generations: pd.DataFrame = field(default_factory=pd.DataFrame)
    pid: int = 0
    evaluate_s: float = 0.0  # of wall_s, the time in the evaluator (a gang's calls shared equally by its islands)
    cpu_s: float = 0.0  # CPU-seconds spent on it: each lockstep round's shared equally by its islands (their walls overlap)
    moves: int = 0  # how many times it went on in another worker (work stealing, `stealing.py`)

    @classmethod
    def failed(cls, batch: int, error: str, wall_s: float = 0.0, status: str = STATUS_FAILED) -> IslandOutcome:
        return cls(batch=batch, status=status, error=error, wall_s=wall_s, evaluations=0, pid=os.getpid())


class Island:
    """The evolutionary loop of one batch (see module docstring), as a state machine a driver steps: `begin` and
    `resume` hand out each generation's distinct new genomes and take their rows back, until `outcome` is set.

    It is a state machine rather than a generator so that it can be pickled between two generations and go on
    in another process (work stealing, `stealing.py`): what it carries is its random generator, its cache and
    records, its population and its own clock (the seconds it has run, wherever it ran); the frames stay behind
    and the receiving worker attaches its own (`attach`)."""

    def __init__(self, task: IslandTask, frames: Mapping[str, pd.DataFrame], clock_scale: int = 1) -> None:
        self.task = task
        self.clock_scale = clock_scale  # islands in lockstep share the clock: k of them get k islands' time
        self.config = task.config
        self.frames = frames
        self._guarded: tuple = ()  # the (coin, index) pairs `_guard` last proved train-only
        cfg = self.config
        self.fitness = FitnessConfig(
            min_trades=cfg.min_trades, folds=cfg.fitness_folds, fold_quantile=cfg.fold_quantile, w_complexity=cfg.parsimony
        )
        self.rng = np.random.default_rng(np.random.SeedSequence([self.config.random_seed, task.batch]))
        self.cache: dict[str, Individual] = {}
        self.records: list[dict] = []
        self.stats: list[dict] = []
        self.generation = 0
        self.population: list[Individual] = []
        self.elites: list[Individual] = []
        self.n_elite = min(self.config.n_elite, task.size - 1)
        self.waiting: list[Individual] = []  # the generation's individuals, evaluated once `request` is answered
        self.fresh: list[Individual] = []  # those of them not seen before, each once: what `request` asks for
        self.request: list[SeedGenes] | None = None
        self.outcome: IslandOutcome | None = None
        self.moves = 0  # how many times it went on in another worker
        self.evaluate_s = 0.0
        self.cpu_s = 0.0
        self._spent, self._since, self._tick = 0.0, time.perf_counter(), 0.0

    # --- the island's own clock, carried between processes -------------------------------------
    def elapsed(self) -> float:
        """Seconds this island has run, in every process it ran in."""
        return self._spent + time.perf_counter() - self._since

    def __getstate__(self) -> dict:
        state = {**self.__dict__, "frames": None, "_guarded": (), "_spent": self.elapsed(), "_since": None}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _since=time.perf_counter())
        self.moves += 1

    def attach(self, frames: Mapping[str, pd.DataFrame]) -> None:
        """Give an island that arrived from another process this process's frames (the same train window)."""
        self.frames = frames

    def in_last_generation(self) -> bool:
        """Whether the island ends once the generation it asks to have evaluated is answered."""
        return self.outcome is None and self.generation >= self.config.generations

    # --- the loop --------------------------------------------------------------------------
    def begin(self) -> list[SeedGenes] | None:
        """Generation 0: the initial population's genomes to evaluate (None when the island is already done)."""
        self._tick = self.elapsed()
        self.waiting = self._initial_population()
        return self._ask()

    def resume(self, rows: list[dict]) -> list[SeedGenes] | None:
        """Take the rows of `request` (dicts, as `_records` makes them, in its order) and go on to the next genomes
        to evaluate (None when the island is done: `outcome` is set). The island's result does not depend on who
        evaluates its genomes, or with which others."""
        fresh, self.fresh, self.request = self.fresh, [], None
        if [row["seed_id"] for row in rows] != [i.hash for i in fresh]:
            raise RuntimeError("evaluator returned rows that do not match the genomes it was given")
        for ind, row in zip(fresh, rows):
            ind.objectives = tuple(map(float, _objectives_of(row)))
            ind.score = self._objective(row)
            ind.row = row
            self.cache[ind.hash] = ind
            self.records.append(self._record(ind, row))
        self._close_generation()
        return self._ask()

    def _ask(self) -> list[SeedGenes] | None:
        """The waiting individuals' genomes not seen before (each distinct one once), closing generations that
        have none, until one has or the island is done."""
        while self.outcome is None:
            self.fresh = _distinct([i for i in self.waiting if i.hash not in self.cache])
            if self.fresh:
                self._guard()
                # hashes as ids: collision-free; `from_repaired` checks the values as the model's validation would
                self.request = [SeedGenes.from_repaired(i.seed_type, i.hash, i.values, i.generation) for i in self.fresh]
                return self.request
            self._close_generation()
        return None

    def _guard(self) -> None:
        """`guard_train_frames` on the frames the island's genomes are evaluated on, again whenever they are other
        bars than those it last proved: another frame, or another index. A pandas index is immutable, so the same
        index objects are the same bars; the pairs are held, so no id is reused. Proving the same bars again in
        every generation was 1% of a run."""
        pairs = tuple((coin, frame.index) for coin, frame in self.frames.items())
        if len(pairs) == len(self._guarded) and all(
            coin == seen and index is proven for (coin, index), (seen, proven) in zip(pairs, self._guarded)
        ):
            return
        guard_train_frames(self.frames, self.task.train, self.task.validation)
        self._guarded = pairs

    def _close_generation(self) -> None:
        """The waiting individuals are evaluated: form the population, record the generation, breed the next."""
        evaluated = [self.cache[i.hash] for i in self.waiting]
        if self.generation == 0:
            self.population = evaluated
        else:
            taken = {i.hash for i in self.elites}
            pool = _distinct([i for i in self.population + evaluated if i.hash not in taken])
            self.population = self.elites + _survivors(pool, self.task.size - self.n_elite)
        self._record_generation(self.generation, self.population, self._tick)
        self.waiting = []
        cfg, generation = self.config, self.generation + 1
        if generation > cfg.generations:
            return self._finish(STATUS_OK, None)
        if self.task.deadline is not None and time.time() > self.task.deadline:
            error = f"batch {self.task.batch} reached the run's evolution budget; stopped after generation {generation - 1}"
            return self._finish(STATUS_BUDGET, error)
        if cfg.batch_timeout_s and self.elapsed() > cfg.batch_timeout_s * self.clock_scale:
            error = f"batch {self.task.batch} exceeded {cfg.batch_timeout_s:g} s; stopped after generation {generation - 1}"
            return self._finish(STATUS_TIMEOUT, error)
        self.generation, self._tick = generation, self.elapsed()
        self.elites = sorted(self.population, key=lambda i: (-i.score, i.hash))[: self.n_elite]
        self.waiting = self._breed(self.population, self.task.size - self.n_elite, generation)
        return None

    def _finish(self, status: str, error: str | None) -> None:
        final = {i.hash for i in self.population}
        frame = pd.DataFrame.from_records(self.records)
        if len(frame):
            frame["final"] = frame["genes_hash"].isin(final)
        self.outcome = IslandOutcome(
            batch=self.task.batch,
            status=status,
            error=error,
            wall_s=self.elapsed(),
            evaluations=len(self.records),
            population=frame,
            generations=pd.DataFrame.from_records(self.stats),
            pid=os.getpid(),
            moves=self.moves,
        )
        self.population, self.elites, self.cache = [], [], {}

    def _initial_population(self) -> list[Individual]:
        """Inherited winners first (at most half the island, in their order), then random genomes of the mix."""
        out: list[Individual] = []
        seen: set[str] = set()
        for genes in self.task.inherited[: self.task.size // 2]:
            genes = self._restricted(genes.model_copy(update={"generation": 0}))
            digest = genes.genes_hash()
            if digest not in seen:
                seen.add(digest)
                values = repair_values(genes.seed_type, genes.gene_values())  # canonical, as breeding takes values
                out.append(self._individual(genes.seed_type, values, digest, 0))
        types = allocate(self.task.size - len(out), self.config.seed_type_weights(), rotate=self.task.batch)
        for seed_type in types:
            for _ in range(100):  # a duplicate draw is rare (astronomically, for a template); redraw instead of keeping it
                values = self._restricted_values(seed_type, variation(seed_type).random_genome_values(seed_type, self.rng))
                digest, text = genes_hash_and_json(seed_type, values)
                if digest not in seen:
                    break
            seen.add(digest)
            out.append(self._individual(seed_type, values, digest, 0, text))
        return out

    def _breed(self, population: list[Individual], k: int, generation: int) -> list[Individual]:
        """k offspring: crowded tournaments, then pairs of one seed type crossed, then mutation."""
        cfg = self.config
        ranks, crowding = _rank_and_crowd(population)
        parents = [population[i] for i in crowded_tournament(ranks, crowding, k, self.rng).tolist()]
        groups: dict[SeedType, list[Individual]] = {}
        for parent in parents:
            groups.setdefault(parent.seed_type, []).append(parent)
        # (type, values, the parent's values if crossed, else None)
        children: list[tuple[SeedType, dict, dict | None]] = []
        for seed_type, members in groups.items():
            members = [members[i] for i in self.rng.permutation(len(members))]
            for j in range(0, len(members), 2):
                pair = members[j : j + 2]
                if len(pair) == 2 and self.rng.random() < cfg.crossover_rate:
                    va, vb = pair[0].values, pair[1].values
                    a, b = variation(seed_type).crossover_values(seed_type, va, vb, self.rng)
                    children += [(seed_type, a, va), (seed_type, b, vb)]
                else:
                    children += [(seed_type, p.values, None) for p in pair]
        donors = self._donors(population) if SeedType.RULE_TREE in groups else []
        out = []
        for seed_type, values, parent in children:
            # A child equal to its parent, gene for gene, is the parent (repaired values are typed and canonical,
            # so equal values are equal hashes): it must mutate.
            unchanged = parent is None or values == parent
            grafts = {"donors": donors} if seed_type is SeedType.RULE_TREE else {}
            mutated = variation(seed_type).mutate_values(
                seed_type, values, self.rng, cfg.mutation_rate, cfg.mutation_sigma, force=unchanged, **grafts
            )
            child = self._restricted_values(seed_type, mutated)
            digest, text = genes_hash_and_json(seed_type, child)
            out.append(self._individual(seed_type, child, digest, generation, text))
        return out

    def _donors(self, population: list[Individual]) -> list[dict]:
        """The island's best templates (by score, at most GRAFT_DONORS) that a rule tree may graft as a leaf."""
        ranked = sorted(population, key=lambda i: (-i.score, i.hash))
        leaves = (gp.donor_leaf(i.seed_type, i.values) for i in ranked if bool(i.row.get("valid")))
        return [leaf for leaf in leaves if leaf is not None][:GRAFT_DONORS]

    def _restricted(self, genes: SeedGenes) -> SeedGenes:
        """The genome clipped into the config's narrower gene ranges for its seed (if any), repaired."""
        values = genes.gene_values()
        restricted = self._restricted_values(genes.seed_type, values)
        if restricted is values:
            return genes
        return SeedGenes.from_repaired(genes.seed_type, genes.seed_id, restricted, genes.generation)

    def _restricted_values(self, seed_type: SeedType, values: dict) -> dict:
        """Gene values clipped into the config's narrower ranges for the seed (if any) and repaired; the same
        object when nothing needed clipping."""
        ranges = self.config.gene_ranges.get(seed_type)
        if not ranges:
            return values
        clipped = {n: min(max(values[n], low), high) for n, (low, high) in ranges.items()}
        if all(values[n] == v for n, v in clipped.items()):
            return values
        return repair_values(seed_type, {**values, **clipped})

    # --- evaluation ------------------------------------------------------------------------
    def _individual(self, seed_type: SeedType, values: dict, digest: str, generation: int, text: str | None = None) -> Individual:
        """The island's individual for repaired gene values: the cached one if this genome was seen before, else
        a new one with its evolved name."""
        if digest in self.cache:
            return self.cache[digest]
        return Individual(seed_type, values, evolved_name(seed_type, generation, digest), generation, digest, text)

    def _objective(self, row: dict) -> float:
        """The scalar elitism ranks by: the fitness score, or the chosen objective for valid genomes only."""
        column = OBJECTIVE_COLUMN[self.config.objective]
        if column == "score":
            return float(row["score"])
        value = float(row.get(column, float("nan")))
        return value if bool(row.get("valid")) and np.isfinite(value) else -1e12

    def _record(self, ind: Individual, row: dict) -> dict:
        """The genome's record: its name, type, generation, island, genes and hash, then the row's metrics (the
        row's own `seed_id` and `seed_type` left out)."""
        record = {
            "name": ind.name,
            "seed_type": None,
            "generation": ind.generation,
            "batch": self.task.batch,
            "genes": ind.genes if ind.genes is not None else genes_json(ind.values),
            "genes_hash": ind.hash,
        }
        record.update(row)  # the keys above keep their places; a metric of the same name wins, as it always did
        record["seed_type"] = ind.seed_type.value
        record.pop("seed_id", None)
        return record

    def _record_generation(self, generation: int, population: list[Individual], tick: float) -> None:
        values = [i.score for i in population]
        scores = np.array(values)
        done_before = sum(s["evaluations"] for s in self.stats)
        self.stats.append(
            {
                "batch": self.task.batch,
                "generation": generation,
                "best_score": float(scores.max()),
                "median_score": median(values),
                "mean_score": float(scores.mean()),
                "valid_share": sum(bool(i.row.get("valid")) for i in population) / len(population),
                "evaluations": len(self.records) - done_before,
                "wall_s": time.perf_counter() - tick,
            }
        )


def variation(seed_type: SeedType):
    """The operators that vary a seed type's values: DEAP's genetic programming for rule trees (`gp`), the
    templates' gene operators otherwise (`operators`); both modules offer the same three functions."""
    return gp if seed_type is SeedType.RULE_TREE else operators


def median(values: list[float]) -> float:
    """`np.median(values)` to the bit, from a sorted list: numpy's partition and mean on an array were most of
    the cost of a generation's statistics (its mean of the two middle values is their sum halved, as here).
    Values with a NaN, or none, take numpy's path."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0 or any(v != v for v in ordered):
        return float(np.median(values))
    mid = n // 2
    return float(ordered[mid]) if n % 2 else float((ordered[mid - 1] + ordered[mid]) / 2.0)


def _records(frame: pd.DataFrame) -> list[dict]:
    """The frame's rows as dicts of Python scalars (as `to_dict("records")`, without its per-cell boxing)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]


def _distinct(individuals: list[Individual]) -> list[Individual]:
    seen: set[str] = set()
    out = []
    for ind in individuals:
        if ind.hash not in seen:
            seen.add(ind.hash)
            out.append(ind)
    return out


def _rank_and_crowd(population: list[Individual]) -> tuple[np.ndarray, np.ndarray]:
    """Pareto front number and crowding distance of each individual (NSGA-II's crowded comparison)."""
    return nsga2.ranks_and_crowding(np.array([i.objectives for i in population]), OBJECTIVE_WEIGHTS)


def _survivors(pool: list[Individual], k: int) -> list[Individual]:
    """NSGA-II's survivors: DEAP's `selNSGA2(pool, k, nd="log")`, decision for decision (`nsga2`)."""
    return [pool[i] for i in nsga2.select(np.array([i.objectives for i in pool]), OBJECTIVE_WEIGHTS, k)]


def execute_batch(
    task: IslandTask,
    frames: Mapping[str, pd.DataFrame],
    evaluator: Evaluator | None = None,
    hook: IslandHook | None = None,
) -> IslandOutcome:
    """Run one island and never raise: an exception becomes a `failed` outcome with its traceback."""
    return execute_gang([task], frames, evaluator, hook)[0]


class Exchange(Protocol):
    """Where a worker's islands can go on elsewhere (work stealing, `stealing.py`): between two lockstep rounds a
    worker may hand some of its islands on, and once its own are done it may adopt others'."""

    def give_away(self, live: Mapping[int, Island]) -> list[int]:
        """The batches of `live` handed on to another worker now (they leave this gang)."""

    def ask_ahead(self) -> None:
        """Every island this worker holds ends with the round about to run: it may ask for others' islands now, so
        that they are on their way while it runs that round (`adopt` then takes them)."""

    def adopt(self) -> list[Island]:
        """Islands handed to this worker to go on with; [] when no other worker has any to share."""


def execute_gang(
    tasks: Sequence[IslandTask],
    frames: Mapping[str, pd.DataFrame],
    evaluator: Evaluator | None = None,
    hook: IslandHook | None = None,
    exchange: Exchange | None = None,
) -> list[IslandOutcome]:
    """Run islands in lockstep and never raise: each generation, one evaluator call scores the new genomes of
    all of them (a genome two islands bred is scored once). An island's result is the one it has alone,
    since a genome's row never depends on the others in the call; what lockstep saves is the per-call cost
    (indicator tables, the compiled call, the per-coin aggregation), paid once for k islands instead of k
    times. An island that fails (its hook, its loop, its genomes' evaluation) fails alone.

    With an `exchange`, islands may leave the gang between rounds and others join it once it is done: the outcomes
    returned are those of the islands finished here, the gang's first, in its order, then the adopted ones."""
    with _heap_frozen():
        return _execute_gang(tasks, frames, evaluator or evaluate_universe, hook, exchange)


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """Leave what the process held before the islands started out of the garbage collector's passes while they
    run (`gc.freeze`), and hand it back after (`gc.unfreeze`): an island allocates a container per genome and
    record, which sets off full collections, and each full pass rescanned the whole imported stack (and, in a
    worker, what its previous task left). That was 3-8% of a gang's time; nothing is freed later than at the
    first collection after the gang."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _execute_gang(
    tasks: Sequence[IslandTask],
    frames: Mapping[str, pd.DataFrame],
    evaluator: Evaluator,
    hook: IslandHook | None,
    exchange: Exchange | None,
) -> list[IslandOutcome]:
    outcomes: dict[int, IslandOutcome] = {}
    live: dict[int, Island] = {}
    order = dict.fromkeys(task.batch for task in tasks)  # the gang's, then the adopted (a gang may adopt its own)
    cpu_mark = time.process_time()
    for task in tasks:
        if task.deadline is not None and time.time() > task.deadline:
            message = f"batch {task.batch} not started: the run's evolution budget had ended"
            outcomes[task.batch] = IslandOutcome(task.batch, STATUS_BUDGET, message, 0.0, 0, pid=os.getpid())
            continue
        island = None
        try:
            if hook is not None:
                hook(task.batch)
            island = Island(task, frames, clock_scale=len(tasks))
            if island.begin() is None:
                outcomes[task.batch] = island.outcome
            else:
                live[task.batch] = island
        except Exception as exc:  # noqa: BLE001 - one bad batch must not sink the run; the error is recorded
            outcomes[task.batch] = _failure(task.batch, exc, island)
    while True:
        _run_rounds(live, frames, evaluator, outcomes, exchange, cpu_mark)
        adopted = exchange.adopt() if exchange is not None else []
        if not adopted:
            break
        cpu_mark = time.process_time()
        for island in adopted:
            island.attach(frames)
            live[island.task.batch] = island
            order.setdefault(island.task.batch)
    return [outcomes[batch] for batch in order if batch in outcomes]


def _run_rounds(
    live: dict[int, Island],
    frames: Mapping[str, pd.DataFrame],
    evaluator: Evaluator,
    outcomes: dict[int, IslandOutcome],
    exchange: Exchange | None,
    cpu_mark: float,
) -> None:
    """Lockstep rounds until no island is left: one evaluator call for all the islands' requests, then each island
    goes on to its next generation. A round's wall in the evaluator and its CPU time are shared equally by its
    islands (the first round's CPU counts from `cpu_mark`); an island that finishes leaves `live` for `outcomes`."""
    while live:
        if exchange is not None:  # before the round, so that a worker offers its islands before its first one
            for batch in exchange.give_away(live):
                del live[batch]
            if not live:
                break
            if all(island.in_last_generation() for island in live.values()):
                exchange.ask_ahead()
        began = time.perf_counter()
        rows = _evaluate_together({b: (island.fitness, island.request) for b, island in live.items()}, frames, evaluator)
        share = (time.perf_counter() - began) / len(live)
        stepped: list[Island] = []
        for batch, island in list(live.items()):
            island.evaluate_s += share
            try:
                answer = rows[batch]
                if isinstance(answer, Exception):
                    raise answer
                if island.resume(answer) is None:
                    outcomes[batch] = island.outcome
                    del live[batch]
            except Exception as exc:  # noqa: BLE001
                outcomes[batch] = _failure(batch, exc, island)
                del live[batch]
            stepped.append(island)
        cpu_now = time.process_time()
        for island in stepped:
            island.cpu_s += (cpu_now - cpu_mark) / len(stepped)
            if island.task.batch in outcomes:
                outcomes[island.task.batch].evaluate_s = island.evaluate_s
                outcomes[island.task.batch].cpu_s = island.cpu_s
        cpu_mark = cpu_now


def _evaluate_together(
    requests: Mapping[int, tuple[FitnessConfig, list[SeedGenes]]], frames: Mapping[str, pd.DataFrame], evaluator: Evaluator
) -> dict[int, list[dict] | Exception]:
    """Each island's rows as dicts (or the exception its genomes raised), from one evaluator call per fitness
    config. A call that raises is repeated on halves of the islands, down to single ones, so only an island
    whose genomes fail is failed."""
    answers: dict[int, list[dict] | Exception] = {}
    groups: dict[FitnessConfig, list[int]] = {}
    for batch, (fitness, _) in requests.items():
        groups.setdefault(fitness, []).append(batch)
    for fitness, batches in groups.items():
        genomes = {g.seed_id: g for b in batches for g in requests[b][1]}
        try:
            rows = _records(evaluator(frames, list(genomes.values()), fitness))
        except Exception as exc:  # noqa: BLE001 - attributed below
            if len(batches) == 1:
                answers[batches[0]] = exc
                continue
            answers.update(_evaluate_together({b: requests[b] for b in batches[:1]}, frames, evaluator))
            answers.update(_evaluate_together({b: requests[b] for b in batches[1:]}, frames, evaluator))
            continue
        if len(batches) == 1:
            answers[batches[0]] = rows
            continue
        by_id = {row["seed_id"]: row for row in rows}
        for b in batches:  # a row two islands asked for is shared: islands only read their rows
            answers[b] = [by_id[g.seed_id] for g in requests[b][1] if g.seed_id in by_id]
    return answers


def _failure(batch: int, exc: Exception, island: Island | None) -> IslandOutcome:
    wall_s = island.elapsed() if island is not None else 0.0
    if isinstance(exc, WindowLeakError):  # carried back as a status: executors in other processes cannot re-raise it
        return IslandOutcome.failed(batch, f"{type(exc).__name__}: {exc}", wall_s, STATUS_LEAK)
    detail = "".join(traceback.format_exception(exc)[-3:]).strip()
    return IslandOutcome.failed(batch, f"{type(exc).__name__}: {exc}\n{detail}", wall_s)
