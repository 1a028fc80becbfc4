"""Look up seeds by type: the one place that knows which class implements which SeedType."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from .base import BaseSeed
from .genes import SeedGenes, SeedType
from .ohlcv import Bars


class SeedRegistry:
    """Maps each SeedType to its seed class; creates seeds and runs batches by type."""

    def __init__(self, classes: Mapping[SeedType, type[BaseSeed]]) -> None:
        for seed_type, cls in classes.items():
            if cls.seed_type != seed_type:
                raise ValueError(f"{cls.__name__} implements {cls.seed_type.value}, registered as {seed_type.value}")
        self._classes = dict(classes)

    def seed_types(self) -> tuple[SeedType, ...]:
        return tuple(self._classes)

    def seed_class(self, seed_type: SeedType | str) -> type[BaseSeed]:
        try:
            return self._classes[SeedType(seed_type)]
        except (ValueError, KeyError):
            known = [s.value for s in self._classes]
            raise ValueError(f"no seed registered for {seed_type!r}; known: {known}") from None

    def create_seed(self, seed_type: SeedType | str, genes: SeedGenes | Mapping[str, Any]) -> BaseSeed:
        """A seed bound to `genes` (a SeedGenes, or a mapping validated into one)."""
        cls = self.seed_class(seed_type)
        if not isinstance(genes, SeedGenes):
            genes = SeedGenes.model_validate({"seed_type": cls.seed_type, **dict(genes)})
        return cls(genes)

    def batch_signals(self, seed_type: SeedType | str, ohlcv: pd.DataFrame, genes_list: Iterable[SeedGenes]) -> pd.DataFrame:
        """int8 target positions, one column per genome (seed_id), all genomes of one seed type."""
        return self.seed_class(seed_type).generate_signals_batch(ohlcv, genes_list)

    def batch_positions(self, seed_type: SeedType | str, bars: Bars, genes_list: Sequence[SeedGenes]) -> np.ndarray:
        """The same positions as `batch_signals`, bars x genomes int8, from bars checked once by `prepare_bars`."""
        return self.seed_class(seed_type).positions_batch(bars, genes_list)


@lru_cache(maxsize=1)
def get_registry() -> SeedRegistry:
    """The registry of all twelve seeds (built once per process)."""
    from .seeds import SEED_CLASSES

    return SeedRegistry(SEED_CLASSES)
