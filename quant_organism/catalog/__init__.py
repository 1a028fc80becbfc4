"""The catalog: the contract every stage reads and writes, so it sits low in the layers.

`config.py` defines `StrategyConfig` (genome, evidence, provenance, lifecycle, the live-status set);
`store.py` defines `StrategyStore`, a directory of JSON files with atomic, transactional writes;
`manifest.py` the deployment manifest.
Nothing outside this package touches the store's internals.
"""

from .config import (
    ALLOWED_TRANSITIONS,
    LIVE_STATUSES,
    SCHEMA_VERSION,
    DataWindow,
    DeploymentEvent,
    DeploymentStatus,
    IllegalTransitionError,
    StrategyConfig,
    check_transition,
    is_live,
)
from .manifest import MANIFEST_VERSION, deployments_dir, load_current_deployment
from .store import (
    ConfigStoreError,
    CorruptConfigError,
    StoreLockedError,
    StoreProblem,
    StoreTransaction,
    StrategyStore,
    UnknownStrategyError,
    read_config,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "SCHEMA_VERSION",
    "ConfigStoreError",
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
    "StrategyStore",
    "LIVE_STATUSES",
    "is_live",
    "MANIFEST_VERSION",
    "deployments_dir",
    "load_current_deployment",
]
