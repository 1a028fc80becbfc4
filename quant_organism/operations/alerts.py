"""Alerts: run failures, decay, retirement (and breaker trips once they exist) appended to an alert log
and, when a webhook URL is configured, POSTed to it as JSON with retries.

A failing webhook never fails the run that raised the alert: the alert is in the log either way, and
the delivery outcome is recorded beside it.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from quant_organism.core.durable import append_json_line, read_json_lines

log = logging.getLogger(__name__)

ALERTS_FILE = "alerts/alerts.jsonl"
KINDS = ("run_failure", "decay", "retirement", "breaker_trip")


@dataclass(frozen=True)
class Alert:
    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    severity: str = "warning"
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; expected one of {KINDS}")


def post_json(url: str, payload: dict[str, Any], *, retries: int = 3, timeout_s: float = 5.0, backoff_s: float = 0.5) -> str:
    """POST `payload`; retries on connection errors, 429 and 5xx. Returns 'delivered' or why not (never raises)."""
    body = json.dumps(payload).encode()
    outcome = "not attempted"
    for attempt in range(1, retries + 1):
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return f"delivered (HTTP {response.status}, attempt {attempt})"
        except urllib.error.HTTPError as exc:
            outcome = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                return f"refused: {outcome}"
        except (urllib.error.URLError, OSError) as exc:
            outcome = f"unreachable: {getattr(exc, 'reason', exc)}"
        if attempt < retries:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return f"failed after {retries} attempts: {outcome}"


def raise_alert(alert: Alert, root: Path, webhook_url: str | None = None) -> dict[str, Any]:
    """Append `alert` to the alert log under `root` (with the webhook's delivery outcome); the record."""
    entry = asdict(alert)
    entry["webhook"] = post_json(webhook_url, entry) if webhook_url else "no webhook configured"
    if not entry["webhook"].startswith(("delivered", "no webhook")):
        log.warning("alert webhook: %s (the alert is kept in the log)", entry["webhook"])
    append_json_line(root / ALERTS_FILE, entry)
    return entry


def read_alerts(root: Path) -> list[dict[str, Any]]:
    return read_json_lines(root / ALERTS_FILE)
