"""Research workflows: multi-phase runs (optimization, backtest, validation) over the evolution and validation layers."""
