"""Data-quality rules for one partition (one coin, one UTC day) of candles or funding rates.

Nothing is repaired or dropped silently: every row either passes every rule and is *clean*, or is
copied to quarantine with the reasons it failed. The report counts both, and the quality score
(share of the expected bars that are clean) decides whether downstream may consume the partition.
Rules are vectorised numpy over plain arrays, and a whole range of days is checked from one fetched
frame (`check_candle_days` / `check_funding_days`): rows are grouped by their UTC day and each day is
judged exactly as if it had been fetched alone, so a partition's verdict never depends on how many
days its run covered. A year-long backfill then costs microseconds per partition, not pandas calls.

Two rules look beyond the day: a close is judged against the last *accepted* close before it, across
day boundaries (`previous_close` carries the lake's last clean close into a run); and no bar may be
later than "now" (a bar still open, or one from the future, is not market data yet).

A close more than MAX_ABS_LOG_JUMP from the last accepted close is either a genuine shock or a bad print,
told apart by what follows (`_jumps`):
- *confirmed*: the next CONFIRM_BARS clean bars of the same day stay nearer the new level than the old one.
  Real altcoins move like this (XRP +15% in the hour of 2025-03-02 15:00). It is accepted, counted in the
  report's `flags` as `large_move`, and becomes the new reference;
- *reverted*: a later bar comes back nearer the old level. The bar is quarantined as `implausible_jump`;
- the day's last bar has no later bar in its partition: a move that trades through the bar (its open
  continues from the last accepted close) is confirmed, a bar that *opens* at the new level is a bad print.
Only bars of the same day are looked at, so a partition's verdict still never depends on the run's range.
Quarantining every bar after a genuine shock dropped the coin below the coverage threshold: survivorship
bias, worst in a top-50 universe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa

from quant_organism.market.schema import CANDLE_COLUMNS, FUNDING_COLUMNS, PRICE_COLUMNS, arrow_to_frame, interval_delta, to_arrow

QUALITY_THRESHOLD = 0.95
MAX_ABS_LOG_JUMP = 0.5  # |log(close_t / close_t-1)| above this in one bar is a shock or a bad print
CONFIRM_BARS = 2  # later bars of the day that must hold a jump's new level for it to count as genuine
MAX_ABS_FUNDING = 0.04  # Hyperliquid caps funding at 4% per hour
MAX_PRICE = 1e12  # no perpetual trades anywhere near this; larger numbers are corrupt values

CANDLE_RULES: dict[str, str] = {
    "schema": "required columns present with numeric prices and volume",
    "nan_value": "a price or volume is NaN, infinite or not a number",
    "non_positive_price": "a price is zero or negative",
    "implausible_price": f"a price above {MAX_PRICE:g}",
    "future_bar": "the bar had not closed yet when it was ingested (its close time is after now)",
    "ohlc_inconsistent": "high < low, or open/close outside [low, high]",
    "negative_volume": "volume below zero",
    "off_grid": "timestamp not on the interval grid",
    "outside_partition": "timestamp outside the partition's day",
    "duplicate_timestamp": "several rows share this timestamp (all copies are quarantined)",
    "out_of_order": "timestamp not after the previous row's",
    "implausible_jump": f"|log close change| > {MAX_ABS_LOG_JUMP} versus the last accepted close (across days), "
    "and the move reverts (a bad print)",
}
CANDLE_FLAGS: dict[str, str] = {
    "large_move": f"|log close change| > {MAX_ABS_LOG_JUMP}, confirmed by the bars after it: accepted as a genuine shock",
}
FUNDING_RULES: dict[str, str] = {
    "nan_value": "funding rate is NaN, infinite or not a number",
    "implausible_rate": f"|funding rate| > {MAX_ABS_FUNDING}",
    "future_bar": "the funding time is after now",
    "outside_partition": "timestamp outside the partition's day",
    "duplicate_timestamp": "several rows share this timestamp (all copies are quarantined)",
    "out_of_order": "timestamp not after the previous row's",
}


@dataclass
class QualityReport:
    """What the rules found in one partition; serialisable into asset metadata and check results."""

    dataset: str
    coin: str
    day: str
    rows: int
    clean_rows: int
    expected_rows: int
    quarantined_rows: int
    missing_rows: int
    violations: dict[str, int] = field(default_factory=dict)
    score: float = 0.0
    flags: dict[str, int] = field(default_factory=dict)  # accepted but notable rows (CANDLE_FLAGS), never quarantined
    threshold: float = QUALITY_THRESHOLD

    @property
    def passed(self) -> bool:
        return self.score >= self.threshold

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


@dataclass
class QualityResult:
    """One partition's verdict: its clean rows (as Arrow, ready to write), the quarantine and the report."""

    table: pa.Table  # clean rows, canonical columns
    quarantined: pd.DataFrame | None  # the offending rows plus `reason`; None when every row is clean
    report: QualityReport

    @cached_property
    def clean(self) -> pd.DataFrame:
        return arrow_to_frame(self.table)

    @property
    def quarantine(self) -> pd.DataFrame:
        """The offending rows plus `reason` (semicolon-separated rule names); empty when all are clean."""
        return self.quarantined if self.quarantined is not None else pd.DataFrame({"reason": pd.Series(dtype=object)})

    def bar_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(first, last) clean timestamp, or None for an empty partition."""
        if self.table.num_rows == 0:
            return None
        ns = self.table.column("timestamp").to_numpy().view("int64")
        return pd.Timestamp(int(ns.min()), tz="UTC"), pd.Timestamp(int(ns.max()), tz="UTC")


DAY_NS = pd.Timedelta(days=1).value


def _group_by_day(ns: np.ndarray, starts: np.ndarray) -> list[np.ndarray | slice]:
    """Row positions of each requested day, in the rows' original order.

    `starts` are the consecutive days' start times. A row before the first day or after the last is
    given to the nearest day, whose `outside_partition` rule then quarantines it: nothing is dropped.
    Sorted input (the normal case) gives slices, so no row is copied.
    """
    day_of_row = np.clip(np.searchsorted(starts, ns, side="right") - 1, 0, len(starts) - 1)
    if len(ns) < 2 or bool((np.diff(day_of_row) >= 0).all()):
        edges = np.searchsorted(day_of_row, np.arange(len(starts) + 1), side="left")
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    order = np.argsort(day_of_row, kind="stable")
    edges = np.searchsorted(day_of_row[order], np.arange(len(starts) + 1), side="left")
    return [order[a:b] for a, b in zip(edges[:-1], edges[1:])]


def _consecutive_day_starts(days: list[str]) -> np.ndarray:
    starts = np.array([pd.Timestamp(d, tz="UTC").value for d in days], dtype=np.int64)
    if len(starts) == 0 or (len(starts) > 1 and not (np.diff(starts) == DAY_NS).all()):
        raise ValueError(f"days must be consecutive UTC days in order; got {days[:3]}...{days[-3:]}")
    return starts


def _duplicates_and_disorder(ns: np.ndarray, outside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sharing a timestamp (every copy), and rows whose time goes backwards versus the running max,
    among the rows inside the partition (a stray row from another day must not condemn the rows after it)."""
    n = len(ns)
    duplicate, backwards = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if n < 2 or (np.diff(ns) > 0).all():  # strictly increasing: the common case, no sort needed
        return duplicate, backwards
    inside = np.flatnonzero(~outside)
    kept = ns[inside]
    if len(kept) < 2:
        return duplicate, backwards
    _, inverse, counts = np.unique(kept, return_inverse=True, return_counts=True)
    duplicate[inside] = counts[inverse] > 1
    backwards[inside[1:]] = kept[1:] < np.maximum.accumulate(kept)[:-1]
    return duplicate, backwards


def _verdict(flags: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray | None, dict[str, int]]:
    """(bad-row mask, reasons for every row or None when all are clean, count per rule)."""
    bad = np.zeros(n, dtype=bool)
    counts: dict[str, int] = {}
    for name, mask in flags.items():
        counts[name] = int(np.count_nonzero(mask))
        bad |= mask
    if not bad.any():
        return bad, None, counts
    reasons = np.full(n, "", dtype=object)
    for i in np.flatnonzero(bad):
        reasons[i] = ";".join(name for name, mask in flags.items() if mask[i])
    return bad, reasons, counts


def _split_day(
    frame: pd.DataFrame, table: pa.Table, rows: np.ndarray | slice, bad: np.ndarray, reasons: np.ndarray | None
) -> tuple[pa.Table, pd.DataFrame | None]:
    """(clean rows as Arrow, quarantined raw rows + reason or None); an all-clean contiguous day is a
    zero-copy slice and builds no DataFrame at all (that would cost more than the rules)."""
    if reasons is None and isinstance(rows, slice):
        return table.slice(rows.start, rows.stop - rows.start), None
    positions = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows
    clean = table.take(pa.array(positions[~bad]))
    if reasons is None:
        return clean, None
    quarantine = frame.iloc[positions[bad]].assign(reason=reasons[bad]).reset_index(drop=True)
    return clean, quarantine


def _jumps(
    close: np.ndarray, open_: np.ndarray, otherwise_clean: np.ndarray, reference: float | None
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(bad prints, confirmed large moves, the reference the next day starts from) among the day's clean bars.

    `reference` is the last accepted close before this day. A bad print never becomes the reference, so a
    level that keeps reverting stays quarantined; a confirmed move does (see the module docstring).
    """
    bad, large = np.zeros(len(close), dtype=bool), np.zeros(len(close), dtype=bool)
    idx = np.flatnonzero(otherwise_clean)
    if len(idx) == 0:
        return bad, large, reference
    chain = close[idx] if reference is None else np.r_[reference, close[idx]]
    with np.errstate(invalid="ignore", divide="ignore"):
        calm = not (np.abs(np.diff(np.log(chain))) > MAX_ABS_LOG_JUMP).any()
    if calm:  # the common case: no loop
        return bad, large, float(close[idx[-1]])
    for k, i in enumerate(idx):  # rare: walk the bars, keeping the last accepted close
        if reference is None or abs(np.log(close[i] / reference)) <= MAX_ABS_LOG_JUMP:
            reference = float(close[i])
            continue
        later = close[idx[k + 1 : k + 1 + CONFIRM_BARS]]
        if len(later):
            confirmed = bool((np.abs(np.log(later / close[i])) < np.abs(np.log(later / reference))).all())
        else:
            confirmed = abs(np.log(open_[i] / reference)) <= MAX_ABS_LOG_JUMP
        if confirmed:
            large[i], reference = True, float(close[i])
        else:
            bad[i] = True
    return bad, large, reference


def now_ns() -> int:
    return pd.Timestamp.now(tz="UTC").value


def _candle_flags(
    ns, prices, volume, start: int, end: int, step: int, now: int, reference: float | None
) -> tuple[dict[str, np.ndarray], np.ndarray, float | None]:
    """(violations per rule, confirmed large moves, the next reference) of one day's rows."""
    o, h, lo, c = prices.T
    with np.errstate(invalid="ignore"):
        flags = {
            "nan_value": ~np.isfinite(prices).all(axis=1) | ~np.isfinite(volume),
            "non_positive_price": (prices <= 0).any(axis=1),
            "implausible_price": (prices > MAX_PRICE).any(axis=1),
            "ohlc_inconsistent": (h < lo) | (o < lo) | (o > h) | (c < lo) | (c > h),
            "negative_volume": volume < 0,
            "off_grid": (ns % step) != 0,
            "outside_partition": (ns < start) | (ns >= end),
            "future_bar": ns + step > now,
        }
    flags["duplicate_timestamp"], flags["out_of_order"] = _duplicates_and_disorder(ns, flags["outside_partition"])
    flags["implausible_jump"], large, reference = _jumps(c, o, ~np.logical_or.reduce(list(flags.values())), reference)
    return flags, large, reference


def check_candle_days(
    frame: pd.DataFrame,
    coin: str,
    days: list[str],
    interval: str = "1h",
    previous_close: float | None = None,
    now: int | None = None,
) -> list[QualityResult]:
    """Judge a raw candle frame covering consecutive UTC `days`: one result per day, in order.

    `previous_close`: the last accepted close before the first day (the lake's), for the jump rule;
    `now` (ns since the epoch, default the clock): bars closing after it are quarantined as future."""
    step = interval_delta(interval)
    expected = int(pd.Timedelta(days=1) / step) if step <= pd.Timedelta(days=1) else 1
    starts = _consecutive_day_starts(days)
    ns = frame["timestamp"].to_numpy("datetime64[ns]").view(np.int64)
    prices = frame[list(PRICE_COLUMNS)].to_numpy(dtype=float)
    volume = frame["volume"].to_numpy(dtype=float)
    table = to_arrow(frame, CANDLE_COLUMNS)
    now = now_ns() if now is None else now
    reference = previous_close
    results = []
    for day, start, rows in zip(days, starts, _group_by_day(ns, starts)):
        flags, large, reference = _candle_flags(
            ns[rows], prices[rows], volume[rows], int(start), int(start) + DAY_NS, step.value, now, reference
        )
        n = len(flags["nan_value"])
        bad, reasons, counts = _verdict(flags, n)
        clean, quarantine = _split_day(frame, table, rows, bad, reasons)
        clean_rows = clean.num_rows
        report = QualityReport(
            dataset="candles",
            coin=coin,
            day=day,
            rows=n,
            clean_rows=clean_rows,
            expected_rows=expected,
            quarantined_rows=n - clean_rows,
            missing_rows=max(expected - clean_rows, 0),
            violations=counts,
            score=min(clean_rows / expected, 1.0) if expected else 0.0,
            flags={"large_move": int(np.count_nonzero(large))} if large.any() else {},
        )
        results.append(QualityResult(clean, quarantine, report))
    return results


def check_candles(frame: pd.DataFrame, coin: str, day: str, interval: str = "1h") -> QualityResult:
    """Split a raw candle partition into clean rows and quarantined rows with reasons."""
    return check_candle_days(frame, coin, [day], interval)[0]


def check_funding_days(frame: pd.DataFrame, coin: str, days: list[str], now: int | None = None) -> list[QualityResult]:
    """Judge raw funding rates covering consecutive UTC `days`: one result per day, in order.

    Funding times carry exchange jitter (milliseconds past the hour on Hyperliquid) and the cadence
    changed over time (8-hourly, then hourly), so there is no grid or count rule: the score is the
    share of rows that are clean.
    """
    starts = _consecutive_day_starts(days)
    ns = frame["timestamp"].to_numpy("datetime64[ns]").view(np.int64)
    rate = frame["funding_rate"].to_numpy(dtype=float)
    table = to_arrow(frame, FUNDING_COLUMNS)
    now = now_ns() if now is None else now
    results = []
    for day, start, rows in zip(days, starts, _group_by_day(ns, starts)):
        day_ns, day_rate = ns[rows], rate[rows]
        outside = (day_ns < start) | (day_ns >= start + DAY_NS)
        duplicate, backwards = _duplicates_and_disorder(day_ns, outside)
        with np.errstate(invalid="ignore"):
            flags = {
                "nan_value": ~np.isfinite(day_rate),
                "implausible_rate": np.abs(day_rate) > MAX_ABS_FUNDING,
                "future_bar": day_ns > now,
                "outside_partition": outside,
                "duplicate_timestamp": duplicate,
                "out_of_order": backwards,
            }
        n = len(day_ns)
        bad, reasons, counts = _verdict(flags, n)
        clean, quarantine = _split_day(frame, table, rows, bad, reasons)
        report = QualityReport(
            dataset="funding_rates",
            coin=coin,
            day=day,
            rows=n,
            clean_rows=clean.num_rows,
            expected_rows=n,
            quarantined_rows=n - clean.num_rows,
            missing_rows=0,
            violations=counts,
            score=(clean.num_rows / n) if n else 1.0,
        )
        results.append(QualityResult(clean, quarantine, report))
    return results


def check_funding(frame: pd.DataFrame, coin: str, day: str) -> QualityResult:
    """Split a raw funding partition into clean and quarantined rows."""
    return check_funding_days(frame, coin, [day])[0]
