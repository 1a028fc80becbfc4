"""`StrategyConfig`: one evolved strategy as it is stored, validated, deployed and retired.

A config is the unit the JSON store keeps (one file per strategy): the genome that makes the strategy
reproducible (`genes`), the evidence it was chosen on (fitness, Sharpe, paper results, `metrics`),
where that evidence came from (`evolution_date`, `data_window`), and where it is in its life:

    evolved -> validated -> deployed <-> decaying -> retired      (any state -> retired; retired is final)

Every change of state goes through `transition()` (or `reallocate()`), which checks the move and appends
to `deployment_history`, so the file tells how the strategy got where it is. Configs are frozen:
methods return new configs. Nothing here holds secrets: unknown fields are refused, and the free-form
`metrics` refuse key-like names and private-key-like values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from quant_organism.strategies import SeedGenes, SeedType

SCHEMA_VERSION = 1
"""Version of the stored JSON layout; a file with a higher version is reported, never rewritten."""

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
"""Filesystem-safe on every common OS: no separators, no leading dot, at most 200 characters."""

_SECRET_KEY = re.compile(r"(private|secret|api|signing|wallet)[_\-]?key|secret|passw(or)?d|mnemonic|seed[_\-]?phrase|token", re.I)
_SECRET_VALUE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")  # the shape of an EVM private key


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A tz-aware datetime, normalised to UTC; naive datetimes are refused (their zone is a guess)."""


class DeploymentStatus(str, Enum):
    """Where a strategy is in its life (stable values: they are stored in configs)."""

    EVOLVED = "evolved"  # produced by evolution, not yet checked out of sample
    VALIDATED = "validated"  # passed the validation stages; a deployment candidate
    DEPLOYED = "deployed"  # traded by the runtime with an allocation
    DECAYING = "decaying"  # still traded, but its live edge is fading (usually at a reduced allocation)
    RETIRED = "retired"  # no longer traded; terminal, the config moves to the archive

    def __str__(self) -> str:
        return self.value


_S = DeploymentStatus
ALLOWED_TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    _S.EVOLVED: frozenset({_S.VALIDATED, _S.RETIRED}),
    _S.VALIDATED: frozenset({_S.DEPLOYED, _S.RETIRED}),
    _S.DEPLOYED: frozenset({_S.DECAYING, _S.RETIRED}),
    _S.DECAYING: frozenset({_S.DEPLOYED, _S.RETIRED}),  # DEPLOYED again: the edge recovered
    _S.RETIRED: frozenset(),
}
"""Legal moves. A history entry may also repeat DEPLOYED or DECAYING: that records a reallocation."""
REALLOCATABLE: frozenset[DeploymentStatus] = frozenset({_S.DEPLOYED, _S.DECAYING})


LIVE_STATUSES = frozenset({DeploymentStatus.DEPLOYED, DeploymentStatus.DECAYING})
"""Statuses the runtime trades (the one definition of "deployed or decaying")."""


def is_live(status: "DeploymentStatus | str") -> bool:
    """True for a status the runtime trades (deployed or decaying)."""
    return DeploymentStatus(getattr(status, "value", status)) in LIVE_STATUSES


class IllegalTransitionError(ValueError):
    """A lifecycle move the state machine does not allow (e.g. anything out of `retired`)."""


def check_transition(current: DeploymentStatus, target: DeploymentStatus, name: str = "strategy") -> None:
    """Raise IllegalTransitionError unless `current -> target` is an allowed move."""
    if target in ALLOWED_TRANSITIONS[current]:
        return
    allowed = sorted(s.value for s in ALLOWED_TRANSITIONS[current])
    if current is _S.RETIRED:
        why = "retired is terminal; evolve or save a new config instead"
    else:
        why = f"from {current.value} the allowed moves are {allowed}"
    raise IllegalTransitionError(f"{name}: cannot move {current.value} -> {target.value}: {why}")


Allocation = Annotated[float, Field(ge=0.0, le=1.0)]
"""Fraction of the deployed capital given to one strategy."""


class DeploymentEvent(BaseModel):
    """One entry of `deployment_history`: the state entered, when, why, and the allocation then."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    timestamp: UtcDatetime
    status: DeploymentStatus
    note: str = ""
    allocation: Allocation | None = None


class DataWindow(BaseModel):
    """The bars evolution saw: [start, end) bar open times, on which coins, at which bar interval.

    It lets validation prove its out-of-sample bars start at or after `end` (no lookahead) and lets
    a reader see which market a strategy was bred on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: UtcDatetime
    end: UtcDatetime
    coins: tuple[str, ...] = ()
    interval: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DataWindow:
        if not self.start < self.end:
            raise ValueError(f"data_window: start {self.start.isoformat()} must be before end {self.end.isoformat()}")
        return self


MetricValue = float | int | str | bool | None
_KEEP: Any = object()  # "argument not given" (None is a meaningful allocation)


class StrategyConfig(BaseModel):
    """A stored strategy: genome, evidence, provenance and lifecycle. Frozen; see the module docstring.

    Fields a quant reads first:
    - `fitness_score`, `backtest_sharpe`: in-sample figures evolution ranked it by (annualised Sharpe).
    - `paper_trading_days`, `paper_sharpe`, `max_drawdown`: forward evidence, updated while it trades;
      `max_drawdown` is a positive fraction of the running equity peak (0.25 = -25%), as the backtest
      reports it.
    - `allocation`: fraction of deployed capital in [0, 1] (None until deployment sets one).
    - `evolution_date` (the daily partition that bred it) and `data_window` (the bars it saw).
    - `metrics`: any other JSON scalars (e.g. sortino, turnover, walk-forward scores).
    - `is_active`: the runtime should trade it now; set by deployment, cleared on retirement.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, validate_default=True)

    schema_version: int = SCHEMA_VERSION
    name: str
    seed_type: SeedType
    genes: SeedGenes
    generation: int = Field(ge=0)
    fitness_score: float
    backtest_sharpe: float
    paper_trading_days: int = Field(default=0, ge=0)
    paper_sharpe: float | None = None
    max_drawdown: float | None = Field(default=None, ge=0.0)
    allocation: Allocation | None = None
    evolution_date: date | None = None
    data_window: DataWindow | None = None
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    created_at: UtcDatetime
    last_updated: UtcDatetime
    is_active: bool = False
    deployment_status: DeploymentStatus = DeploymentStatus.EVOLVED
    deployment_history: tuple[DeploymentEvent, ...] = ()

    # --- validation --------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """Defaults that depend on other fields: timestamps, generation (from the genes), first history entry."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        genes = data.get("genes")
        if "seed_type" not in data:
            if isinstance(genes, SeedGenes):
                data["seed_type"] = genes.seed_type
            elif isinstance(genes, Mapping) and "seed_type" in genes:
                data["seed_type"] = genes["seed_type"]
        if "generation" not in data:
            if isinstance(genes, SeedGenes):
                data["generation"] = genes.generation
            elif isinstance(genes, Mapping) and "generation" in genes:
                data["generation"] = genes["generation"]
        data.setdefault("created_at", utc_now())
        data.setdefault("last_updated", data["created_at"])
        if not data.get("deployment_history"):
            data["deployment_history"] = (
                {
                    "timestamp": data["created_at"],
                    "status": data.get("deployment_status", DeploymentStatus.EVOLVED),
                    "note": "created",
                    "allocation": data.get("allocation"),
                },
            )
        return data

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if not 1 <= value <= SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not readable by this code (reads 1..{SCHEMA_VERSION})")
        return value

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(
                f"name {value!r} is not filesystem-safe: use 1-200 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("metrics")
    @classmethod
    def _no_secrets(cls, value: dict[str, MetricValue]) -> dict[str, MetricValue]:
        for key, item in value.items():
            if _SECRET_KEY.search(key):
                raise ValueError(f"metrics key {key!r} looks like a credential; secrets are never stored in configs")
            if isinstance(item, str) and _SECRET_VALUE.fullmatch(item.strip()):
                raise ValueError(f"metrics[{key!r}] looks like a private key; secrets are never stored in configs")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"metrics[{key!r}] must be finite (JSON has no NaN/inf), got {item}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StrategyConfig:
        who = f"strategy {self.name!r}"
        if self.genes.seed_type != self.seed_type:
            raise ValueError(f"{who}: seed_type {self.seed_type.value} but genes are {self.genes.seed_type.value}")
        if self.generation != self.genes.generation:
            raise ValueError(f"{who}: generation {self.generation} differs from genes.generation {self.genes.generation}")
        if self.last_updated < self.created_at:
            raise ValueError(f"{who}: last_updated {self.last_updated} is before created_at {self.created_at}")
        if self.deployment_status is DeploymentStatus.RETIRED and (self.is_active or self.allocation is not None):
            raise ValueError(f"{who}: a retired strategy cannot be active or hold an allocation")
        history = self.deployment_history
        if history[-1].status is not self.deployment_status:
            raise ValueError(
                f"{who}: deployment_status {self.deployment_status.value} but the last history entry is "
                f"{history[-1].status.value}"
            )
        for before, after in zip(history, history[1:]):
            if after.timestamp < before.timestamp:
                raise ValueError(f"{who}: deployment_history is not in time order at {after.timestamp.isoformat()}")
            if not (after.status is before.status and after.status in REALLOCATABLE):
                check_transition(before.status, after.status, who)
        return self

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def from_genes(
        cls,
        genes: SeedGenes,
        *,
        fitness_score: float,
        backtest_sharpe: float,
        name: str | None = None,
        evolution_date: date | None = None,
        data_window: DataWindow | None = None,
        metrics: Mapping[str, MetricValue] | None = None,
        max_drawdown: float | None = None,
        now: datetime | None = None,
    ) -> StrategyConfig:
        """An `evolved` config for a genome; the name defaults to `genes.strategy_name()`."""
        return cls(
            name=genes.strategy_name() if name is None else name,
            seed_type=genes.seed_type,
            genes=genes,
            fitness_score=fitness_score,
            backtest_sharpe=backtest_sharpe,
            max_drawdown=max_drawdown,
            evolution_date=evolution_date,
            data_window=data_window,
            metrics=dict(metrics or {}),
            created_at=now or utc_now(),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> StrategyConfig:
        return cls.model_validate_json(text)

    def to_json(self) -> str:
        """Indented JSON (one key per line, so diffs of stored configs read well), ending in a newline."""
        return self.model_dump_json(indent=2) + "\n"

    # --- lifecycle ---------------------------------------------------------------------------
    def transition(
        self,
        status: DeploymentStatus | str,
        note: str,
        *,
        allocation: float | None | object = _KEEP,
        is_active: bool | None = None,
        at: datetime | None = None,
    ) -> StrategyConfig:
        """A copy moved to `status`, with a history entry; raises IllegalTransitionError on a bad move.

        Deploying activates the strategy and retiring deactivates it (and clears its allocation)
        unless `is_active` says otherwise; `allocation` is kept unless given.
        """
        target = DeploymentStatus(status)
        check_transition(self.deployment_status, target, f"strategy {self.name!r}")
        new_allocation = self.allocation if allocation is _KEEP else allocation
        active = self.is_active if is_active is None else is_active
        if target is DeploymentStatus.DEPLOYED and is_active is None:
            active = True
        if target is DeploymentStatus.RETIRED:
            new_allocation, active = None, False
        return self._with_event(target, note, new_allocation, active, at)

    def reallocate(self, allocation: float | None, note: str, *, at: datetime | None = None) -> StrategyConfig:
        """A copy with a new allocation, recorded in the history; only while deployed or decaying."""
        if self.deployment_status not in REALLOCATABLE:
            raise IllegalTransitionError(
                f"strategy {self.name!r}: cannot reallocate while {self.deployment_status.value}; "
                f"only {sorted(s.value for s in REALLOCATABLE)} strategies hold allocations"
            )
        return self._with_event(self.deployment_status, note, allocation, self.is_active, at)

    def with_performance(
        self,
        *,
        paper_trading_days: int | None = None,
        paper_sharpe: float | None = None,
        max_drawdown: float | None = None,
        metrics: Mapping[str, MetricValue] | None = None,
        at: datetime | None = None,
    ) -> StrategyConfig:
        """A copy with forward-performance figures updated (None leaves a field as is), metrics merged."""
        update: dict[str, Any] = {"last_updated": self._stamp(at)}
        if paper_trading_days is not None:
            update["paper_trading_days"] = paper_trading_days
        if paper_sharpe is not None:
            update["paper_sharpe"] = paper_sharpe
        if max_drawdown is not None:
            update["max_drawdown"] = max_drawdown
        if metrics:
            update["metrics"] = {**self.metrics, **metrics}
        return self._revalidated(update)

    # --- helpers -----------------------------------------------------------------------------
    def _stamp(self, at: datetime | None) -> datetime:
        """`at` (default now), never earlier than the last recorded time, so history stays ordered."""
        stamp = _to_utc(at) if at is not None else utc_now()
        return max(stamp, self.last_updated, self.deployment_history[-1].timestamp)

    def _with_event(
        self, status: DeploymentStatus, note: str, allocation: Any, active: bool, at: datetime | None
    ) -> StrategyConfig:
        stamp = self._stamp(at)
        event = DeploymentEvent(timestamp=stamp, status=status, note=note, allocation=allocation)
        return self._revalidated(
            {
                "deployment_status": status,
                "deployment_history": (*self.deployment_history, event),
                "allocation": allocation,
                "is_active": active,
                "last_updated": stamp,
            }
        )

    def _revalidated(self, update: Mapping[str, Any]) -> StrategyConfig:
        """model_copy skips validation; rebuild through the validators so every copy is checked."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(update)
        return type(self).model_validate(data)
