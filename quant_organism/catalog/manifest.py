"""The deployment manifest: which strategies are deployed, with what allocation, version by version.

It lives beside the configs in the store folder: `deployments/{version}.json` (names, allocations,
scores, cash, evolution dates, what was archived) and `deployments/current.json`, a pointer to the
latest version. It is written while the store's write lock is held (`StrategyStore.exclusive()`), after
the configs are staged and before the store commits; `ManifestWriter.undo` restores the previous state
byte for byte when the store does not reach its commit point.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from quant_organism.catalog.store import StrategyStore
from quant_organism.core.durable import create_new, fsync_path, replace_bytes

DEPLOYMENTS_DIR = "deployments"
CURRENT = "current.json"
MANIFEST_VERSION = 1


def deployments_dir(store: StrategyStore) -> Path:
    return store.directory / DEPLOYMENTS_DIR


def load_current_deployment(store: StrategyStore) -> dict[str, Any] | None:
    """The manifest `deployments/current.json` points to; None when nothing was deployed yet."""
    folder = deployments_dir(store)
    pointer = read_pointer(folder)
    if pointer is None:
        return None
    path = folder / f"{pointer['version']}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder / CURRENT} points to {path.name}, which is unreadable: {exc}") from None


def new_version(folder: Path, when: datetime) -> str:
    """A version name from the UTC time, suffixed when that name is taken."""
    base, k = when.strftime("%Y%m%dT%H%M%S%fZ"), 0
    while (folder / f"{base if k == 0 else f'{base}-{k}'}.json").exists():
        k += 1
    return base if k == 0 else f"{base}-{k}"


def read_pointer(folder: Path) -> dict[str, Any] | None:
    path = folder / CURRENT
    if not path.exists():
        return None
    try:
        pointer = json.loads(path.read_text())
        if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), str):
            raise ValueError("no 'version' string")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a deployment pointer ({exc}); fix or remove it by hand") from None
    return pointer


class ManifestWriter:
    """Writes a version file and the pointer, remembering enough to undo both exactly."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.created_folder = False
        self.version_file: Path | None = None
        self.old_pointer: bytes | None = None
        self.pointer_replaced = False

    def write(self, version: str, manifest: dict[str, Any]) -> None:
        if not self.folder.exists():
            self.folder.mkdir()
            self.created_folder = True
        pointer_path = self.folder / CURRENT
        self.old_pointer = pointer_path.read_bytes() if pointer_path.exists() else None
        path = self.folder / f"{version}.json"
        create_new(path, _dumps(manifest))
        self.version_file = path
        pointer = {"version": version, "manifest": path.name, "deployed_at": manifest["deployed_at"]}
        self.pointer_replaced = True  # set first: a failed replace may still have swapped the file
        replace_bytes(pointer_path, _dumps(pointer))
        fsync_path(self.folder)

    def undo(self) -> None:
        pointer_path = self.folder / CURRENT
        if self.pointer_replaced:
            if self.old_pointer is None:
                pointer_path.unlink(missing_ok=True)
            elif not pointer_path.exists() or pointer_path.read_bytes() != self.old_pointer:
                replace_bytes(pointer_path, self.old_pointer)
        if self.version_file is not None:
            self.version_file.unlink(missing_ok=True)
        for leftover in self.folder.glob(f".{CURRENT}.*.tmp") if self.folder.exists() else ():
            leftover.unlink(missing_ok=True)
        if self.created_folder and self.folder.exists():
            self.folder.rmdir()
        if self.folder.exists():
            fsync_path(self.folder)


def _dumps(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, allow_nan=False) + "\n").encode()


def deployment_stages(store: StrategyStore) -> dict[str, str]:
    """Each strategy of the current deployment with its stage: "probation" (incubation capital until its look,
    deployment/probation.py) or "capital"; empty when nothing is deployed. Manifests written before stages
    existed list none: a strategy there is "capital" when it holds an allocation, else "probation"."""
    current = load_current_deployment(store) or {}
    return {
        s["name"]: s.get("stage") or ("capital" if s.get("allocation", 0.0) > 0.0 else "probation")
        for s in current.get("strategies", [])
    }


def deployment_entries(store: StrategyStore) -> dict[str, dict]:
    """Each strategy of the current deployment with its sequential probation record (deployment/probation.py), for
    those that have one."""
    current = load_current_deployment(store) or {}
    return {s["name"]: s["probation"] for s in current.get("strategies", []) if s.get("probation")}


def deployment_error_budget(store: StrategyStore) -> dict | None:
    """The probation entries' error ledger the current deployment carries (deployment/error_budget.py)."""
    current = load_current_deployment(store) or {}
    return current.get("error_budget")


def deployed_rules(store: StrategyStore) -> dict[str, dict]:
    """The rule books of the current deployment (documented rules, searched genomes): each with its manifest
    entry (allocation, stage, probation record) merged with its versioned config (`rule`, `universe_top`, `since`)."""
    current = load_current_deployment(store) or {}
    rules = current.get("rules") or {}
    return {s["name"]: {**s, **rules[s["name"]]} for s in current.get("strategies", []) if s["name"] in rules}


def retired_rules(store: StrategyStore) -> dict[str, str]:
    """Every rule book (documented rule, searched genome) a deployment has retired so far: name -> the evolution date
    it left on."""
    current = load_current_deployment(store) or {}
    return dict(current.get("retired_rules") or {})
