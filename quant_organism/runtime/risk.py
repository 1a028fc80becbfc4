"""Portfolio risk controls of the runtime: circuit breakers, a per-asset exposure cap, decay sizing.

The plan's numbers, as `RiskLimits` defaults:
- **circuit breakers**: a drawdown of the whole paper portfolio of `max_drawdown` (15%) from its peak,
  or a loss of `daily_loss` (5%) within one UTC day, flattens every position at the next open and
  suspends new entries until the next deployment (`PortfolioGuard.reset`, keyed by the deployment's
  version); exits still follow the strategies' signals;
- **per-asset cap**: the strategies' combined exposure to one coin never exceeds `max_asset_exposure`
  (15%) of capital; an entry that would break it is scaled down to the room left, or skipped;
- **decay**: a strategy in `decaying` status enters at `decay_size_factor` (50%) of its usual size.
Every decision is a `RiskEvent` (time, kind, strategy, coin, why) the paper ledger records. The
regime gene (strategies/regime_filter.py) is the strategy-level rule; these act on the portfolio.

`RiskLimits.off()` is neutral: the runtime then trades exactly what the backtest trades (replay parity).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from quant_organism.core.compiled.metric_kernels import fall_from

BREAKER_DRAWDOWN, BREAKER_DAILY_LOSS, ASSET_CAP, DECAY_SIZE, RESET = (
    "breaker_drawdown",
    "breaker_daily_loss",
    "asset_cap",
    "decay_size",
    "reset",
)
WEEKLY_STOP = "weekly_stop"  # a probation sleeve's week lost its stop (runtime/weekly_stop.py): flat until the week ends
VAR_SCALE = "var_scale"  # the book's value at risk is over the live session's limit: entries scaled (live_session.py)
POLICY = "policy"  # the operator's policy makes the runtime trade otherwise than the backtest from this bar


class RiskLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_drawdown: float | None = Field(0.15, gt=0.0, lt=1.0, description="portfolio drawdown that trips the breaker")
    daily_loss: float | None = Field(0.05, gt=0.0, lt=1.0, description="loss within one UTC day that trips the breaker")
    max_asset_exposure: float | None = Field(0.15, gt=0.0, le=1.0, description="combined exposure cap per coin")
    decay_size_factor: float = Field(0.5, gt=0.0, le=1.0, description="entry size multiplier of decaying strategies")

    @classmethod
    def off(cls) -> RiskLimits:
        return cls(max_drawdown=None, daily_loss=None, max_asset_exposure=None, decay_size_factor=1.0)


@dataclass(frozen=True)
class RiskEvent:
    time: pd.Timestamp
    kind: str
    strategy: str
    coin: str
    detail: str


@dataclass
class GuardState:
    """What the guard remembers between paper runs (saved in the ledger after every bar)."""

    version: str | None = None  # the deployment it guards; a new one resets the guard
    peak: float | None = None
    day: str | None = None
    day_start: float | None = None
    last_equity: float | None = None
    tripped: str | None = None  # why trading is suspended (None: not suspended)
    tripped_at: str | None = None
    sleeves: dict = field(default_factory=dict)  # the probation sleeves' weekly stops (weekly_stop.SleeveStops.state)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> GuardState:
        return cls(**json.loads(text)) if text else cls()


@dataclass
class PortfolioGuard:
    """The breakers' state machine over the portfolio's equity, one observation per bar time."""

    limits: RiskLimits
    state: GuardState = field(default_factory=GuardState)

    def reset(self, version: str | None, time: pd.Timestamp | None = None) -> list[RiskEvent]:
        """A new deployment starts with fresh breakers."""
        if self.state.version == version:
            return []
        was = self.state.tripped
        self.state = GuardState(version=version, sleeves=self.state.sleeves)  # a sleeve's week outlives a deployment
        if was and time is not None:
            return [RiskEvent(time, RESET, "*", "*", f"new deployment {version}: breakers reset (were tripped: {was})")]
        return []

    @property
    def suspended(self) -> bool:
        return self.state.tripped is not None

    def observe(self, time: pd.Timestamp, equity: float) -> RiskEvent | None:
        """Update with the portfolio's equity at `time`'s close; the trip, if this bar trips a breaker."""
        s, limits = self.state, self.limits
        day = time.strftime("%Y-%m-%d")
        if s.day != day:  # the day's loss is measured from the previous day's last close
            s.day, s.day_start = day, s.last_equity if s.last_equity is not None else equity
        s.last_equity = equity
        s.peak = equity if s.peak is None else max(s.peak, equity)
        if s.tripped is not None:
            return None
        drawdown = fall_from(s.peak, equity)
        day_loss = fall_from(s.day_start, equity) if s.day_start else 0.0
        if limits.max_drawdown is not None and drawdown >= limits.max_drawdown:
            kind, why = BREAKER_DRAWDOWN, f"portfolio drawdown {drawdown:.1%} >= {limits.max_drawdown:.0%}"
        elif limits.daily_loss is not None and day_loss >= limits.daily_loss:
            kind, why = BREAKER_DAILY_LOSS, f"loss {day_loss:.1%} since the day began >= {limits.daily_loss:.0%}"
        else:
            return None
        s.tripped, s.tripped_at = why, time.isoformat()
        return RiskEvent(time, kind, "*", "*", why + ": flatten all, no entries until the next deployment")
