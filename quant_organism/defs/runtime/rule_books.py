"""The documented rules' paper day: each deployed rule's book stepped through the day's close (runtime/rule_book.py),
its rows in the paper ledger, its parity with its own backtest judged on its whole record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_organism.core.metrics import growth
from quant_organism.deployment import documented_capital as documented
from quant_organism.deployment.probation import ProbationEntry
from quant_organism.runtime.ledger import PaperLedger
from quant_organism.runtime.rule_book import RuleBook, RuleParity, rule_parity
from quant_organism.runtime.rule_ledger import last_rule_day, record_figures, rule_record, write_rule_days
from quant_organism.validation.held_out import HeldOutConfig


@dataclass(frozen=True)
class RuleRecord:
    """A rule's paper record so far, for the run's table and plot."""

    strategy: str
    days: int
    total_return: float
    sharpe: float | None
    max_drawdown: float | None
    equity: pd.Series


@dataclass
class RulesTraded:
    rows: int = 0
    parity: list[RuleParity] = field(default_factory=list)
    records: list[RuleRecord] = field(default_factory=list)

    @property
    def broken(self) -> list[RuleParity]:
        return [p for p in self.parity if not p.ok]


def rule_book(name: str, entry: Mapping) -> RuleBook:
    """The paper book of a deployed rule from its manifest entry (its versioned config)."""
    probation = ProbationEntry.from_dict(entry["probation"]) if entry.get("probation") else None
    return RuleBook(name, documented.rule_of(name), pd.Timestamp(entry["since"], tz="UTC"), entry.get("universe_top"),
                    HeldOutConfig().costs, None if probation is None else probation.weekly_stop())  # fmt: skip


def trade_rules(
    context, rules: Mapping[str, Mapping], frames_from: Callable[[pd.Timestamp], dict], day: pd.Timestamp, ledger: PaperLedger
) -> RulesTraded:
    """Step every deployed rule's book from its last recorded day through `day` (the days it missed included, in
    order), write them, and judge each book's whole record against its backtest on the same panel."""
    out = RulesTraded()
    for name, entry in sorted(rules.items()):
        book = rule_book(name, entry)
        if day < book.since:
            continue
        panel = documented.frames_panel(frames_from(book.anchor))
        last = book.resume(panel, rule_record(ledger, name), last_rule_day(ledger, name, day))
        first = book.since if last is None else last.day + pd.Timedelta(days=1)
        days = [d for d in pd.date_range(first, day, freq="D") if d in panel.closes.index]
        stepped = book.run(panel, days, last)
        out.rows += write_rule_days(ledger, stepped)
        record = rule_record(ledger, name)
        record = record.loc[record.index <= day]
        out.parity.append(rule_parity(book, panel, record))
        count, sharpe, drawdown = record_figures(record)
        total = float(np.prod(1.0 + record.to_numpy(np.float64)) - 1.0)
        out.records.append(RuleRecord(name, count, total, sharpe, drawdown, growth(record)))
        context.log.info(f"{name}: {len(stepped)} day(s) traded through {day.date()}, {count} paper days so far")
    return out
