"""Death reports: why a deployed strategy was retired, what it earned forward against what validation had seen, and
the market regimes it met. Written where a strategy is retired (the nightly deployment, the runtime's decay
retirement), read by people and by the next search (evolution/death_feedback.py).

**What the search may learn from: the forward section only.** A strategy's forward record is data after the
evolution date that chose it, which no later gate judges again as held-out evidence for that choice. Its held-out
figures are what the gate judged; later nights' gates judge overlapping held-out windows again, so a search that
learned from them would choose with the data its gate then tests. They are recorded for people and never read by
the search (`test_death_reports.py` proves it).

Reports live beside the store's post-mortems (`strategies/post_mortems/{name}__{day}.json`, one file per death,
written atomically); the runtime's older post-mortems are read as reports (their paper record is their forward
section). A file that cannot be read is reported and left in place.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from quant_organism.core.durable import replace_text

FOLDER = "post_mortems"


@dataclass(frozen=True)
class ForwardFigures:
    """A strategy's record after the date that chose it: its days, mean daily return and annual Sharpe."""

    days: int
    mean_daily: float | None = None
    sharpe: float | None = None

    @property
    def failed(self) -> bool:
        """It lost forward: a non-positive mean (or Sharpe, when only that is known)."""
        value = self.mean_daily if self.mean_daily is not None else self.sharpe
        return value is not None and math.isfinite(value) and value <= 0.0


@dataclass(frozen=True)
class DeathReport:
    strategy: str
    family: str  # its seed type, or `documented_<family>` for a documented rule
    retired_on: str  # ISO day
    why: str
    forward: ForwardFigures
    genome: str | None = None  # its genes hash
    held_out: dict[str, Any] = field(default_factory=dict)  # what the gate judged: for people, never for the search
    regimes: dict[str, int] = field(default_factory=dict)  # forward days per market regime

    @property
    def day(self) -> date:
        return date.fromisoformat(self.retired_on[:10])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeathReport:
        """A report as stored, or a runtime post-mortem (`seed_type`, `paper`) read as one."""
        forward = data.get("forward")
        if forward is None:  # a post-mortem of the runtime's decay retirement: its paper record is its forward record
            paper = data.get("paper") or {}
            forward = {"days": int(paper.get("days") or 0), "sharpe": paper.get("sharpe")}
        return cls(
            strategy=str(data["strategy"]),
            family=str(data.get("family") or data.get("seed_type") or "unknown"),
            retired_on=str(data["retired_on"]),
            why=str(data.get("why") or ""),
            forward=ForwardFigures(
                int(forward.get("days") or 0), _number(forward.get("mean_daily")), _number(forward.get("sharpe"))
            ),
            genome=data.get("genome"),
            held_out=dict(data.get("held_out") or data.get("validation") or {}),
            regimes={str(k): int(v) for k, v in (data.get("regimes") or {}).items()},
        )


def write_report(store_dir: Path, report: DeathReport) -> Path:
    """Write `report` atomically; a rerun of the same death on the same day replaces it."""
    folder = Path(store_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.strategy}__{report.retired_on[:10]}.json"
    replace_text(path, json.dumps(report.to_dict(), indent=2, default=str, allow_nan=False))
    return path


def read_reports(store_dir: Path, before: date | None = None) -> tuple[list[DeathReport], list[str]]:
    """(the reports of deaths before `before`, oldest first; the files that could not be read, with why)."""
    folder = Path(store_dir) / FOLDER
    if not folder.is_dir():
        return [], []
    reports, unreadable = [], []
    for path in sorted(folder.glob("*.json")):
        if path.is_symlink():
            unreadable.append(f"{path.name}: a link, not read")
            continue
        try:
            report = DeathReport.from_dict(json.loads(path.read_text()))
            report.day  # noqa: B018 - a report with no readable day is unreadable
        except (OSError, ValueError, KeyError, TypeError) as exc:
            unreadable.append(f"{path.name}: {exc}")
            continue
        if before is None or report.day < before:
            reports.append(report)
    reports.sort(key=lambda r: (r.retired_on, r.strategy))
    return reports, unreadable


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
