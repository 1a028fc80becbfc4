"""Research-to-live parity: what a book paper-traded against the vectorised backtest of the same bars.

The paper runtime trades one day at a time, restoring each book from the ledger; validation judged the
strategy with the vectorised backtest. Both must be the same strategy: the backtest here starts flat at
the book's first paper bar with the book's initial cash, its signals computed on the same anchored
history the paper asset feeds the engine (so recursive indicators, position state machines and ML
refit anchors start where they started), under the backtest's sizing (the paper asset trades with
`RuntimePolicy.backtest_parity()`). Positions must be equal on every bar and equity within `tolerance`
(relative); the bars that differ are listed. Where the runtime's risk controls acted on a book (risk.py),
it is compared up to that bar: after it the difference is the controls' doing, recorded in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.simulate import run_backtest
from quant_organism.catalog.config import StrategyConfig
from quant_organism.core.timeutil import utc_timestamp
from quant_organism.strategies import get_registry

from .ledger import PaperLedger

PARITY_TOLERANCE = 1e-9


@dataclass
class BookParity:
    """One (strategy, coin) book: bars compared, the largest relative equity gap, bars whose position differs."""

    strategy: str
    coin: str
    bars: int
    max_equity_gap: float
    position_mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy, "coin": self.coin, "bars": self.bars,
            "max_equity_gap": self.max_equity_gap if np.isfinite(self.max_equity_gap) else None,
            "position_mismatches": self.position_mismatches[:20], "problems": self.problems,
        }  # fmt: skip


def book_parity(
    config: StrategyConfig,
    coin: str,
    history: pd.DataFrame,
    paper: pd.DataFrame,
    initial_cash: float,
    costs: CostModel = CostModel(),
    tolerance: float = PARITY_TOLERANCE,
) -> BookParity:
    """Compare a book's ledger rows (`paper`: bar_time, units, equity; from the ledger's `positions`) with the
    backtest of the same bars (`history`: the anchored strategy frame the paper asset traded from)."""
    paper = paper.sort_values("bar_time")
    times = pd.DatetimeIndex(paper["bar_time"]).as_unit("ns")  # the ledger stores microseconds
    if len(times) == 0:
        return BookParity(config.name, coin, 0, 0.0, [], ["no paper bars in the ledger"])
    history = history.set_axis(pd.DatetimeIndex(history.index).as_unit("ns"))
    missing = times.difference(history.index)
    if len(missing):
        return BookParity(config.name, coin, len(times), float("inf"), [], [f"{len(missing)} paper bar(s) not in the history"])
    window = history.loc[times[0] : times[-1]]
    if len(times) == 1 and len(window) == 1:  # the book's first bar: nothing can have filled (fills are at the next open)
        units, equity = float(paper["units"].iloc[0]), float(paper["equity"].iloc[0])
        gap = abs(equity / initial_cash - 1.0)
        problems = (
            [] if units == 0.0 and gap <= tolerance else [f"first bar holds {units} units, equity {equity} of {initial_cash}"]
        )
        return BookParity(config.name, coin, 1, gap, [] if units == 0.0 else [str(times[0])], problems)
    seed = get_registry().create_seed(config.seed_type, config.genes)
    signals = seed.generate_signals(history.loc[: times[-1]]).loc[window.index]
    genes = config.genes
    funding = np.nan_to_num(window["funding_rate"].to_numpy(dtype=np.float64)) if "funding_rate" in window else None
    bt = run_backtest(
        window[["open", "high", "low", "close"]], signals.rename(config.name), stop_loss=genes.stop_loss,
        take_profit=genes.take_profit, position_size=genes.position_size, funding=funding, costs=costs,
        init_cash=initial_cash,
    )  # fmt: skip
    problems: list[str] = []
    if not window.index.equals(times):
        problems.append(f"the ledger holds {len(times)} bar(s), the history {len(window)} over the same span")
        return BookParity(config.name, coin, len(times), float("inf"), [], problems)
    units = paper["units"].to_numpy(dtype=np.float64)
    theirs = bt.position.iloc[:, 0].to_numpy()
    scale = max(float(np.abs(theirs).max()), 1e-300)
    differ = np.abs(units - theirs) > tolerance * scale
    mismatches = [str(t) for t in times[differ]]
    if mismatches:
        problems.append(f"positions differ on {len(mismatches)} bar(s), first at {mismatches[0]}")
    equity, their_equity = paper["equity"].to_numpy(dtype=np.float64), bt.equity.iloc[:, 0].to_numpy()
    gap = np.abs(equity / their_equity - 1.0)
    worst = float(gap.max()) if len(gap) else 0.0
    if not worst <= tolerance:
        problems.append(f"equity differs by up to {worst:.3g} (relative; tolerance {tolerance:g})")
    return BookParity(config.name, coin, len(times), worst, mismatches, problems)


def ledger_parity(
    ledger: PaperLedger,
    configs: Iterable[StrategyConfig],
    history: Callable[[StrategyConfig, str], pd.DataFrame | None],
    costs: CostModel = CostModel(),
    until: Mapping[tuple[str, str], pd.Timestamp] | None = None,
    before: pd.Timestamp | None = None,
) -> list[BookParity]:
    """`book_parity` of every book the ledger holds for `configs`; `history(config, coin)` gives the anchored
    frame that book traded from (None: not checked). `until[(strategy, coin)]`: the bar of the first risk
    control that acted on the book (a breaker, the asset cap, decay sizing); from the next bar on the book
    deliberately differs from the backtest, so it is compared up to that bar. `before`: only the ledger's bars
    before it (a rerun of an earlier span is judged on the record up to that span's end)."""
    books = ledger.table("books")
    out = []
    for config in configs:
        positions = ledger.table("positions", config.name, columns=("coin", "bar_time", "units", "equity"))
        for coin in sorted(positions["coin"].unique()):
            cash = books[(books["strategy"] == config.name) & (books["coin"] == coin)]["initial_cash"]
            frame = history(config, coin)
            if frame is None or cash.empty:
                continue
            rows = positions[positions["coin"] == coin]  # bar_time in UTC (PaperLedger.table)
            if before is not None:
                rows = rows[rows["bar_time"] < utc_timestamp(before, "before")]
            cutoff = (until or {}).get((config.name, coin))
            if cutoff is not None:
                rows = rows[rows["bar_time"] <= utc_timestamp(cutoff, "until")]
                if len(rows) < 2:  # the controls acted from the start: nothing to compare
                    continue
            out.append(book_parity(config, coin, frame, rows, float(cash.iloc[0]), costs))
    return out
