"""Which UTC days exist, are complete and hold enough history before them, and the decay sensor's run key.

A day is complete when every coin's candles for it are materialised and their stored quality report passed.
The decay sensor's run key is deterministic (`evolve:{day}:decay`), so a tick evaluated twice asks for nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from quant_organism.core.timeutil import DAY_FORMAT, utc

DECAY = "decay"  # the trigger tag of a re-evolution the decay sensor asked for


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
    `min_days` days before it hold a coin's candles, or a coin's candles start inside the lookback. Evolution
    would only fail on it, night after night (a lake that ends months before yesterday, as `make demo` leaves it,
    then a UI left running)."""
    end = datetime.strptime(check_day(day), DAY_FORMAT).date()
    window = [(end - timedelta(days=min_days - i)).strftime(DAY_FORMAT) for i in range(min_days)]
    held = {coin: sum((coin, d) in materialised for d in window) for coin in coins}
    short = {coin: n for coin, n in held.items() if n < share * min_days}
    if not short:  # and the lake spans the whole lookback, the day included
        latest_start = (end - timedelta(days=min_days - 1)).strftime(DAY_FORMAT)
        starts = {coin: min((d for c, d in materialised if c == coin), default=day) for coin in coins}
        late = {coin: start for coin, start in starts.items() if start > latest_start}
        if not late:
            return None
        coin = max(late, key=late.get)
        return (
            f"history too short: {coin}'s candles start {late[coin]}, after {latest_start}, the first day of the "
            f"{min_days}-day lookback up to {day}; ingest them: python -m quant_organism run --ingest-only --end {day} "
            f"--days {min_days + 1}"
        )
    worst = min(short, key=short.get)
    return (
        f"history too short: {worst} has candles for {short[worst]} of the {min_days} days before {day} "
        f"(need {share:.0%}); ingest them: python -m quant_organism run --ingest-only --end {day} --days {min_days + 1}"
    )
