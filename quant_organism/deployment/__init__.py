"""Deployment: the decision engine, allocation and the atomic deploy of a plan into the catalog."""

from .allocation import HARD_CAP, Allocation, AllocationConfig, allocate, allocate_from_kelly, kelly_fractions
from .decision import (
    Candidate,
    ChosenStrategy,
    DecisionConfig,
    DecisionEngine,
    DeploymentPlan,
    RejectedStrategy,
    verdict_metrics,
)
from .deploy import DeploymentRecord, deploy, verify_deployment

__all__ = [
    "HARD_CAP",
    "Allocation",
    "AllocationConfig",
    "Candidate",
    "ChosenStrategy",
    "DecisionConfig",
    "DecisionEngine",
    "DeploymentPlan",
    "DeploymentRecord",
    "RejectedStrategy",
    "allocate",
    "allocate_from_kelly",
    "deploy",
    "kelly_fractions",
    "verdict_metrics",
    "verify_deployment",
]
