"""Validation: held-out evidence under one selection-aware gate, replay through the runtime, testnet,
and the overfitting statistics (PBO, SPA/StepM, deflated Sharpe).

Stage 1 (held_out.py), stage 2 (replay.py) and stage 3 (testnet_stage.py) each return a `StageResult`;
`decide` (verdict.py) turns a candidate's results into a `CandidateVerdict`; `validate` (run.py) runs a mode.
"""

from quant_organism.validation.deflated_sharpe import (
    ReturnMoments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)
from quant_organism.validation.held_out import HeldOutConfig, HeldOutEvidence, held_out_evidence, run_held_out_stage
from quant_organism.validation.overfitting import PBOResult, probability_of_backtest_overfitting
from quant_organism.validation.stage_result import StageResult, StageStatus
from quant_organism.validation.superiority import SuperiorityResult, superiority_test
from quant_organism.validation.testnet_stage import TestnetConfig, UnsafeEndpointError, check_endpoint, run_testnet_stage
from quant_organism.validation.verdict import STAGE_WEIGHTS, CandidateVerdict, ValidationMode, decide
from quant_organism.validation.windowed import Window, run_window

__all__ = [
    "STAGE_WEIGHTS",
    "CandidateVerdict",
    "HeldOutConfig",
    "HeldOutEvidence",
    "PBOResult",
    "ReturnMoments",
    "StageResult",
    "StageStatus",
    "SuperiorityResult",
    "TestnetConfig",
    "UnsafeEndpointError",
    "ValidationMode",
    "Window",
    "check_endpoint",
    "decide",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "held_out_evidence",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "run_held_out_stage",
    "run_testnet_stage",
    "run_window",
    "superiority_test",
]
