"""The living organism's runtime: the strategy engine, its paper books and ledger, and decay rules.

Plain Python (no Dagster): `paper_engine.py` runs deployed strategies one bar at a time and emits
`TradeDecision`s under typed policies; `book.py` simulates fills with the backtest's execution
convention; `ledger.py` persists paper trading in DuckDB and measures it; `decay.py` flags
strategies whose paper results have faded.
"""

from .book import BookState, Fill, Mark, PaperBook, Trade
from .decay import DecayRules, DecayVerdict, decaying_strategies, mark_decaying
from .decisions import Side, SkippedSignal, TradeDecision
from .ledger import LEDGER_FILE, LedgerBatch, PaperLedger, PaperMetrics, PaperRunSummary, PaperTrader
from .paper_engine import RunResult, StepResult, StrategyRuntimeEngine
from .policy import RiskMode, RuntimePolicy, volatility_confidence
from .retirement import PostMortem, load_post_mortems, retire_decayed
from .risk import GuardState, PortfolioGuard, RiskEvent, RiskLimits
from .signals import LookaheadError, SignalSource

__all__ = [
    "BookState",
    "GuardState",
    "PortfolioGuard",
    "PostMortem",
    "RiskEvent",
    "RiskLimits",
    "load_post_mortems",
    "retire_decayed",
    "DecayRules",
    "DecayVerdict",
    "LedgerBatch",
    "PaperLedger",
    "PaperMetrics",
    "PaperRunSummary",
    "PaperTrader",
    "decaying_strategies",
    "LEDGER_FILE",
    "mark_decaying",
    "Fill",
    "LookaheadError",
    "Mark",
    "PaperBook",
    "RiskMode",
    "RunResult",
    "RuntimePolicy",
    "Side",
    "SignalSource",
    "SkippedSignal",
    "StepResult",
    "StrategyRuntimeEngine",
    "Trade",
    "TradeDecision",
    "volatility_confidence",
]
