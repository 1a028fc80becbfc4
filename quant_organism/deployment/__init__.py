"""Deployment: the decision engine, allocation and the atomic deploy of a plan into the catalog."""

from .allocation import HARD_CAP, Allocation, AllocationConfig, allocate, allocate_from_kelly, kelly_fractions
from .decision import Candidate, ChosenStrategy, DecisionConfig, DecisionEngine, DeploymentPlan, RejectedStrategy, verdict_metrics
from .deploy import DeploymentRecord, DeploymentRefused, deploy, stray_files, verify_deployment, verify_staged

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
    "DeploymentRefused",
    "RejectedStrategy",
    "allocate",
    "allocate_from_kelly",
    "deploy",
    "kelly_fractions",
    "verdict_metrics",
    "stray_files",
    "verify_deployment",
    "verify_staged",
]
