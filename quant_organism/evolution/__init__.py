"""Evolution: NSGA-II islands over the strategy genome, evaluated on the train window of every coin.

- evolution_config.py: `EvolutionConfig` and the packaged YAML presets (`load_preset('test' | 'full')`);
- date_windows.py: train / out-of-sample / walk-forward windows of an evolution date, and the no-leak guard;
- traded_frames.py: the market format (coin -> OHLCV frame with `funding_rate`) and how to build it;
- fitness.py: universal fitness, objectives aggregated across coins;
- operators.py / island.py: variation and the loop of one island (batch), on a private RNG;
- executors.py: serial, process pool and Ray executors;
- evolve.py / result.py: `run_evolution` and `EvolutionResult` (best strategies, StrategyConfigs).
Plain Python: no Dagster here.
"""

from quant_organism.evolution.date_windows import (
    EvolutionWindows,
    Window,
    WindowLeakError,
    evolution_windows,
    guard_train_frames,
    slice_frame,
    slice_frames,
)
from quant_organism.evolution.evolution_config import EvolutionConfig, load_preset, preset_names, preset_values
from quant_organism.evolution.evolve import run_evolution
from quant_organism.evolution.executors.runners import ray_session, warm_up
from quant_organism.evolution.fitness import evaluate_universe
from quant_organism.evolution.island import IslandOutcome, IslandTask, execute_batch, execute_gang
from quant_organism.evolution.result import EvolutionResult, Finalist, TooManyFailedIslands, genes_from_row, to_strategy_configs
from quant_organism.evolution.traded_frames import join_funding, market_frames, prepare_frames

__all__ = [
    "IslandOutcome",
    "IslandTask",
    "Finalist",
    "EvolutionConfig",
    "EvolutionResult",
    "EvolutionWindows",
    "TooManyFailedIslands",
    "Window",
    "WindowLeakError",
    "evaluate_universe",
    "evolution_windows",
    "execute_batch",
    "execute_gang",
    "genes_from_row",
    "guard_train_frames",
    "join_funding",
    "load_preset",
    "market_frames",
    "prepare_frames",
    "preset_names",
    "preset_values",
    "ray_session",
    "run_evolution",
    "slice_frame",
    "slice_frames",
    "to_strategy_configs",
    "warm_up",
]
