"""Market data: sources (synthetic, hyperliquid, files), the Parquet lake, and quality rules."""
