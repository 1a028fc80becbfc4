"""Validation: out-of-sample and walk-forward backtests, accelerated replay, testnet, overfitting guards."""
