"""The weekly loss stop of a probation sleeve: the rule the probation's test assumes, enforced where the sleeve trades.

Why: the probation's betting test (validation/sequential.py) is valid for weekly excess returns bounded below.
Nothing bounds what a strategy can lose in a week, so the sleeve is made to stop: weeks are seven-day blocks
counted from its entry's first forward day; within a week its excess over the beta-matched market,
r - beta m, is summed day by day (UTC days, each day's returns compounded over its bars); at the first day's close
where the week's sum reaches -stop the sleeve goes flat and takes no entry until the next week begins. The
test counts the same sum up to the same day (`stopped_week`), so the record it judges is the record traded.

One rule, used by the evidence (validation/sequential.stopped_week), by the hourly paper engine (runtime/paper_engine.py,
for evolved strategies on probation) and by the documented rules' daily books (runtime/rule_book.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

BLOCK_DAYS = 7


@dataclass(frozen=True)
class WeeklyStop:
    """A sleeve's stop: weeks counted from `origin` (its entry's first forward day), flat once a week's excess over
    `beta` times the market reaches -`stop`."""

    origin: date
    stop: float
    beta: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.stop) and self.stop > 0.0):
            raise ValueError(f"a weekly stop must be a positive loss; got {self.stop!r}")
        if not math.isfinite(self.beta):
            raise ValueError(f"a weekly stop needs a finite beta; got {self.beta!r}")

    def week_of(self, day: date) -> int:
        """The week `day` belongs to (0: the entry's first week; negative: before the entry)."""
        return (day - self.origin).days // BLOCK_DAYS

    def week_start(self, week: int) -> date:
        return self.origin + timedelta(days=BLOCK_DAYS * week)


@dataclass(frozen=True)
class StopWeek:
    """Where a sleeve stands in its current week: the week's index, its excess so far, whether it has stopped."""

    week: int
    excess: float = 0.0
    stopped: bool = False

    def after_day(self, rule: WeeklyStop, day: date, ret: float, market: float = 0.0) -> StopWeek:
        """The state after `day`'s close, on which the sleeve earned `ret` and the market `market`: a new week starts
        afresh; a stopped week adds nothing more; a missing (non-finite) return adds nothing."""
        week = rule.week_of(day)
        state = self if week == self.week else StopWeek(week)
        if state.stopped:
            return state
        x = ret - rule.beta * (market if math.isfinite(market) else 0.0)
        if not math.isfinite(x):
            return state
        excess = state.excess + x
        return StopWeek(week, excess, excess <= -rule.stop)

    def stopped_on(self, rule: WeeklyStop, day: date) -> bool:
        """Whether the sleeve stays flat on `day` (its week stopped, and `day` is still in that week)."""
        return self.stopped and rule.week_of(day) == self.week

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StopWeek:
        return cls(int(data["week"]), float(data["excess"]), bool(data["stopped"]))


def stopped_week(excess: Any, stop: float) -> tuple[float, bool]:
    """(the week's excess, whether the stop fired) of one week's daily excesses: summed up to and including the first
    day the running sum reaches -`stop`; missing days add nothing (the `StopWeek` rule on one week)."""
    rule, state = WeeklyStop(date(1970, 1, 1), stop), StopWeek(0)
    for value in excess:
        state = state.after_day(rule, rule.origin, float(value))
    return state.excess, state.stopped


class SleeveStops:
    """The weekly stops of a book's sleeves, watched bar by bar: each UTC day's sleeve return (its equity at the day's
    last close over the one before) and the market's (the day's bar returns compounded, as validation's daily
    returns are) feed each sleeve's `StopWeek` at the day's last close. `state` is what a resumed run needs."""

    def __init__(self, rules: dict[str, WeeklyStop], state: dict[str, Any] | None = None) -> None:
        self.rules = dict(rules)
        state = state or {}
        self.market = float(state.get("market", 0.0))
        self.starts: dict[str, float] = {k: float(v) for k, v in (state.get("starts") or {}).items()}
        self.weeks = {k: StopWeek.from_dict(v) for k, v in (state.get("weeks") or {}).items()}

    def begin(self, equities: dict[str, float]) -> None:
        """Before a run's first bar: a sleeve without a saved day start starts its day at its equity now."""
        for name in self.rules:
            if name in equities:
                self.starts.setdefault(name, float(equities[name]))

    def bar(self, day: date, market_return: float, equities: dict[str, float], last_of_day: bool) -> list[tuple[str, StopWeek]]:
        """After a bar of `day` closed: the market's bar return joins the day's; at the day's last close every sleeve's
        day is counted, and the sleeves whose week stops there are returned (name, its week)."""
        if math.isfinite(market_return):
            self.market = (1.0 + self.market) * (1.0 + market_return) - 1.0
        if not last_of_day:
            return []
        stopped = []
        for name, rule in self.rules.items():
            if name not in equities:
                continue
            start = self.starts.get(name, equities[name])
            ret = equities[name] / start - 1.0 if start > 0.0 else math.nan
            before = self.weeks.get(name, StopWeek(rule.week_of(day)))
            week = before.after_day(rule, day, ret, self.market)
            if week.stopped and not before.stopped_on(rule, day):
                stopped.append((name, week))
            self.weeks[name], self.starts[name] = week, float(equities[name])
        self.market = 0.0
        return stopped

    def holds_flat(self, name: str, day: date) -> bool:
        """Whether sleeve `name` stays flat on `day`: its week stopped and has not ended."""
        rule, week = self.rules.get(name), self.weeks.get(name)
        return rule is not None and week is not None and week.stopped_on(rule, day)

    def state(self) -> dict[str, Any]:
        return {"market": self.market, "starts": dict(self.starts),
                "weeks": {k: v.to_dict() for k, v in self.weeks.items()}}  # fmt: skip


def replay(
    rule: WeeklyStop, record: Iterable[tuple[Any, float]], market_of: Callable[[Any], float]
) -> list[tuple[Any, StopWeek | None, StopWeek]]:
    """(day, the week before it, the week after it) for each (day, return) of a daily record, in order, the market's
    return on a day given by `market_of(day)`: the rule run over a record, for whoever needs its weeks again."""
    out, week = [], None
    for day, ret in record:
        today = _date(day)
        after = (week or StopWeek(rule.week_of(today))).after_day(rule, today, float(ret), market_of(day))
        out.append((day, week, after))
        week = after
    return out


def flat_days(daily: Any, market: Any, rule: WeeklyStop) -> list[date]:
    """The days a sleeve earning `daily` (day -> return, as it would unstopped) is flat under `rule`: each day after
    its week's stop day, to the week's end. For records computed without the stop (a vectorised backtest), whose
    returns on those days are then zero; the exit and re-entry costs are not added."""
    market_of = (lambda day: float(market.get(day, 0.0))) if market is not None else (lambda day: 0.0)
    return [_date(day) for day, before, _ in replay(rule, daily.items(), market_of)
            if before is not None and before.stopped_on(rule, _date(day))]  # fmt: skip


def _date(day: Any) -> date:
    return day.date() if hasattr(day, "date") else day
