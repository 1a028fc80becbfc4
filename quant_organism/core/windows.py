"""`Window`: a half-open UTC time window [start, end) of bars, the one window type of the project.

Evolution names its train / out-of-sample / walk-forward windows; validation splits them into folds;
deployment and reporting read them back. Naive times are taken as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_organism.core.timeutil import utc_timestamp

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """Bars with open time in [start, end), UTC; `name` says which window it is (may be empty)."""

    start: pd.Timestamp
    end: pd.Timestamp
    name: str = field(default="", compare=False)  # a label: two windows over the same span are equal

    def __post_init__(self) -> None:
        label = f"window {self.name!r}" if self.name else "window"
        object.__setattr__(self, "start", utc_timestamp(self.start, f"{label} start"))
        object.__setattr__(self, "end", utc_timestamp(self.end, f"{label} end"))
        if not self.start < self.end:
            raise ValueError(f"{label}: start {self.start} must be before its end {self.end}")

    @classmethod
    def of(cls, window: "Window | tuple") -> "Window":
        """A Window from a Window, any object with `start`/`end`, or a (start, end) pair."""
        if isinstance(window, Window):
            return window
        try:
            start, end = (window.start, window.end) if hasattr(window, "start") and hasattr(window, "end") else window
        except (TypeError, ValueError):
            raise ValueError(f"a window is a (start, end) pair of UTC timestamps; got {window!r}") from None
        return cls(start, end, getattr(window, "name", ""))

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY

    def overlaps(self, other: "Window") -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, moment: pd.Timestamp) -> bool:
        return self.start <= moment < self.end

    def split(self, folds: int) -> list["Window"]:
        """`folds` contiguous sub-windows of equal duration covering this window."""
        if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 1:
            raise ValueError(f"folds must be a positive integer; got {folds!r}")
        edges = [self.start + (self.end - self.start) * k / folds for k in range(folds + 1)]
        edges[-1] = self.end
        return [Window(a, b, f"{self.name}[{k}]" if self.name else "") for k, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, **self.to_dict()} if self.name else self.to_dict()
