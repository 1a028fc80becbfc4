"""What the terminal dashboard shows, read from the data root: plain rows, so the view stays a thin layer.

Every reader is read-only and forgiving: a file that is absent or half-written gives an empty section with a
line saying so, never an exception, because the dashboard runs beside the automation and the live process,
which write these files while it reads them.

Sources (all under the data root):
- `live/state.json`, `live/health.json`, `live/alerts.jsonl`: the live process (runtime/live_session.py,
  market/live_feed.py);
- `strategies/deployments/`: the deployment in force, with each probationer's forward record
  (deployment/probation.py);
- `validation/date=*/verdicts.json` and `documented_tier.json`: the last night's verdicts of the searched and
  the documented tiers, with what each test could detect;
- `evolution/date=*/generation_stats.parquet`: the last evolution's fitness by generation.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from quant_organism.catalog.manifest import load_current_deployment
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.core import artifacts
from quant_organism.deployment.probation import ProbationEntry

LIVE_DIR = Path("live")
KILL_FILE = LIVE_DIR / "KILL"  # the kill switch: the live process flattens and stops when this file appears


@dataclass
class Section:
    """A titled table: its rows, and a line saying what is missing when there is nothing to show."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pct(x: Any, digits: int = 2) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}%}"


def _num(x: Any, spec: str = ".2f") -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def live_summary(root: Path) -> dict[str, str]:
    """The live book's headline figures: equity, the day's P&L, drawdown, VaR against its limit, breakers."""
    state = _json(root / LIVE_DIR / "state.json")
    if not state:
        return {"status": "no live process has written a state yet (python -m quant_organism live)"}
    var = state.get("var") or {}
    breakers = state.get("breakers") or {}
    tripped = breakers.get("tripped") or ", ".join(breakers.get("intrabar") or []) or "none"
    books = _last_line(root / LIVE_DIR / "books.jsonl")
    exchange = (
        "not mirrored"
        if books is None
        else f"P&L {_num(books.get('exchange_pnl_before_fees'), '+,.2f')} before fees vs paper {_num(books.get('paper_pnl'), '+,.2f')}, "
        f"mean fill {_num((books.get('fills') or {}).get('mean_slippage_bps'), '+.1f')} bps from the paper price"
    )
    return {
        "status": f"last bar {state.get('last_bar') or '—'}, updated {str(state.get('updated_at'))[:19]}",
        "equity": _num(state.get("equity"), ",.2f"),
        "day P&L": _num(state.get("day_pnl"), "+,.2f"),
        "drawdown": _pct(state.get("drawdown")),
        "VaR 99% 1d": f"{_pct(var.get('var'))} (ES {_pct(var.get('es'))}; limit {_pct(state.get('var_limit'))}; "
        f"scale x{_num(state.get('scale'), '.3f')})",
        "breakers": tripped,
        "exchange": exchange,
    }


def _last_line(path: Path) -> dict | None:
    try:
        lines = path.read_text().splitlines()
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def live_positions(root: Path) -> Section:
    section = Section("Live book", ["strategy", "coin", "side", "units", "entry", "last", "stop", "P&L %", "intrabar exit"])
    state = _json(root / LIVE_DIR / "state.json")
    if not state:
        section.note = "no live state"
        return section
    prices = state.get("prices") or {}
    for book in state.get("books", []):
        if not book.get("direction"):
            continue
        last, entry = prices.get(book["coin"]), book.get("entry_price")
        move = None if not (last and entry) else (last / entry - 1.0) * book["direction"]
        section.rows.append([
            book["strategy"][:40], book["coin"], "long" if book["direction"] > 0 else "short", _num(book.get("units"), ".4g"),
            _num(entry, ".6g"), _num(last, ".6g"), _num(book.get("stop"), ".6g"), _pct(move), "yes" if book.get("exited_intrabar") else "",
        ])  # fmt: skip
    if not section.rows:
        section.note = "every book is flat"
    return section


def health(root: Path) -> Section:
    section = Section("Feed health and alerts", ["at", "kind", "message"])
    record = _json(root / LIVE_DIR / "health.json")
    if record:
        refused = ", ".join(f"{k} {v}" for k, v in (record.get("refused") or {}).items() if v) or "nothing refused"
        section.note = (
            f"feed {record.get('state')}: last message {str(record.get('last_message_at'))[:19]}, "
            f"{record.get('reconnects', 0)} reconnects, bars {record.get('bars_from_stream', 0)} streamed / "
            f"{record.get('bars_from_rest', 0)} from REST, {refused}, clock jumps {record.get('clock_jumps', 0)}"
        )
    else:
        section.note = "no feed health record"
    try:
        lines = (root / LIVE_DIR / "alerts.jsonl").read_text().splitlines()[-12:]
    except OSError:
        lines = []
    for line in reversed(lines):
        try:
            alert = json.loads(line)
        except ValueError:
            continue
        section.rows.append([str(alert.get("time"))[:19], str(alert.get("kind")), str(alert.get("message"))[:100]])
    return section


def probation(root: Path) -> Section:
    """Each probationer's forward evidence against its bound: ln(1/anytime p) over ln(1/level), 1 promotes."""
    section = Section("Probation", ["strategy", "weeks", "evidence / bound", "anytime p", "level", "capital", "stage"])
    try:
        manifest = load_current_deployment(StrategyStore(root / STORE_DIR))
    except ValueError as exc:
        section.note = str(exc)
        return section
    if not manifest:
        section.note = "nothing deployed yet"
        return section
    for entry in manifest.get("strategies", []):
        if not entry.get("probation"):
            continue
        record = ProbationEntry.from_dict(entry["probation"])
        ratio = math.log(1.0 / max(record.forward_p, 1e-300)) / math.log(1.0 / record.alpha)
        section.rows.append([
            entry["name"][:48], str(record.blocks), f"{ratio:.2f}", _num(record.forward_p, ".4f"), _num(record.alpha, ".5f"),
            _pct(entry.get("allocation"), 1), entry.get("stage", ""),
        ])  # fmt: skip
    if not section.rows:
        section.note = "no strategy on probation"
    return section


def _latest(root: Path, phase: str, name: str) -> Path | None:
    found = sorted((root / phase).glob(f"date=*/{name}"))
    return found[-1] if found else None


def last_night(root: Path) -> Section:
    """Both tiers' verdicts of the latest night, with the Sharpe each test could see half the time."""
    section = Section(
        "Last night's gate", ["tier / family", "candidates", "passed", "p-value", "level", "detectable Sharpe (50%)"]
    )
    verdicts_path = _latest(root, "validation", "verdicts.json")
    verdicts = _json(verdicts_path) if verdicts_path else None
    if verdicts:
        reach = verdicts.get("reach") or {}
        rows = verdicts.get("verdicts") or []
        passed = sum(bool(v.get("passed")) for v in rows if isinstance(v, dict))
        section.rows.append(["searched", str(len(rows)), str(passed), "—", _num(reach.get("alpha"), ".4f"),
                             _num(reach.get("detectable_sharpe_50"))])  # fmt: skip
        section.note = f"{verdicts_path.parent.name}: " + str(reach.get("sentence") or "")
    tier = _json(_latest(root, "validation", "documented_tier.json") or root / "none")
    for family in (tier or {}).get("families", []):
        power = family.get("power") or {}
        section.rows.append([
            f"documented: {family['family']}", str(len(family.get("rules", []))), str(len(family.get("superior", []))),
            _num(family.get("pvalue"), ".4f"), _num(family.get("level"), ".4f"), _num(power.get("detectable_sharpe_50")),
        ])  # fmt: skip
    if not section.rows:
        section.note = "no night has been validated yet"
    return section


def fitness_by_generation(root: Path) -> tuple[str, list[float], list[float]]:
    """(the evolution date, the best and the median score of each generation over the islands) of the last run."""
    path = _latest(root, "evolution", "generation_stats.parquet")
    if path is None:
        return "no evolution yet", [], []
    try:
        stats = pd.read_parquet(path, columns=["generation", "best_score", "median_score"])
    except (OSError, ValueError, KeyError):
        return f"{path.parent.name}: unreadable", [], []
    by = stats.groupby("generation").agg(best=("best_score", "max"), median=("median_score", "median")).sort_index()
    return path.parent.name.removeprefix("date="), by["best"].tolist(), by["median"].tolist()


def request_kill(root: Path, who: str) -> Path:
    """Ask the live process to flatten and stop (it watches for this file); the dashboard's one write."""
    return artifacts.write_json(root / KILL_FILE, {"requested_by": who, "at": pd.Timestamp.now(tz="UTC").isoformat()})
