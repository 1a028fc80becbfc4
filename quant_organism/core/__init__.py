"""The lowest layer: helpers every other layer may use (durable writes, UTC time, the bar contract,
time windows, per-date run artifacts). It imports nothing else from the package."""
