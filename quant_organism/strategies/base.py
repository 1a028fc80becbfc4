"""What every strategy seed is: genes in, target positions out.

Signal contract (relied on by the backtest and the runtime):
- `generate_signals(ohlcv)` returns an int8 Series on the input's index with values in {-1, 0, 1}:
  the target position decided at bar t's close using only bars <= t. Executing it (e.g. at bar
  t+1's open) is the backtest's job, as are the risk genes `stop_loss`, `take_profit` and
  `position_size`: seeds never apply them.
- Bars where an indicator is not yet defined (warm-up) give 0.
- `generate_signals_batch(ohlcv, genes_list)` returns an int8 DataFrame with one column per genome
  (named by seed_id, in order). It is the path evolution uses; the one-genome path is the same code
  run on a batch of one, so both agree exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .compiled import seed_rules as rules
from .genes import COMMON_GENES, SeedGenes, SeedType
from .indicators import Indicators
from .ohlcv import Bars, SignalInputError, prepare_bars
from .positions import track_conditions, tracker_arrays
from .regime_filter import apply_regime_filters


class GeneColumns:
    """Gene values of a batch as per-genome vectors (row vectors broadcast against bars x genomes), each read
    once: a batch is scored on every coin of the universe with the same columns (`RuleSeed.rule_inputs`)."""

    def __init__(self, genes_list: Sequence[SeedGenes], seed_type: SeedType | None = None) -> None:
        self.genes_list = genes_list
        self.seed_type = seed_type  # set when the genes were checked for that seed (`RuleSeed.gene_columns`)
        self._read: dict[tuple[str, type], np.ndarray] = {}

    def ints(self, name: str) -> np.ndarray:
        return self._column(name, np.int64)

    def floats(self, name: str) -> np.ndarray:
        """Float gene, one value per genome."""
        return self._column(name, np.float64)

    def thresholds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entry, exit and filter thresholds: the last three arguments of most rules."""
        return self.floats("entry_threshold"), self.floats("exit_threshold"), self.floats("filter_threshold")

    def _column(self, name: str, dtype: type) -> np.ndarray:
        """The gene's values as a read-only vector, shared by every read of it."""
        key = (name, dtype)
        column = self._read.get(key)
        if column is None:
            column = self._read[key] = np.array(self._values(name), dtype=dtype)
            column.flags.writeable = False
        return column

    def _values(self, name: str) -> list:
        """`SeedGenes.gene(name)` of each genome, read as an attribute or a parameter directly: evolution reads
        every gene of every genome, and the method call per value was two thirds of it."""
        if name in COMMON_GENES:
            return list(map(attrgetter(name), self.genes_list))
        return [g.parameters[name] for g in self.genes_list]

    def row(self, name: str) -> np.ndarray:
        """Float gene as a (1, genomes) row, ready to compare with a bars x genomes matrix."""
        return self.floats(name)[None, :]


class BaseSeed(ABC):
    """A strategy seed bound to one genome. Subclasses implement `_batch_positions` only."""

    seed_type: ClassVar[SeedType]
    needs_funding: ClassVar[bool] = False

    def __init__(self, genes: SeedGenes) -> None:
        self.genes = self._check_genes([genes])[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.genes.seed_id!r})"

    def generate_signals(self, ohlcv: pd.DataFrame) -> pd.Series:
        """int8 target positions in {-1, 0, 1} on `ohlcv.index`, named by the genome's seed_id."""
        return self.generate_signals_batch(ohlcv, [self.genes]).iloc[:, 0]

    @classmethod
    def generate_signals_batch(cls, ohlcv: pd.DataFrame, genes_list: Iterable[SeedGenes]) -> pd.DataFrame:
        """int8 target positions, one column per genome (columns = seed_ids in the given order)."""
        genes = list(genes_list)
        bars = prepare_bars(ohlcv, need_funding=cls.needs_funding, what=f"{cls.seed_type.value} signals")
        columns = pd.Index([g.seed_id for g in genes], name="seed_id")
        return pd.DataFrame(cls.positions_batch(bars, genes), index=ohlcv.index, columns=columns)

    @classmethod
    def positions_batch(cls, bars: Bars, genes_list: Sequence[SeedGenes]) -> np.ndarray:
        """int8 target positions, bars x genomes, from bars already checked (`prepare_bars`): the array
        path evolution takes, so a frame is validated once per run instead of once per batch."""
        genes = cls._checked(bars, genes_list)
        if not genes or bars.n == 0:
            return np.zeros((bars.n, len(genes)), np.int8)
        positions = np.asarray(cls._batch_positions(bars, genes))
        if positions.shape != (bars.n, len(genes)):
            raise RuntimeError(f"{cls.__name__} produced shape {positions.shape}, expected {(bars.n, len(genes))}")
        positions = apply_regime_filters(positions, bars.regimes, [g.regime_filter for g in genes], bars.masks)
        return positions.astype(np.int8, copy=False)

    @classmethod
    @abstractmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        """bars x genomes int8 positions for validated bars and genes of this seed type."""

    @classmethod
    def _checked(cls, bars: Bars, genes_list: Sequence[SeedGenes]) -> list[SeedGenes]:
        genes = cls._check_genes(list(genes_list))
        cls._check_bars(bars)
        return genes

    @classmethod
    def _check_bars(cls, bars: Bars) -> None:
        if cls.needs_funding and bars.funding is None:
            raise SignalInputError(
                f"{cls.seed_type.value} signals: missing column(s) ['funding_rate'] "
                "(this seed trades on funding rates: join them onto the bars)"
            )

    @classmethod
    def _check_genes(cls, genes: list[SeedGenes]) -> list[SeedGenes]:
        for g in genes:
            if not isinstance(g, SeedGenes):
                raise TypeError(f"{cls.__name__} needs SeedGenes, got {type(g).__name__}")
            if g.seed_type != cls.seed_type:
                raise ValueError(f"{cls.__name__} runs {cls.seed_type.value} genes; {g.seed_id!r} is {g.seed_type.value}")
        ids = [g.seed_id for g in genes]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate seed_id(s) in batch: {dupes}; each column needs a unique id")
        return genes


@dataclass(frozen=True)
class RuleInputs:
    """A rule-based batch as the compiled code takes it: `rules.<kernel>(*args, cond)` writes the condition
    planes, then the position tracker runs with these stops (positions.tracker_arrays states them).

    The signals path (`RuleSeed._batch_positions`) and the backtest's fused kernel (backtest/compiled/fused.py) both
    run from these inputs, so a rule, its indicator rows and its stops are described once.
    """

    kernel: str
    args: tuple[Any, ...]
    close: np.ndarray
    max_hold: np.ndarray | None = None
    trail_scale: np.ndarray | None = None
    trail_row: np.ndarray | None = None
    trail_mult: np.ndarray | None = None

    def tracker(self, n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        return tracker_arrays(n_cols, len(self.close), self.max_hold, self.trail_scale, self.trail_row, self.trail_mult)


class RuleSeed(BaseSeed):
    """A seed whose rule is a compiled kernel of rules.py: subclasses implement `_rule_inputs` only."""

    @classmethod
    def gene_columns(cls, genes_list: Sequence[SeedGenes]) -> GeneColumns:
        """The batch's genes, checked for this seed, as columns `rule_inputs` takes on every coin."""
        return GeneColumns(cls._check_genes(list(genes_list)), cls.seed_type)

    @classmethod
    def rule_inputs(cls, bars: Bars, genes: Sequence[SeedGenes] | GeneColumns) -> RuleInputs:
        """The batch's kernel inputs (indicator rows shared by its genomes) on checked bars, for genes or for
        their `gene_columns` (a batch scored on several coins reads its genes once)."""
        if isinstance(genes, GeneColumns):
            if genes.seed_type is not cls.seed_type:
                raise ValueError(f"{cls.__name__} takes columns of its own checked genes (`{cls.__name__}.gene_columns`)")
            cls._check_bars(bars)
            return cls._rule_inputs(Indicators(bars), genes)
        return cls._rule_inputs(Indicators(bars), GeneColumns(cls._checked(bars, genes), cls.seed_type))

    @classmethod
    @abstractmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        """The kernel, its arguments and the tracker's stops for validated bars (`ind.bars`) and genes."""

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        inputs = cls._rule_inputs(Indicators(bars), GeneColumns(genes, cls.seed_type))
        cond = rules.new_conditions(len(genes), bars.n)
        getattr(rules, inputs.kernel)(*inputs.args, cond)
        return track_conditions(cond, inputs.close, inputs.tracker(len(genes))).T
