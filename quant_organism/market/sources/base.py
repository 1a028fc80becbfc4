"""The interface every market source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import pandas as pd


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

    def whole_days(self, coin: str, interval: str = "1h") -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The first and last whole UTC days of `coin`'s history (midnight timestamps), None where the source
        does not say or its history goes on. The day of the last bar counts when that bar closes at midnight."""
        start, end = self.history_start(coin, interval), self.history_end(coin, interval)
        return (
            None if start is None else pd.Timestamp(start).ceil("D"),
            None if end is None else (pd.Timestamp(end) + pd.Timedelta(interval)).floor("D") - pd.Timedelta(days=1),
        )
