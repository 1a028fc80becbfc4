"""Where the retrospective keeps each date: `{root}/retrospective/{track}/date=YYYY-MM-DD/`.

A track is one way of walking history (source, interval, preset, cadence): its dates never mix with
another track's. Each date folder holds its row (`row.parquet`, one row: the `retrospective` DuckDB view
reads them all), its forward per-bar curves (`curves.parquet`) and the strategies it left trading
(`live.json`, the next date's incumbents). Every file is written atomically and the row last, so a date
whose row exists is complete: a killed walk resumes at the first date without one, and a rerun of a date
replaces its files with the same content.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from quant_organism.catalog.death_reports import DeathReport
from quant_organism.core import artifacts
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.selection import Retired
from quant_organism.reporting.retrospective import CURVES, DateOutcome, LiveStrategy, RetrospectiveSettings, judge_date

DIR = "retrospective"
ROW, CURVES_FILE, LIVE, PROBATION = "row.parquet", "curves.parquet", "live.json", "probation.json"


def track_name(source: str, interval: str, preset: str, every_days: int | None) -> str:
    cadence = "monthly" if every_days is None else f"every{int(every_days)}d"
    return f"{source}_{interval}_{preset}_{cadence}"


def date_dir(root: Path, track: str, date: str | pd.Timestamp) -> Path:
    return artifacts.phase_dir(f"{DIR}/{track}", pd.Timestamp(date).strftime("%Y-%m-%d"), Path(root))


def save(root: Path, track: str, outcome: DateOutcome) -> Path:
    """Write one date's curves, live set and (last) its row."""
    folder = date_dir(root, track, outcome.date)
    curves = outcome.curves()
    artifacts.write_frame(folder / CURVES_FILE, curves.reset_index(names="timestamp"))
    artifacts.write_json(folder / LIVE, {name: s.to_dict() for name, s in outcome.live.items()})
    artifacts.write_json(folder / PROBATION, {
        "budget": None if outcome.budget is None else outcome.budget.to_dict(),
        "retired": {g: {"name": r.name, "day": r.day.isoformat()} for g, r in outcome.retired_genomes.items()},
        "deaths": [d.to_dict() for d in outcome.deaths],
    })  # fmt: skip
    row = {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in outcome.row().items()}
    artifacts.write_frame(folder / ROW, pd.DataFrame([{"track": track, **row}]))
    return folder


def is_done(root: Path, track: str, date: str | pd.Timestamp) -> bool:
    return (date_dir(root, track, date) / ROW).exists()


def stored_lookback(root: Path, track: str, date: str | pd.Timestamp, full_days: int) -> int:
    """The lookback a stored date was evolved on; `full_days` (the preset's) for rows stored before rows said it,
    when every date had the whole lookback."""
    row = artifacts.read_frame(date_dir(root, track, date) / ROW).iloc[0]
    days = row.get("lookback_days")
    return full_days if days is None or pd.isna(days) else int(days)


def load_live(root: Path, track: str, date: str | pd.Timestamp) -> dict[str, LiveStrategy]:
    """The strategies a stored date left trading."""
    payload = artifacts.read_json(date_dir(root, track, date) / LIVE)
    return {name: LiveStrategy.from_dict(data) for name, data in payload.items()}


def load_probation(
    root: Path, track: str, date: str | pd.Timestamp
) -> tuple[ErrorBudget | None, dict[str, Retired], tuple[DeathReport, ...]]:
    """The error ledger, retired genomes and death reports a stored date left (none for dates stored before they
    were kept)."""
    path = date_dir(root, track, date) / PROBATION
    if not path.exists():
        return None, {}, ()
    payload = artifacts.read_json(path)
    retired = {g: Retired(r["name"], dt.date.fromisoformat(r["day"])) for g, r in (payload.get("retired") or {}).items()}
    deaths = tuple(DeathReport.from_dict(d) for d in payload.get("deaths") or ())
    return (ErrorBudget.from_dict(payload["budget"]) if payload.get("budget") else None), retired, deaths


def load_track(root: Path, track: str, up_to: str | pd.Timestamp | None = None) -> tuple[list[dict], pd.DataFrame]:
    """(rows, forward curves) of the stored dates of a track in date order, up to `up_to` inclusive."""
    base = Path(root) / DIR / track
    rows, curves = [], []
    for folder in sorted(base.glob("date=*")):
        if up_to is not None and folder.name[5:] > pd.Timestamp(up_to).strftime("%Y-%m-%d"):
            continue
        if not (folder / ROW).exists():
            continue
        row = artifacts.read_frame(folder / ROW).iloc[0].to_dict()
        rows.append({k: (json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v) for k, v in row.items()})
        curves.append(artifacts.read_frame(folder / CURVES_FILE).set_index("timestamp"))
    frame = pd.concat(curves).sort_index() if curves else pd.DataFrame(columns=list(CURVES))
    return rows, frame


def view_glob(root: Path) -> str:
    """The glob the `retrospective` DuckDB view reads: every track, every date."""
    return str(Path(root) / DIR / "*" / "date=*" / ROW)


class MissingPreviousDate(RuntimeError):
    """A date's incumbents are the previous date's deployment, which is not stored yet."""


def judge_and_save(
    root: Path,
    track: str,
    frames,
    date: pd.Timestamp,
    until: pd.Timestamp,
    previous: pd.Timestamp | None,
    spec: RetrospectiveSettings,
    traded: Sequence[str] | None = None,
) -> DateOutcome:
    """One date of a track: the previous date's live set as incumbents (it must be stored), judged, saved."""
    holding, budget, retired, deaths = {}, None, {}, ()
    if previous is not None:
        if not is_done(root, track, previous):
            raise MissingPreviousDate(
                f"the retrospective of {pd.Timestamp(date).date()} starts from what {pd.Timestamp(previous).date()} "
                "deployed, which is not stored yet: run the dates in order (a backfill does)"
            )
        holding = load_live(root, track, previous)
        budget, retired, deaths = load_probation(root, track, previous)
    outcome = judge_date(frames, date, until, spec, holding, traded, budget, retired, deaths)
    save(root, track, outcome)
    return outcome
