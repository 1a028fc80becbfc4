"""Apply a `DeploymentPlan` to the config store atomically, and check what is deployed.

`deploy(plan, loader, when=..., note=...)`, in one store transaction:
- each chosen strategy follows the legal lifecycle: evolved -> validated (its verdict summary merged
  into `metrics`, the score in the history note) -> deployed with its allocation; a validated one goes
  straight to deployed; a deployed one chosen again is reallocated; a decaying one is deployed again;
- every strategy of the previous deployment (deployed or decaying) not chosen again is archived with
  the reason "superseded ..."; every validated strategy not chosen is archived too ("validated but not
  chosen ..."), so the live store holds what trades and nothing waits in `validated` forever.
Candidates the plan rejected are left as they are.

The deployment manifest lives beside the configs: `deployments/{version}.json` (names, allocations,
scores, cash, evolution dates, what was archived) and `deployments/current.json`, a pointer to the
latest version. The store's transaction holds only configs, so the manifest is written while the
store's lock is held, after every config change is staged and before the store commits: first the
new version file (a new name), then the pointer (replaced atomically). If anything fails before the
store's commit point (staging, the manifest itself, the commit's own writes), both are undone (the
old pointer's bytes restored, the new file and a folder created for it removed), so the store
directory is byte-identical to before. A failure after the commit point (while the store renames
files into place) keeps the manifest: the store completes that commit on its next read or write.

Before the commit point, the staged deployment itself is verified (`verify=`: allocations within the
caps, every chosen strategy builds and signals on the caller's sample bars); a deployment that fails it
raises `DeploymentRefused` and is never committed, so the previous deployment keeps trading.

A documented rule the plan chooses (`documented.<rule>`, deployment/documented_capital.py) is not a genome and has no config
file: the manifest is its versioned config. Its entry under `rules` names the pre-registered rule with its
parameters, the universe it trades (`universe_top`) and where its forward record began (`since`, the day after the
evolution date that first chose it, carried while it stays deployed); a rule of the previous deployment not chosen
again is retired (`retired_rules`: name -> the evolution date it left on, every one so far), as a superseded config
is archived. Its allocation, stage and probation record sit in `strategies` beside the genomes'.

The strategy files are the source of truth for the genomes. Only a process crash between the pointer's replacement
and the store's commit point can leave a pointer ahead of the configs; `verify_deployment` reports
any mismatch between the pointer and the stored allocations.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_organism.catalog.config import LIVE_STATUSES, DeploymentStatus, StrategyConfig
from quant_organism.catalog.manifest import (
    MANIFEST_VERSION,
    ManifestWriter,
    deployments_dir,
    load_current_deployment,
    new_version,
    read_pointer,
)
from quant_organism.catalog.store import StoreTransaction, StrategyStore
from quant_organism.core.faults import fault_point
from quant_organism.deployment.allocation import DEFAULT_MAX_WEIGHT, HARD_CAP, SUM_TOLERANCE
from quant_organism.deployment.decision import ChosenStrategy, DeploymentPlan
from quant_organism.deployment.documented_capital import is_rule, rule_of
from quant_organism.strategies import get_registry

LIVE = LIVE_STATUSES


class DeploymentRefused(ValueError):
    """The staged deployment failed its verification before the commit point; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the new deployment was refused before its commit (previous one kept): " + "; ".join(problems))
        self.problems = problems


class OlderThanLive(ValueError):
    """The plan comes from an evolution date older than the live deployment's: deployment dates only move
    forward (a backfill of an old date must not replace what newer data chose). Nothing was changed."""

    def __init__(self, evolution_date: date, live_date: str, live_version: str) -> None:
        super().__init__(f"evolution date {evolution_date} is older than the live deployment {live_version} "
                         f"(evolution date {live_date}): it is kept, nothing was changed")  # fmt: skip
        self.live_date, self.live_version = live_date, live_version


def check_not_older(loader: StrategyStore, evolution_date: date | None) -> None:
    """Raise `OlderThanLive` when the live deployment was chosen on a later evolution date than `evolution_date`."""
    if evolution_date is None:
        return
    from quant_organism.catalog.manifest import load_current_deployment

    current = load_current_deployment(loader)
    live = (current or {}).get("evolution_date")
    if live and pd.Timestamp(live).date() > pd.Timestamp(evolution_date).date():
        raise OlderThanLive(evolution_date, str(live)[:10], str(current.get("version")))


@dataclass(frozen=True)
class DeploymentRecord:
    """What one `deploy` call did."""

    version: str
    deployed_at: datetime
    allocations: dict[str, float]  # every strategy live after the deployment
    validated: list[str]  # moved evolved -> validated -> deployed
    newly_deployed: list[str]  # validated (or just validated) -> deployed, or decaying -> deployed
    reallocated: list[str]  # already deployed, chosen again
    archived: list[str]  # previous deployment not chosen: retired as superseded
    not_chosen: list[str]  # validated (now or earlier) but not chosen: retired, so none waits forever
    cash: float
    manifest_path: Path
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "deployed_at": self.deployed_at.isoformat(),
            "allocations": dict(self.allocations),
            "validated": list(self.validated),
            "newly_deployed": list(self.newly_deployed),
            "reallocated": list(self.reallocated),
            "archived": list(self.archived),
            "not_chosen": list(self.not_chosen),
            "cash": self.cash,
            "manifest_path": str(self.manifest_path),
            "notes": list(self.notes),
        }


def deploy(
    plan: DeploymentPlan,
    loader: StrategyStore,
    *,
    when: datetime,
    note: str = "",
    evolution_date: date | None = None,
    verify: pd.DataFrame | None = None,
    max_weight: float = DEFAULT_MAX_WEIGHT,
    universe_top: int | None = None,
    traded_coins: list[str] | None = None,
) -> DeploymentRecord:
    """Write `plan` to the store as the new deployment, all or nothing (see the module docstring).

    `verify`: sample OHLCV bars; when given, the staged configs are checked on them before the commit
    point (`verify_staged`) and `DeploymentRefused` is raised instead of committing a broken set.
    `universe_top`: the point-in-time universe the plan's documented rules trade (None: every coin); `traded_coins`:
    the members the evolved strategies trade until the next deployment (None: each one's data window), both kept in
    the manifest."""
    if not isinstance(plan, DeploymentPlan):
        raise TypeError(f"plan must be a DeploymentPlan (from DecisionEngine.select); got {type(plan).__name__}")
    if not isinstance(loader, StrategyStore):
        raise TypeError(f"loader must be a StrategyStore; got {type(loader).__name__}")
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise ValueError(f"when must be a timezone-aware datetime (UTC); got {when!r}")
    when = when.astimezone(timezone.utc)
    _check_plan(plan)

    folder = deployments_dir(loader)
    with loader.exclusive():
        check_not_older(loader, evolution_date)
        version = new_version(folder, when)
        writer = ManifestWriter(folder)
        try:
            with loader.transaction() as tx:
                tx.fault_label = "deployment:committed"
                previous = {c.name: c for c in loader.load_strategies(status=LIVE)}
                waiting = {c.name: c for c in loader.load_strategies(status=[DeploymentStatus.VALIDATED])}
                outcome = _stage(plan, tx, previous, waiting, version, when, note)
                genomes = [name for name in plan.names if not is_rule(name)]
                if verify is not None:
                    ruled = math.fsum(c.allocation for c in plan.chosen if is_rule(c.name))
                    problems = verify_staged([tx.get(name) for name in genomes], verify, max_weight=max_weight, beside=ruled)
                    if problems:
                        raise DeploymentRefused(problems)
                pointer = read_pointer(folder)
                rules = _rules(plan, load_current_deployment(loader) or {}, evolution_date, universe_top)
                outcome["archived"] += rules["archived"]
                manifest = _manifest(plan, outcome, version, when, note, evolution_date, pointer) | rules["manifest"]
                manifest["traded_coins"] = traded_coins
                writer.write(version, manifest)
                fault_point("deployment:staged")
        except BaseException:
            if not loader.has_pending_commit():
                writer.undo()
            raise
    return DeploymentRecord(
        version=version,
        deployed_at=when,
        allocations=plan.allocations,
        validated=outcome["validated"],
        newly_deployed=outcome["newly_deployed"],
        reallocated=outcome["reallocated"],
        archived=outcome["archived"],
        not_chosen=outcome["not_chosen"],
        cash=plan.cash,
        manifest_path=folder / f"{version}.json",
        notes=list(plan.notes),
    )


def plan_is_live(loader: StrategyStore, plan: DeploymentPlan, evolution_date: date) -> bool:
    """Whether the live deployment already is this plan of this evolution date (same strategies, allocations, stages
    and probation records, same entries in the ledger) and no validated strategy waits for the plan to retire it:
    a rerun of the date then has nothing to write."""
    current = load_current_deployment(loader) or {}
    if not current or current.get("evolution_date") != evolution_date.isoformat():
        return False

    def rows(strategies) -> list[tuple]:
        return sorted((s["name"], round(float(s["allocation"]), 12), s.get("stage") or "capital", json.dumps(s.get("probation"), sort_keys=True))
                      for s in strategies)  # fmt: skip

    spends = (current.get("error_budget") or {}).get("spends") or []
    if rows(current.get("strategies", [])) != rows(c.to_dict() for c in plan.chosen):
        return False
    if spends != ([] if plan.budget is None else plan.budget.to_dict()["spends"]):
        return False
    chosen = set(plan.names)
    return not any(c.name not in chosen for c in loader.load_strategies(status=[DeploymentStatus.VALIDATED]))


def verify_staged(
    configs: list[StrategyConfig], frame: pd.DataFrame, *, max_weight: float = DEFAULT_MAX_WEIGHT, beside: float = 0.0
) -> list[str]:
    """Problems with a deployment about to be committed (empty = fine): each chosen config is within
    the caps and builds and signals on `frame`; their allocations, with `beside` (the documented rules'), sum to <= 1."""
    _check_frame(frame, max_weight)
    problems: list[str] = []
    for config in configs:
        problems += _allocation_problems(config, max_weight)
    total = math.fsum(c.allocation or 0.0 for c in configs) + beside
    if total > 1.0 + SUM_TOLERANCE:
        problems.append(f"allocations of the {len(configs)} chosen strategies sum to {total:.6f} > 1")
    for config in configs:
        problems += _signal_problems(config, frame)
    return problems


def _check_frame(frame: pd.DataFrame, max_weight: float) -> None:
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise ValueError("deployment verification needs a non-empty OHLCV frame to generate signals on")
    if not 0.0 < max_weight <= HARD_CAP:
        raise ValueError(f"max_weight must be in (0, {HARD_CAP}]; got {max_weight!r}")


def verify_deployment(loader: StrategyStore, frame: pd.DataFrame, *, max_weight: float = DEFAULT_MAX_WEIGHT) -> list[str]:
    """Problems with what is deployed (empty = fine), the check after the commit.

    It judges the deployment's own files only: each live (deployed/decaying) strategy is active with
    an allocation <= `max_weight` and never above the 40% hard cap; live allocations sum to <= 1; the
    manifest pointer agrees with the configs (so a deployed strategy whose file no longer loads shows
    up as missing); each live strategy builds from its config and gives signals in {-1, 0, 1} on
    `frame`, one per bar. Other files in the folder that do not load are not the deployment's
    problem: `stray_files(loader)` lists them for a warning.
    """
    _check_frame(frame, max_weight)
    problems: list[str] = []
    configs = loader.load_strategies()
    live = [c for c in configs if c.deployment_status in LIVE]
    for c in configs:
        if c.is_active and c.deployment_status not in LIVE:
            problems.append(f"{c.name}: active but {c.deployment_status.value}")
    for c in live:
        problems += _allocation_problems(c, max_weight)
    ruled = _rule_allocation(loader)
    total = math.fsum(c.allocation or 0.0 for c in live) + ruled
    if total > 1.0 + SUM_TOLERANCE:
        problems.append(f"allocations of the {len(live)} live strategies and the documented rules sum to {total:.6f} > 1")
    problems += _manifest_problems(loader, {c.name: c.allocation for c in live})
    for c in live:
        problems += _signal_problems(c, frame)
    return problems


def stray_files(loader: StrategyStore) -> list[str]:
    """Files in the store folder that are not readable configs (left alone; worth a warning)."""
    loader.load_strategies()
    return [f"{p.path.name} ({p.kind}): {p.reason}" for p in loader.problems]


# --- staging ------------------------------------------------------------------------------------
def _stage(
    plan: DeploymentPlan,
    tx: StoreTransaction,
    previous: dict[str, StrategyConfig],
    waiting: dict[str, StrategyConfig],
    version: str,
    when: datetime,
    note: str,
) -> dict[str, list[str]]:
    outcome: dict[str, list[str]] = {"validated": [], "newly_deployed": [], "reallocated": [], "archived": [], "not_chosen": []}
    label = f"deployment {version}" + (f" ({note})" if note else "")
    for choice in plan.chosen:
        if is_rule(choice.name):  # a rule's config is its manifest entry (`_rules`)
            continue
        config = tx.get(choice.name)
        status = config.deployment_status
        deploy_note = f"{label}: allocation {choice.allocation:.6f}"
        if choice.validation:
            config = config.with_performance(metrics=dict(choice.validation), at=when)
        if status is DeploymentStatus.EVOLVED:
            config = config.transition(DeploymentStatus.VALIDATED, _validated_note(choice), at=when)
            outcome["validated"].append(choice.name)
            status = DeploymentStatus.VALIDATED
        if status is DeploymentStatus.DEPLOYED:
            config = config.reallocate(choice.allocation, f"{label}: reallocated to {choice.allocation:.6f}", at=when)
            outcome["reallocated"].append(choice.name)
        else:  # validated or decaying: a legal move to deployed; anything else raises IllegalTransitionError
            config = config.transition(DeploymentStatus.DEPLOYED, deploy_note, allocation=choice.allocation, at=when)
            if choice.name not in outcome["validated"]:
                outcome["newly_deployed"].append(choice.name)
        tx.save(config)
    chosen = set(plan.names)
    why = {r.name: r.reason for r in plan.rejected}  # e.g. a failed probation look, with its test
    for name in sorted(previous):
        if name not in chosen:
            tx.archive(name, f"superseded: not chosen by {label}" + (f" ({why[name]})" if name in why else ""))
            outcome["archived"].append(name)
    for name in sorted(waiting):  # validated earlier, not chosen now: nothing would ever deploy them later
        if name not in chosen:
            tx.archive(name, f"validated but not chosen by {label}")
            outcome["not_chosen"].append(name)
    return outcome


def _validated_note(choice: ChosenStrategy) -> str:
    mode = choice.validation.get("validation_mode")
    return f"validation passed: score {choice.score:.4f}" + (f" (mode {mode})" if mode else "")


def _check_plan(plan: DeploymentPlan) -> None:
    """Refuse a plan that breaks the sizing rules, whoever built it."""
    names = plan.names
    if len(set(names)) != len(names):
        raise ValueError(f"plan chooses a strategy twice: {names}")
    for c in plan.chosen:
        if not (math.isfinite(c.allocation) and 0.0 <= c.allocation <= min(plan.config.max_weight, HARD_CAP) + 1e-12):
            raise ValueError(f"plan gives {c.name} {c.allocation!r}, outside [0, {min(plan.config.max_weight, HARD_CAP)}]")
    if math.fsum(c.allocation for c in plan.chosen) > 1.0 + SUM_TOLERANCE:
        raise ValueError("plan allocations sum above 1")


# --- manifest -----------------------------------------------------------------------------------
def _manifest(
    plan: DeploymentPlan,
    outcome: dict[str, list[str]],
    version: str,
    when: datetime,
    note: str,
    evolution_date: date | None,
    pointer: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "version": version,
        "deployed_at": when.isoformat(),
        "evolution_date": evolution_date.isoformat() if evolution_date else None,
        "note": note,
        "previous": pointer["version"] if pointer else None,
        "strategies": [c.to_dict() for c in plan.chosen],
        "cash": plan.cash,
        "total_allocation": math.fsum(c.allocation for c in plan.chosen),
        "validated": outcome["validated"],
        "reallocated": outcome["reallocated"],
        "archived": outcome["archived"],
        "rejected": [r.to_dict() for r in plan.rejected],
        "notes": list(plan.notes),
        "error_budget": None if plan.budget is None else plan.budget.to_dict(),
    }


def _rules(plan: DeploymentPlan, previous: dict[str, Any], evolution_date: date | None, universe_top: int | None) -> dict:
    """The manifest's documented rules after `plan` (see the module docstring) and the rules it retires."""
    before = previous.get("rules") or {}
    first = (pd.Timestamp(evolution_date) + pd.Timedelta(days=1)).date().isoformat() if evolution_date else None
    rules = {}
    for choice in plan.chosen:
        if is_rule(choice.name):
            kept = before.get(choice.name)
            rules[choice.name] = {
                "rule": rule_of(choice.name).to_dict(),
                "universe_top": kept["universe_top"] if kept else universe_top,
                "since": kept["since"] if kept else first,
            }
    gone = sorted(set(before) - set(rules))
    day = evolution_date.isoformat() if evolution_date else None
    retired = dict(previous.get("retired_rules") or {}) | {name: day for name in gone}
    return {"manifest": {"rules": rules, "retired_rules": retired}, "archived": gone}


# --- verification ---------------------------------------------------------------------------------
def _allocation_problems(config: StrategyConfig, max_weight: float) -> list[str]:
    name, status, allocation = config.name, config.deployment_status.value, config.allocation
    out = []
    if not config.is_active:
        out.append(f"{name}: {status} but not active")
    if allocation is None:
        out.append(f"{name}: {status} without an allocation")
    elif allocation > HARD_CAP:
        out.append(f"{name}: allocation {allocation:.4f} above the hard cap {HARD_CAP}")
    elif allocation > max_weight + 1e-12:
        out.append(f"{name}: allocation {allocation:.4f} above max_weight {max_weight}")
    return out


def _rule_allocation(loader: StrategyStore) -> float:
    """Capital the current manifest gives documented rules (0 when unreadable: `_manifest_problems` reports that)."""
    try:
        manifest = load_current_deployment(loader) or {}
    except ValueError:
        return 0.0
    return math.fsum(float(s["allocation"]) for s in manifest.get("strategies", []) if is_rule(s["name"]))


def _manifest_problems(loader: StrategyStore, live: dict[str, float | None]) -> list[str]:
    try:
        manifest = load_current_deployment(loader)
    except ValueError as exc:
        return [f"deployment manifest: {exc}"]
    if manifest is None:
        return []
    listed = {s["name"]: s["allocation"] for s in manifest.get("strategies", []) if not is_rule(s["name"])}
    out = []
    if set(listed) != set(live):
        out.append(f"deployment manifest {manifest.get('version')} lists {sorted(listed)} but the store deploys {sorted(live)}")
    for name in sorted(set(listed) & set(live)):
        if live[name] is None or abs(float(listed[name]) - float(live[name])) > 1e-12:
            version = manifest.get("version")
            out.append(f"{name}: allocation {live[name]} in the store, {listed[name]} in manifest {version}")
    return out


def _signal_problems(config: StrategyConfig, frame: pd.DataFrame) -> list[str]:
    try:
        signals = get_registry().create_seed(config.seed_type, config.genes).generate_signals(frame)
    except Exception as exc:  # noqa: BLE001 - a broken config must fail the check, not crash it
        return [f"{config.name}: cannot generate signals ({type(exc).__name__}: {exc})"]
    if not isinstance(signals, pd.Series) or len(signals) != len(frame) or not signals.index.equals(frame.index):
        return [f"{config.name}: signals are not one value per bar of the frame"]
    values = signals.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any() or not np.isin(values, (-1.0, 0.0, 1.0)).all():
        odd = sorted(set(pd.unique(signals[~np.isin(values, (-1.0, 0.0, 1.0))]).tolist()), key=str)[:5]
        return [f"{config.name}: signals outside {{-1, 0, 1}}: {odd}"]
    return []
