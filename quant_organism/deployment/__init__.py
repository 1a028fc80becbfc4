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
