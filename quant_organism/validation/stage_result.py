"""What every validation stage returns, so the overall verdict and the report treat stages alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class StageStatus(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # the stage could not run (e.g. no testnet key): never counted as passed


@dataclass
class StageResult:
    """One stage's verdict for one candidate: status, a score in [0, 1] (None when skipped), figures, reasons."""

    stage: str
    status: StageStatus
    score: float | None = None
    metrics: dict = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # why it failed or was skipped; empty when passed

    def __post_init__(self) -> None:
        if self.status is StageStatus.SKIPPED and self.score is not None:
            raise ValueError(f"stage {self.stage}: a skipped stage has no score")
        if self.status is not StageStatus.PASSED and not self.reasons:
            raise ValueError(f"stage {self.stage}: a {self.status.value} stage must say why")
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"stage {self.stage}: score {self.score} outside [0, 1]")

    @property
    def ran(self) -> bool:
        return self.status is not StageStatus.SKIPPED

    def to_dict(self) -> dict:
        out = asdict(self)
        out["status"] = self.status.value
        return out
