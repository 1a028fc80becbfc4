"""Validation: out-of-sample and walk-forward backtests, accelerated replay, testnet, overfitting guards.

Stage 1 (backtest_stage), stage 2 (replay, in replay.py) and stage 3 (testnet_stage) each return a
`StageResult`; `decide` (verdict.py) turns a candidate's results into a `CandidateVerdict`.
"""

from quant_organism.validation.backtest_stage import BacktestStageConfig, run_backtest_stage
from quant_organism.validation.deflated_sharpe import (
    ReturnMoments,
    TrialStats,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)
from quant_organism.validation.result import StageResult, StageStatus
from quant_organism.validation.testnet_stage import TestnetConfig, UnsafeEndpointError, check_endpoint, run_testnet_stage
from quant_organism.validation.verdict import PASS_SCORE, STAGE_WEIGHTS, CandidateVerdict, ValidationMode, decide
from quant_organism.validation.windowed import Window, run_window

__all__ = [
    "PASS_SCORE",
    "STAGE_WEIGHTS",
    "BacktestStageConfig",
    "CandidateVerdict",
    "ReturnMoments",
    "StageResult",
    "StageStatus",
    "TestnetConfig",
    "TrialStats",
    "UnsafeEndpointError",
    "ValidationMode",
    "Window",
    "check_endpoint",
    "decide",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "run_backtest_stage",
    "run_testnet_stage",
    "run_window",
]
