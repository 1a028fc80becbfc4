"""Which UTC days exist and are complete, and the deterministic run keys asked for them.

Run keys are deterministic (`ingest:{day}:{coin}`, `evolve:{day}:{trigger}`), so a tick evaluated
twice asks for nothing new; a day is complete when every coin's candles for it are materialised and
their stored quality report passed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from quant_organism.core.timeutil import DAY_FORMAT, utc

NEW_DATA, NIGHTLY, DECAY = "new-data", "nightly", "decay"


def previous_day(moment: datetime) -> str:
    """The UTC day before `moment`'s UTC day: the last day whose bars have all closed at `moment`."""
    return (utc(moment).date() - timedelta(days=1)).strftime(DAY_FORMAT)


def check_day(day: str) -> str:
    """`day` if it is a YYYY-MM-DD date, else a ValueError naming it."""
    try:
        parsed = date.fromisoformat(day)
    except (TypeError, ValueError):
        raise ValueError(f"day {day!r} is not a YYYY-MM-DD date") from None
    if parsed.strftime(DAY_FORMAT) != day:
        raise ValueError(f"day {day!r} is not a YYYY-MM-DD date")
    return day


def ingest_run_key(day: str, coin: str) -> str:
    return f"ingest:{check_day(day)}:{coin}"


def evolve_run_key(day: str, trigger: str) -> str:
    return f"evolve:{check_day(day)}:{trigger}"


# --- which days are complete -------------------------------------------------------------------------
QualityLookup = Callable[[str, str], "Mapping[str, Any] | None"]  # (coin, day) -> stored quality report


def day_problems(day: str, coins: Sequence[str], materialised: Collection[tuple[str, str]], quality: QualityLookup) -> list[str]:
    """Why `day` is not complete (empty when it is): per coin, not materialised, no report, or failed quality."""
    problems = []
    for coin in coins:
        if (coin, day) not in materialised:
            problems.append(f"{coin} not materialised")
            continue
        report = quality(coin, day)
        if report is None:
            problems.append(f"{coin} has no stored quality report")
        elif not report.get("passed", False):
            score, threshold = report.get("score"), report.get("threshold")
            numbers = all(isinstance(v, (int, float)) for v in (score, threshold))
            figures = f" ({score:.1%} < {threshold:.0%})" if numbers else ""
            problems.append(f"{coin} failed quality{figures}")
    return problems


def complete_days(
    days: Iterable[str], coins: Sequence[str], materialised: Collection[tuple[str, str]], quality: QualityLookup
) -> tuple[list[str], dict[str, list[str]]]:
    """(complete days, oldest first; {incomplete day: its problems}). `coins` must not be empty."""
    if not coins:
        raise ValueError("no coins given: a day is complete only when every coin of the universe is")
    complete, incomplete = [], {}
    for day in sorted(set(days)):
        problems = day_problems(day, coins, materialised, quality)
        if problems:
            incomplete[day] = problems
        else:
            complete.append(day)
    return complete, incomplete


HISTORY_SHARE = 0.9  # of the shortest lookback, in every coin, before a day is worth evolving


def short_history(
    day: str, coins: Sequence[str], materialised: Collection[tuple[str, str]], min_days: int, share: float = HISTORY_SHARE
) -> str | None:
    """Why `day` cannot be evolved yet for lack of history (None when it can): fewer than `share` of the
    `min_days` days before it hold a coin's candles. Evolution would only fail on it, night after night
    (a lake that ends months before yesterday, as `make demo` leaves it, then a UI left running)."""
    first = datetime.strptime(check_day(day), DAY_FORMAT).date() - timedelta(days=min_days)
    window = [(first + timedelta(days=i)).strftime(DAY_FORMAT) for i in range(min_days)]
    held = {coin: sum((coin, d) in materialised for d in window) for coin in coins}
    short = {coin: n for coin, n in held.items() if n < share * min_days}
    if not short:
        return None
    worst = min(short, key=short.get)
    return (
        f"history too short: {worst} has candles for {short[worst]} of the {min_days} days before {day} "
        f"(need {share:.0%}); ingest them: python -m quant_organism run --ingest-only --end {day} --days {min_days + 1}"
    )


def describe_incomplete(incomplete: Mapping[str, list[str]], limit: int = 3) -> str:
    """The newest incomplete days with their problems, for a skip message."""
    newest = sorted(incomplete, reverse=True)[:limit]
    text = "; ".join(f"{day}: {', '.join(incomplete[day])}" for day in newest)
    more = len(incomplete) - len(newest)
    return text + (f"; and {more} older day(s)" if more > 0 else "")
