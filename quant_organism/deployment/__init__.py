"""Deployment: the strategy config store that evolution writes, validation updates and the runtime reads.

`config.py` defines `StrategyConfig` (genome, evidence, provenance, lifecycle); `store.py` defines
`ConfigStrategyLoader`, a directory of JSON files with atomic, transactional writes.
"""

from .config import (
    ALLOWED_TRANSITIONS,
    SCHEMA_VERSION,
    DataWindow,
    DeploymentEvent,
    DeploymentStatus,
    IllegalTransitionError,
    StrategyConfig,
    check_transition,
)
from .store import (
    ConfigStoreError,
    ConfigStrategyLoader,
    CorruptConfigError,
    StoreLockedError,
    StoreProblem,
    StoreTransaction,
    UnknownStrategyError,
    read_config,
    strategies_dir,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "SCHEMA_VERSION",
    "ConfigStoreError",
    "ConfigStrategyLoader",
    "CorruptConfigError",
    "DataWindow",
    "DeploymentEvent",
    "DeploymentStatus",
    "IllegalTransitionError",
    "StoreLockedError",
    "StoreProblem",
    "StoreTransaction",
    "StrategyConfig",
    "UnknownStrategyError",
    "check_transition",
    "read_config",
    "strategies_dir",
]

# --- the deployment decision, sizing and atomic deployment ---------------------------------------
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
from .deploy import DeploymentRecord, deploy, deployments_dir, load_current_deployment, verify_deployment

__all__ += [
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
    "deployments_dir",
    "kelly_fractions",
    "load_current_deployment",
    "verdict_metrics",
    "verify_deployment",
]
