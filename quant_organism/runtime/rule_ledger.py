"""The documented rules' paper days in the paper ledger's DuckDB file: one row per rule and closed day.

    rule_days  strategy, day, ret, turnover, equity, weights (JSON: coin -> weight held after the day's close)

A row is the book's whole state after its day (runtime/rule_book.py), so a run resumes from the last row before
its first day; writing a day replaces that rule's row of that day (idempotent reruns).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from quant_organism.core.artifacts import finite_or_none
from quant_organism.core.metrics import figures

from .ledger import PaperLedger
from .rule_book import RuleDay

SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_days (
    strategy VARCHAR, day TIMESTAMP, ret DOUBLE, turnover DOUBLE, equity DOUBLE, weights VARCHAR,
    PRIMARY KEY (strategy, day));
"""
DAYS_PER_YEAR = 365.0


def write_rule_days(ledger: PaperLedger, rows: Sequence[RuleDay]) -> int:
    """Replace the rows of these rules' days; returns the rows written."""
    if not rows:
        return 0
    frame = pd.DataFrame(
        [(r.strategy, r.day.tz_convert("UTC").tz_localize(None), r.ret, r.turnover, r.equity, json.dumps(r.weights, sort_keys=True))
         for r in rows],
        columns=["strategy", "day", "ret", "turnover", "equity", "weights"],
    )  # fmt: skip
    with ledger.connect() as con:
        con.execute(SCHEMA)
    with ledger.transaction() as con:
        con.register("rule_batch", frame)
        try:
            con.execute("DELETE FROM rule_days WHERE (strategy, day) IN (SELECT strategy, day FROM rule_batch)")
            con.execute("INSERT INTO rule_days SELECT * FROM rule_batch")
        finally:
            con.unregister("rule_batch")
    return len(frame)


def rule_days(ledger: PaperLedger, strategy: str | None = None, before: pd.Timestamp | None = None) -> pd.DataFrame:
    """The rules' paper days (all, or one rule's; only days before `before` when given), oldest first, days in UTC."""
    where, params = [], []
    if strategy is not None:
        where.append("strategy = ?")
        params.append(strategy)
    if before is not None:
        where.append("day < ?")
        params.append(pd.Timestamp(before).tz_convert("UTC").tz_localize(None).to_pydatetime())
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with ledger.connect() as con:
        con.execute(SCHEMA)
        frame = con.execute(f"SELECT * FROM rule_days {clause} ORDER BY strategy, day", params).df()
    frame["day"] = pd.to_datetime(frame["day"]).dt.tz_localize("UTC")
    return frame


def last_rule_day(ledger: PaperLedger, strategy: str, before: pd.Timestamp) -> RuleDay | None:
    """The book's state after its last day before `before` (None: it has not traded yet)."""
    rows = rule_days(ledger, strategy, before)
    if rows.empty:
        return None
    row = rows.iloc[-1]
    return RuleDay(
        strategy, row["day"], float(row["ret"]), float(row["turnover"]), float(row["equity"]), json.loads(row["weights"])
    )


def rule_record(ledger: PaperLedger, strategy: str) -> pd.Series:
    """One rule's paper returns by day."""
    rows = rule_days(ledger, strategy)
    return pd.Series(rows["ret"].to_numpy(np.float64), index=pd.DatetimeIndex(rows["day"]), name=strategy)


def rule_figures(ledger: PaperLedger, strategy: str) -> tuple[int, float | None, float | None]:
    """(paper days, annual Sharpe, max drawdown) of a rule's paper record: what its incumbent record carries."""
    return record_figures(rule_record(ledger, strategy))


def record_figures(record: pd.Series) -> tuple[int, float | None, float | None]:
    """`rule_figures` of a record already read (`rule_record`)."""
    if len(record) < 2:  # no spread to judge: as the retrospective's record of the same days (window_figures)
        return len(record), None, None
    measured = figures(record.to_numpy(), DAYS_PER_YEAR)
    return len(record), finite_or_none(measured["sharpe"]), finite_or_none(measured["max_drawdown"])
