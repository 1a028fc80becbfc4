"""The organism's health: one score in [0, 1] from components a person on call would check, with history.

Components (each scored in [0, 1], with a sentence saying why):
- `freshness:{coin}`: days since the coin's last candle partition that passed quality (1 when the last
  closed day is in, falling to 0 at `stale_days`);
- `last_ingest`, `last_evolution`, `last_paper`: age of the last successful run of each kind (a day's
  grace, then falling to 0 at `stale_days`); absent runs score 0 for ingest and evolution, and paper
  trading is not expected before something is deployed;
- `store`: config files the store cannot read, commits set aside or left pending;
- `ledger`: the paper ledger opens and every live strategy with paper days has marks in it;
- `ray`: the configured Ray cluster answers on its address (only when one is configured);
- `breakers`: portfolio circuit-breaker trips in the paper ledger over the last day;
- `incidents`: runs that failed for the last INCIDENT_DAYS days' partitions (failures/failures.jsonl), each
  named with its error, whether a retry recovered it or not: a night that needed three tries is news.
The score is the mean of the components; `ok` from 0.8, `degraded` from 0.5, else `failing`. Each
check is appended to a JSON-lines history file so the UI can plot it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from quant_organism.core.durable import append_json_line, read_json_lines
from quant_organism.evolution.executors.ray_address import endpoint, unreachable

HEALTH_HISTORY = "health/history.jsonl"
DEFAULT_STALE_DAYS = 7


@dataclass(frozen=True)
class Component:
    name: str
    score: float
    detail: str


@dataclass(frozen=True)
class HealthReport:
    checked_at: str
    score: float
    status: str
    components: list[Component]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "components": [asdict(c) for c in self.components]}


def _age_score(age_days: float | None, stale_days: int, grace_days: float = 1.0) -> float:
    if age_days is None:
        return 0.0
    if age_days <= grace_days:
        return 1.0
    return max(0.0, 1.0 - (age_days - grace_days) / max(stale_days - grace_days, 1e-9))


def freshness(
    last_days: Mapping[str, date | None],
    today: date,
    stale_days: int = DEFAULT_STALE_DAYS,
    source_ends: Mapping[str, date | None] | None = None,
) -> list[Component]:
    """One component per coin: the last day with passing candles against yesterday (the last closed day), or
    against the last whole day of the source's own history where it stops (`source_ends`: files of the past,
    which no ingest can bring further; their lake is fresh when it holds what the files hold)."""
    out = []
    for coin, last in sorted(last_days.items()):
        yesterday = today - timedelta(days=1)
        end = (source_ends or {}).get(coin)
        reference = min(yesterday, end) if end is not None else yesterday
        against = "" if reference == yesterday else f" the source's last day {reference}"
        age = None if last is None else max((reference - last).days, 0)
        detail = "no passing candle partition" if last is None else f"last passing day {last} ({age} day(s) behind{against})"
        out.append(Component(f"freshness:{coin}", round(_age_score(age, stale_days, grace_days=0.0), 3), detail))
    return out


def last_success(kind: str, when: datetime | None, now: datetime, stale_days: int, required: bool = True) -> Component:
    if when is None:
        return Component(
            f"last_{kind}", 0.0 if required else 1.0, f"no successful {kind} run" + ("" if required else " (none expected yet)")
        )
    age = (now - when).total_seconds() / 86400
    return Component(
        f"last_{kind}", round(_age_score(age, stale_days), 3), f"last success {when:%Y-%m-%d %H:%M} UTC ({age:.1f} days ago)"
    )


def store_component(problems: list[str], set_aside: int, pending: bool) -> Component:
    issues = len(problems) + set_aside + int(pending)
    parts = [f"{len(problems)} unreadable file(s)"] if problems else []
    if set_aside:
        parts.append(f"{set_aside} commit(s) set aside as .rejected-txn-*")
    if pending:
        parts.append("a commit awaits being applied")
    return Component("store", 1.0 if not issues else 0.5 if not pending else 0.25, "; ".join(parts) or "all configs readable")


def ledger_component(error: str | None, missing: list[str]) -> Component:
    if error is not None:
        return Component("ledger", 0.0, f"cannot open the ledger: {error}")
    if missing:
        return Component("ledger", 0.5, f"live strategies with paper days but no marks: {', '.join(missing)}")
    return Component("ledger", 1.0, "opens; every live strategy with paper days has marks")


def ray_component(address: str | None, timeout_s: float = 2.0) -> Component | None:
    """Whether the configured Ray address accepts a TCP connection (None when no cluster is configured)."""
    target = endpoint(address)
    if target is None:
        return None
    reason = unreachable(address, timeout_s)
    where = f"{target[0]}:{target[1]}"
    return Component("ray", 0.0, f"{where} does not answer: {reason}") if reason else Component("ray", 1.0, f"{where} answers")


def breakers_component(trips: int | None) -> Component:
    if trips is None:
        return Component("breakers", 1.0, "no paper ledger yet: nothing has traded")
    return Component("breakers", 1.0 if trips == 0 else 0.5, f"{trips} breaker trip(s) in the last day")


INCIDENT_DAYS = 2


def _partition_day(partition: str | None) -> str | None:
    """The YYYY-MM-DD day of a partition key ("2024-03-04", "BTC|2024-03-04", "2024-03-04-13:00")."""
    for part in str(partition or "").split("|"):
        if len(part) >= 10 and part[4] == "-" and part[7] == "-":
            return part[:10]
    return None


def incidents_component(failures: list[Mapping[str, Any]], today: date, days: int = INCIDENT_DAYS) -> Component:
    """Failed runs of the last `days` closed days' partitions; each failure costs 0.2 of the score."""
    since = (today - timedelta(days=days)).isoformat()
    recent = [f for f in failures if (_partition_day(f.get("partition")) or "") >= since]
    if not recent:
        return Component("incidents", 1.0, f"no failed run for the last {days} days' partitions")
    named = sorted({f"{f.get('job')} {f.get('partition')}: {str(f.get('error', ''))[:120]}" for f in recent})
    return Component(
        "incidents",
        round(max(0.0, 1.0 - 0.2 * len(recent)), 3),
        f"{len(recent)} failed run(s) for the last {days} days' partitions: " + " | ".join(named[:5]),
    )


def combine(components: list[Component], now: datetime) -> HealthReport:
    score = round(sum(c.score for c in components) / len(components), 3) if components else 0.0
    status = "ok" if score >= 0.8 else "degraded" if score >= 0.5 else "failing"
    return HealthReport(now.astimezone(timezone.utc).isoformat(), score, status, components)


def record(report: HealthReport, root: Path, keep: int = 1000) -> Path:
    """Append the report to the history (keeping the last `keep` checks), atomically."""
    return append_json_line(root / HEALTH_HISTORY, report.to_dict(), keep=keep)


def history(root: Path) -> list[dict[str, Any]]:
    return read_json_lines(root / HEALTH_HISTORY)
