"""Data-quality rules for one partition (one coin, one UTC day) of candles or funding rates.

Nothing is repaired or dropped silently: every row either passes every rule and is *clean*, or is
copied to quarantine with the reasons it failed. The report counts both, and the quality score
(share of the expected bars that are clean) decides whether downstream may consume the partition.
Rules are vectorised numpy so that ingesting thousands of partitions stays fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from quant_organism.market.schema import CANDLE_COLUMNS, FUNDING_COLUMNS, PRICE_COLUMNS, interval_delta

QUALITY_THRESHOLD = 0.95
MAX_ABS_LOG_JUMP = 0.5  # |log(close_t / close_t-1)| above this in one bar is implausible for a perp
MAX_ABS_FUNDING = 0.04  # Hyperliquid caps funding at 4% per hour

CANDLE_RULES: dict[str, str] = {
    "schema": "required columns present with numeric prices and volume",
    "nan_value": "a price or volume is NaN or not a number",
    "non_positive_price": "a price is zero or negative",
    "ohlc_inconsistent": "high < low, or open/close outside [low, high]",
    "negative_volume": "volume below zero",
    "off_grid": "timestamp not on the interval grid",
    "outside_partition": "timestamp outside the partition's day",
    "duplicate_timestamp": "several rows share this timestamp (all copies are quarantined)",
    "out_of_order": "timestamp not after the previous row's",
    "implausible_jump": f"|log close change| > {MAX_ABS_LOG_JUMP} versus the previous clean bar",
}
FUNDING_RULES: dict[str, str] = {
    "nan_value": "funding rate is NaN or not a number",
    "implausible_rate": f"|funding rate| > {MAX_ABS_FUNDING}",
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
    threshold: float = QUALITY_THRESHOLD

    @property
    def passed(self) -> bool:
        return self.score >= self.threshold

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


@dataclass
class QualityResult:
    clean: pd.DataFrame
    quarantine: pd.DataFrame  # the offending rows plus `reason` (semicolon-separated rule names)
    report: QualityReport


def _partition_bounds(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz="UTC")
    return start, start + pd.Timedelta(days=1)


def _duplicates_and_disorder(ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sharing a timestamp (every copy), and rows whose time goes backwards versus the running max."""
    _, inverse, counts = np.unique(ns, return_inverse=True, return_counts=True)
    duplicate = counts[inverse] > 1
    running_max = np.maximum.accumulate(ns) if len(ns) else ns
    backwards = np.zeros(len(ns), dtype=bool)
    if len(ns) > 1:
        backwards[1:] = ns[1:] < running_max[:-1]
    return duplicate, backwards


def _reasons(flags: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    bad = np.zeros(n, dtype=bool)
    counts: dict[str, int] = {}
    for name, mask in flags.items():
        counts[name] = int(mask.sum())
        bad |= mask
    reasons = np.full(n, "", dtype=object)
    for i in np.flatnonzero(bad):
        reasons[i] = ";".join(name for name, mask in flags.items() if mask[i])
    return bad, reasons, counts


def _split(frame: pd.DataFrame, bad: np.ndarray, reasons: np.ndarray, columns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean rows, quarantined rows + reason); the common all-clean case costs no copy."""
    if not bad.any():
        clean = frame if tuple(frame.columns) == tuple(columns) else frame[list(columns)]
        return clean, frame.iloc[0:0].assign(reason=pd.Series(dtype=object))
    clean = frame.loc[~bad, list(columns)].reset_index(drop=True)
    quarantine = frame.loc[bad].assign(reason=reasons[bad]).reset_index(drop=True)
    return clean, quarantine


def check_candles(frame: pd.DataFrame, coin: str, day: str, interval: str = "1h") -> QualityResult:
    """Split a raw candle partition into clean rows and quarantined rows with reasons."""
    step = interval_delta(interval)
    start, end = _partition_bounds(day)
    expected = int(pd.Timedelta(days=1) / step) if step <= pd.Timedelta(days=1) else 1
    n = len(frame)
    ns = frame["timestamp"].to_numpy("datetime64[ns]").astype(np.int64)
    prices = frame[list(PRICE_COLUMNS)].to_numpy(dtype=float)
    volume = frame["volume"].to_numpy(dtype=float)
    o, h, l, c = prices.T if n else (np.empty(0),) * 4

    nan_value = np.isnan(prices).any(axis=1) | np.isnan(volume)
    with np.errstate(invalid="ignore"):
        non_positive = (prices <= 0).any(axis=1)
        ohlc_bad = (h < l) | (o < l) | (o > h) | (c < l) | (c > h)
        negative_volume = volume < 0
    off_grid = (ns % step.value) != 0
    outside = (ns < start.value) | (ns >= end.value)
    duplicate, backwards = _duplicates_and_disorder(ns)
    flags = {
        "nan_value": nan_value,
        "non_positive_price": non_positive,
        "ohlc_inconsistent": ohlc_bad,
        "negative_volume": negative_volume,
        "off_grid": off_grid,
        "outside_partition": outside,
        "duplicate_timestamp": duplicate,
        "out_of_order": backwards,
    }
    flags["implausible_jump"] = _jumps(c, ~np.logical_or.reduce(list(flags.values())) if n else np.zeros(0, bool))
    bad, reasons, counts = _reasons(flags, n)

    clean, quarantine = _split(frame, bad, reasons, CANDLE_COLUMNS)
    report = QualityReport(
        dataset="candles",
        coin=coin,
        day=day,
        rows=n,
        clean_rows=len(clean),
        expected_rows=expected,
        quarantined_rows=int(bad.sum()),
        missing_rows=max(expected - len(clean), 0),
        violations=counts,
        score=min(len(clean) / expected, 1.0) if expected else 0.0,
    )
    return QualityResult(clean, quarantine, report)


def _jumps(close: np.ndarray, otherwise_clean: np.ndarray) -> np.ndarray:
    """Flag a clean bar whose close jumps implausibly versus the previous clean bar's close."""
    jumps = np.zeros(len(close), dtype=bool)
    idx = np.flatnonzero(otherwise_clean)
    if len(idx) > 1:
        log_change = np.abs(np.diff(np.log(close[idx])))
        jumps[idx[1:][log_change > MAX_ABS_LOG_JUMP]] = True
    return jumps


def check_funding(frame: pd.DataFrame, coin: str, day: str) -> QualityResult:
    """Split a raw funding partition into clean and quarantined rows.

    Funding times carry exchange jitter (milliseconds past the hour on Hyperliquid) and the cadence
    changed over time (8-hourly, then hourly), so there is no grid or count rule: the score is the
    share of rows that are clean.
    """
    start, end = _partition_bounds(day)
    n = len(frame)
    ns = frame["timestamp"].to_numpy("datetime64[ns]").astype(np.int64)
    rate = frame["funding_rate"].to_numpy(dtype=float)
    duplicate, backwards = _duplicates_and_disorder(ns)
    with np.errstate(invalid="ignore"):
        flags = {
            "nan_value": np.isnan(rate),
            "implausible_rate": np.abs(rate) > MAX_ABS_FUNDING,
            "outside_partition": (ns < start.value) | (ns >= end.value),
            "duplicate_timestamp": duplicate,
            "out_of_order": backwards,
        }
    bad, reasons, counts = _reasons(flags, n)
    clean, quarantine = _split(frame, bad, reasons, FUNDING_COLUMNS)
    report = QualityReport(
        dataset="funding_rates",
        coin=coin,
        day=day,
        rows=n,
        clean_rows=len(clean),
        expected_rows=n,
        quarantined_rows=int(bad.sum()),
        missing_rows=0,
        violations=counts,
        score=(len(clean) / n) if n else 1.0,
    )
    return QualityResult(clean, quarantine, report)
