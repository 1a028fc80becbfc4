"""The decay sensor's cursor: what it remembers between ticks (JSON in Dagster's cursor)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quant_organism.core.timeutil import utc
from quant_organism.operations.days import check_day


class CursorError(ValueError):
    """A sensor cursor that cannot be read; resetting the sensor's cursor in the UI clears it."""


def _cursor_object(text: str | None, sensor: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CursorError(f"{sensor} cursor is not JSON ({exc}): {text[:80]!r}; reset the sensor's cursor") from None
    if not isinstance(value, dict):
        raise CursorError(f"{sensor} cursor must be a JSON object, got {text[:80]!r}; reset the sensor's cursor")
    return value


@dataclass(frozen=True)
class DecayCursor:
    """When the decay sensor last asked for a re-evolution, and for which day."""

    last_requested_at: datetime | None = None
    last_day: str | None = None

    @classmethod
    def from_json(cls, text: str | None) -> DecayCursor:
        value = _cursor_object(text, "decay sensor")
        at, day = value.get("last_requested_at"), value.get("last_day")
        try:
            moment = utc(datetime.fromisoformat(at)) if at is not None else None
            return cls(moment, check_day(day) if day is not None else None)
        except (TypeError, ValueError) as exc:
            raise CursorError(f"decay sensor cursor: {exc} in {text[:120]!r}; reset the sensor's cursor") from None

    def to_json(self) -> str:
        at = self.last_requested_at.isoformat() if self.last_requested_at else None
        return json.dumps({"last_requested_at": at, "last_day": self.last_day})
