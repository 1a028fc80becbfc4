"""The interface every market source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import pandas as pd

from quant_organism.market.schema import MarketDataError

WholeDays = tuple[pd.Timestamp | None, pd.Timestamp | None]


class MarketDataSource(ABC):
    """Fetches raw candles and funding rates for one coin over a half-open UTC range [start, end).

    Implementations return frames in the canonical schema (market/schema.py) without validating or
    repairing rows: quality rules judge them later, so bad rows reach quarantine instead of vanishing.
    Structural problems (unknown coin, missing columns, unreadable payload) raise MarketDataError.
    """

    name: str = "abstract"

    @abstractmethod
    def candles(self, coin: str, start: pd.Timestamp, end: pd.Timestamp, interval: str = "1h") -> pd.DataFrame:
        """Bars whose open time lies in [start, end)."""

    @abstractmethod
    def funding(self, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Funding rates whose time lies in [start, end)."""

    def undated_rows(self, coin: str, dataset: str) -> pd.DataFrame | None:
        """Rows the source holds for `coin` whose time cannot be placed on any day (for example a
        truncated epoch), each with a `reason`; ingest quarantines them. None: the source has no such notion."""
        return None

    def history_start(self, coin: str, interval: str = "1h") -> pd.Timestamp | None:
        """The first bar the source holds for `coin`, when it knows (files, synthetic); None otherwise.
        The main command starts ingesting there instead of asking for days no source can deliver."""
        return None

    def history_end(self, coin: str, interval: str = "1h") -> pd.Timestamp | None:
        """The last bar the source holds for `coin` when its history stops (files); None when it goes on."""
        return None

    def history_note(self, coin: str, interval: str = "1h") -> str | None:
        """A sentence a run should say about how the source makes `coin`'s bars (files: built from finer ones)."""
        return None

    def whole_days(self, coin: str, interval: str = "1h") -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The first and last whole UTC days of `coin`'s history (midnight timestamps), None where the source
        does not say or its history goes on. The day of the last bar counts when that bar closes at midnight."""
        start, end = self.history_start(coin, interval), self.history_end(coin, interval)
        return (
            None if start is None else pd.Timestamp(start).ceil("D"),
            None if end is None else (pd.Timestamp(end) + pd.Timedelta(interval)).floor("D") - pd.Timedelta(days=1),
        )


class CoinHistoryError(MarketDataError):
    """A coin's history cannot be read from the source (its file, say); `coin` names it."""

    def __init__(self, coin: str, message: str) -> None:
        super().__init__(message)
        self.coin = coin


def whole_day_spans(source: MarketDataSource, coins: Iterable[str], interval: str) -> dict[str, WholeDays]:
    """Each coin's first and last whole day (`MarketDataSource.whole_days`). Raises CoinHistoryError for the
    first coin whose history cannot be read."""
    spans = {}
    for coin in coins:
        try:
            spans[coin] = source.whole_days(coin, interval)
        except (MarketDataError, ValueError) as exc:
            raise CoinHistoryError(coin, str(exc)) from exc
    return spans


def history_notes(source: MarketDataSource, coins: Iterable[str], interval: str) -> list[str]:
    """What the source says about how it makes the coins' bars (`MarketDataSource.history_note`), for the terminal."""
    return [note for coin in coins if (note := source.history_note(coin, interval))]


def common_days(spans: dict[str, WholeDays]) -> WholeDays:
    """The first and last whole day every coin holds: the latest first day and the earliest last day (None where
    no coin's history says)."""
    starts = [start for start, _ in spans.values() if start is not None]
    ends = [end for _, end in spans.values() if end is not None]
    return (max(starts) if starts else None, min(ends) if ends else None)
