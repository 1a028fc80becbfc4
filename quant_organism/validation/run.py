"""Validate the day's best candidates through the stages of a mode (minimal: 1, fast: 1-2, full: 1-3).

Candidates are the top share of the evolution's distinct valid individuals (20%, at most 50). Stage 1
backtests them on the out-of-sample and walk-forward windows, with the deflated-Sharpe gate computed
from every individual evolution evaluated; stage 2 replays the walk-forward window bar by bar through
the runtime engine; stage 3 trades on the Hyperliquid testnet once (an execution check shared by all
candidates) or is recorded as skipped without a key. Bars of the validation windows were never seen
by evolution (evolution/windows.py); here they are used for the first time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from quant_organism.evolution.result import Candidate, EvolutionResult
from quant_organism.market.schema import interval_delta
from quant_organism.validation.backtest_stage import BacktestStageConfig, run_backtest_stage
from quant_organism.validation.deflated_sharpe import TrialStats
from quant_organism.validation.replay import ReplayConfig, replay_stage
from quant_organism.validation.testnet_stage import TestnetConfig, run_testnet_stage
from quant_organism.validation.verdict import CandidateVerdict, decide

Mode = Literal["minimal", "fast", "full"]


@dataclass
class ValidationSettings:
    mode: Mode = "fast"
    top_share: float = 0.2
    max_candidates: int = 50
    backtest: BacktestStageConfig = field(default_factory=BacktestStageConfig)
    replay_min_consistency: float = 0.2
    testnet: TestnetConfig = field(default_factory=TestnetConfig)


@dataclass
class ValidationOutcome:
    candidates: list[Candidate]
    verdicts: list[CandidateVerdict]
    trials: TrialStats
    stage_seconds: dict[str, float]

    @property
    def passed(self) -> list[CandidateVerdict]:
        return [v for v in self.verdicts if v.passed]

    def to_dict(self) -> dict:
        return {
            "trials": {"n_trials": self.trials.n_trials, "sharpe_variance": self.trials.sharpe_variance},
            "stage_seconds": self.stage_seconds,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def select_candidates(result: EvolutionResult, top_share: float, max_candidates: int) -> list[Candidate]:
    """The top `top_share` of the distinct valid individuals by score, at most `max_candidates`."""
    distinct_valid = result.population[result.population["valid"]]["genes_hash"].nunique()
    n = min(max_candidates, max(1, math.ceil(top_share * distinct_valid))) if distinct_valid else 0
    return result.best(n)


def validate(result: EvolutionResult, frames: dict[str, pd.DataFrame], options: ValidationSettings) -> ValidationOutcome:
    """Run the mode's stages for the selected candidates; `frames` must span the whole lookback."""
    windows = result.windows
    candidates = select_candidates(result, options.top_share, options.max_candidates)
    bars_per_year = pd.Timedelta(days=365) / interval_delta(result.interval or "1h")
    trials = TrialStats.from_sharpes(result.population["sharpe"], bars_per_year=bars_per_year)
    timings: dict[str, float] = {}
    if not candidates:
        return ValidationOutcome([], [], trials, timings)

    started = time.perf_counter()
    genes = [c.genes for c in candidates]
    stage1 = run_backtest_stage(genes, frames, windows.out_of_sample, windows.walk_forward, trials, options.backtest)
    timings["backtest"] = round(time.perf_counter() - started, 3)

    stage2: dict[str, object] = {}
    if options.mode in ("fast", "full"):
        started = time.perf_counter()
        window_bars = int((windows.walk_forward.end - windows.walk_forward.start) / interval_delta(result.interval or "1h"))
        replay_config = ReplayConfig(window_bars=window_bars, min_consistency=options.replay_min_consistency)
        for candidate in genes:
            stage2[candidate.seed_id] = replay_stage(candidate, frames, replay_config, end=windows.walk_forward.end)
        timings["replay"] = round(time.perf_counter() - started, 3)

    testnet = None
    if options.mode == "full":
        started = time.perf_counter()
        testnet = run_testnet_stage(options.testnet)  # one execution check, shared by every candidate
        timings["testnet"] = round(time.perf_counter() - started, 3)

    verdicts = []
    for candidate in genes:
        stages = [stage1[candidate.seed_id]]
        if candidate.seed_id in stage2:
            stages.append(stage2[candidate.seed_id])
        if testnet is not None:
            stages.append(testnet)
        verdicts.append(decide(candidate.seed_id, stages, options.mode))
    return ValidationOutcome(candidates, verdicts, trials, timings)
