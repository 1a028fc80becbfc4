"""Portfolio construction as genes: a searched rule that trades the whole universe as one book.

A seed genome (genes.py) is one coin's signal, judged coin by coin; what works in crypto is built across coins: a
ranking, a volatility target, long/flat against long/short. A `PortfolioGenome` holds those choices as genes, each
from a short grid, so the search (evolution/portfolio_search.py) spends few effective trials and a rule it finds is
a readable book:

- `signal`: what each coin is scored by over `lookback` days: its trailing return (`momentum`), that return over
  its realised volatility (`risk_adjusted`), or its trailing mean funding rate (`funding`);
- `fade`: follow the score (long the high scores) or fade it (long the low ones: reversal, carry);
- `construction`: `time_series` (each coin long or short by the sign of its own score) or `cross_section` (coins
  ranked against each other, the top `quantile` long, the bottom short);
- `direction`: `long_short`, or `long_flat` (only the long side is held);
- `sizing`: `equal` weights, or `vol_target` (time series: each coin sized to `target_vol` from its realised
  volatility, at most twice its equal share; cross section: the book scaled to `target_vol` from its own returns);
- `rebalance`: the positions are set every `rebalance` calendar days and held between (sizing follows daily);
- `min_age`: a coin is traded only once it has this many days of closes (a universe filter: young listings out).
  Counted on the data the rule reads, so it is the coin's true age on every day at least `max(MIN_AGES)` days after
  that data begins: the held-out span and a paper book's history (runtime/rule_book.HISTORY_DAYS) start later.

The pre-registered rules are points of this space (`from_rule`): `ts_trend_60d_long_flat` is momentum, follow, time
series, long/flat, vol-targeted at 40%, daily; the search can find them and go past them. Weights at day t use
closes (and funding) up to t only, and rebalance days are calendar days, so a prefix of the data gives the same
weights (prefix invariance). Genes a construction does not read are fixed to one value (`canonical`), so two genomes
that trade the same book have one name: the name is the genome (`from_name`), and a deployment stores only it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from quant_organism.strategies.portfolio import (
    COIN_CAP,
    DAYS_PER_YEAR,
    VOL_DAYS,
    PortfolioRule,
    _book_scale,
    _checked_closes,
    _rebalance_days,
    held_positions,
    ranked_targets,
    realised_vol,
)

PREFIX = "searched."
SIGNALS = ("momentum", "risk_adjusted", "funding")
CONSTRUCTIONS = ("time_series", "cross_section")
DIRECTIONS = ("long_short", "long_flat")
SIZINGS = ("vol_target", "equal")
LOOKBACKS = (3, 5, 7, 10, 14, 20, 28, 30, 40, 60, 90, 120, 180)
QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5)
TARGET_VOLS = (0.1, 0.2, 0.3, 0.4, 0.6)
REBALANCES = (1, 3, 7, 14)
MIN_AGES = (0, 60, 120)
GRID: dict[str, tuple] = {
    "signal": SIGNALS,
    "fade": (False, True),
    "construction": CONSTRUCTIONS,
    "direction": DIRECTIONS,
    "lookback": LOOKBACKS,
    "quantile": QUANTILES,
    "sizing": SIZINGS,
    "target_vol": TARGET_VOLS,
    "rebalance": REBALANCES,
    "min_age": MIN_AGES,
}
"""Every gene and its values, in the order of a genome's index vector (the search's representation)."""
WARMUP_DAYS = max(LOOKBACKS) + VOL_DAYS + max(MIN_AGES)
"""Days of history before a genome's weights are what a longer history gives (its longest score, volatility and age)."""


@dataclass(frozen=True)
class PortfolioGenome:
    """One searched portfolio rule (see the module docstring); build it with `canonical` or `from_indices`."""

    signal: str = "momentum"
    fade: bool = False
    construction: str = "time_series"
    direction: str = "long_short"
    lookback: int = 60
    quantile: float = 0.0
    sizing: str = "vol_target"
    target_vol: float = 0.4
    rebalance: int = 1
    min_age: int = 0

    def __post_init__(self) -> None:
        for gene, values in GRID.items():
            value = getattr(self, gene)
            if value not in values and not (gene in ("quantile", "target_vol") and value == 0.0):
                raise ValueError(f"portfolio gene {gene}={value!r} is not one of {values}")

    @property
    def canonical(self) -> PortfolioGenome:
        """The same book with the genes it does not read fixed: no quantile in a time series, no target when equal."""
        return replace(
            self,
            quantile=self.quantile if self.construction == "cross_section" else 0.0,
            target_vol=self.target_vol if self.sizing == "vol_target" else 0.0,
        )

    @property
    def name(self) -> str:
        """The strategy name it trades under: every gene it reads, so `from_name(name)` is the genome."""
        g = self.canonical
        parts = [g.signal, "fade" if g.fade else "follow", g.construction, g.direction, f"L{g.lookback}"]
        if g.construction == "cross_section":
            parts.append(f"q{round(g.quantile * 100)}")
        parts.append(f"vol{round(g.target_vol * 100)}" if g.sizing == "vol_target" else "equal")
        parts += [f"r{g.rebalance}", f"age{g.min_age}"]
        return PREFIX + ".".join(parts)

    @property
    def family(self) -> str:
        """The family death reports and the retrospective group it under: its construction and signal."""
        return f"searched_{self.construction}_{self.signal}"

    @property
    def needs_funding(self) -> bool:
        return self.signal == "funding"

    def to_dict(self) -> dict:
        """The genome's name and genes, as a deployment's manifest keeps it."""
        return {"name": self.name, "family": self.family, **asdict(self.canonical)}

    def weights(
        self, closes: pd.DataFrame, members: pd.DataFrame | None = None, funding: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Target weights per day and coin (0 off the universe), from data up to each day only."""
        closes = _checked_closes(closes)
        return construct(self, closes, eligible_coins(closes, members, self.min_age), score(self, closes, funding))


def from_indices(indices) -> PortfolioGenome:
    """The canonical genome of one index per gene (the search's individual)."""
    values = {gene: GRID[gene][int(i)] for gene, i in zip(GRID, indices, strict=True)}
    return PortfolioGenome(**values).canonical


def from_name(name: str) -> PortfolioGenome:
    """The genome behind a `searched.` strategy name (ValueError for any other string)."""
    if not name.startswith(PREFIX):
        raise ValueError(f"{name!r} is not a searched portfolio rule's name (they start with {PREFIX!r})")
    parts = name[len(PREFIX) :].split(".")
    try:
        signal, fade, construction, direction, lookback, *rest = parts
        genes: dict = {"signal": signal, "fade": fade == "fade", "construction": construction, "direction": direction,
                       "lookback": int(lookback.removeprefix("L")), "quantile": 0.0}  # fmt: skip
        if construction == "cross_section":
            genes["quantile"] = int(rest.pop(0).removeprefix("q")) / 100
        sizing = rest.pop(0)
        genes |= {"sizing": "equal", "target_vol": 0.0} if sizing == "equal" else {
            "sizing": "vol_target", "target_vol": int(sizing.removeprefix("vol")) / 100}  # fmt: skip
        genes["rebalance"] = int(rest.pop(0).removeprefix("r"))
        genes["min_age"] = int(rest.pop(0).removeprefix("age"))
        if rest or fade not in ("fade", "follow"):
            raise ValueError(f"unexpected parts {rest}")
        genome = PortfolioGenome(**genes)
    except (ValueError, IndexError) as error:
        raise ValueError(f"{name!r} is not a searched portfolio rule's name: {error}") from None
    if genome.name != name:
        raise ValueError(f"{name!r} is not canonical; its genome is named {genome.name!r}")
    return genome


def from_rule(rule: PortfolioRule) -> PortfolioGenome:
    """The genome that trades a pre-registered rule's book (the space holds the documented tier)."""
    if rule.family == "ts_trend":
        return PortfolioGenome("momentum", False, "time_series", rule.direction, rule.lookback, 0.0, "vol_target",
                               rule.target_vol, rule.rebalance, 0)  # fmt: skip
    signal, fade = ("momentum", False) if rule.family == "xs_momentum" else ("funding", True)
    return PortfolioGenome(signal, fade, "cross_section", "long_short", rule.lookback, rule.quantile, "vol_target",
                           rule.target_vol, rule.rebalance, 0)  # fmt: skip


def eligible_coins(closes: pd.DataFrame, members: pd.DataFrame | None, min_age: int) -> pd.DataFrame:
    """Members (all coins with a close when None) with at least `min_age` days of closes before the day."""
    eligible = closes.notna() if members is None else (members.reindex_like(closes).fillna(False).astype(bool) & closes.notna())
    if min_age > 0:
        eligible &= closes.notna().cumsum() > min_age
    return eligible


def score(genome: PortfolioGenome, closes: pd.DataFrame, funding: pd.DataFrame | None) -> pd.DataFrame:
    """Each coin's score at each day, the sign set so that a high score is a long (`fade` flips it)."""
    if genome.signal == "funding":
        if funding is None:
            raise ValueError(f"{genome.name} ranks by funding; the panel has none")
        raw = funding.reindex_like(closes).rolling(genome.lookback, min_periods=genome.lookback).mean()
    else:
        raw = closes / closes.shift(genome.lookback) - 1.0
        if genome.signal == "risk_adjusted":
            raw = raw / (realised_vol(closes) * np.sqrt(genome.lookback / DAYS_PER_YEAR))
    return -raw if genome.fade else raw


def construct(genome: PortfolioGenome, closes: pd.DataFrame, eligible: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The book from its scores: positions set on rebalance days and held (a coin off the universe closed), then sized."""
    rebalance = _rebalance_days(closes.index, genome.rebalance)
    alive = eligible.to_numpy()
    if genome.construction == "time_series":
        vol = realised_vol(closes)
        ready = (eligible & scores.notna() & vol.notna() & (vol > 0)).to_numpy()
        signs = np.sign(scores.to_numpy(dtype=float))
        if genome.direction == "long_flat":
            signs = np.clip(signs, 0.0, None)
        raw = held_positions(np.where(ready, signs, 0.0), rebalance, ready)
        count = ready.sum(axis=1).astype(float)
        count[count == 0] = np.nan
        if genome.sizing == "vol_target":
            sized = np.clip(genome.target_vol / vol.to_numpy(), None, COIN_CAP)
            weights = np.where(ready, raw * sized, 0.0) / count[:, None]
        else:
            weights = np.where(ready, raw, 0.0) / count[:, None]
        return pd.DataFrame(np.nan_to_num(weights), index=closes.index, columns=closes.columns)
    targets = ranked_targets(scores.where(eligible).to_numpy(dtype=float), rebalance, genome.quantile, long_high=True)
    if genome.direction == "long_flat":
        targets = 2.0 * np.clip(targets, 0.0, None)  # the long tail alone, gross 1
    book = pd.DataFrame(held_positions(targets, rebalance, alive), index=closes.index, columns=closes.columns)
    if genome.sizing == "equal":
        return book
    return book.mul(_book_scale(closes, book, genome.target_vol), axis=0)
