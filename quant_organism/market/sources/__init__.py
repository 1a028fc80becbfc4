"""Market sources: synthetic (default, offline), hyperliquid (official SDK), files (CSV/Parquet import)."""

from __future__ import annotations

from quant_organism.market.sources.interface import (
    CoinHistoryError,
    MarketDataSource,
    common_days,
    history_notes,
    whole_day_spans,
)

__all__ = ["CoinHistoryError", "MarketDataSource", "common_days", "history_notes", "make_source", "whole_day_spans"]


def make_source(
    kind: str,
    *,
    seed: int = 7,
    coins: tuple[str, ...] | None = None,
    files_dir: str | None = None,
    base_url: str | None = None,
) -> MarketDataSource:
    """Build the named source; imports lazily so the synthetic default needs nothing else."""
    if kind == "synthetic":
        from quant_organism.market.sources.synthetic import SyntheticSource

        return SyntheticSource(seed=seed, coins=coins)
    if kind == "files":
        from quant_organism.market.sources.files import FileSource

        return FileSource(files_dir)
    if kind == "hyperliquid":
        from quant_organism.market.sources.hyperliquid import HyperliquidSource

        return HyperliquidSource(base_url=base_url) if base_url else HyperliquidSource()
    raise ValueError(f"unknown market source {kind!r}; expected synthetic, hyperliquid or files")
