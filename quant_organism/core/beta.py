"""Returns against the beta-matched market: what a strategy earns beyond the market exposure it carries.

A strategy's daily return r is regressed on the market's m (OLS with an intercept, over the span judged);
r - beta m is the return of the strategy hedged at its own beta, and its mean is Jensen's alpha. The gates
test that excess, not the return over cash: a long rule in a bull run carries beta and no alpha, and any
holder can buy beta for the cost of the market. The estimated beta's own error is of order 1/T and is left
out of the studentization, as in the usual time-series alpha test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.0


def beta_matched_excess(returns: pd.DataFrame, market: pd.Series) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """(r - beta m per column, annual alpha, beta): OLS of each column on the market with an intercept."""
    m = market.to_numpy(dtype=float)
    m_centred = m - m.mean()
    variance = float(m_centred @ m_centred)
    r = returns.to_numpy(dtype=float)
    betas = (m_centred @ (r - r.mean(axis=0))) / variance if variance > 0 else np.zeros(r.shape[1])
    excess = r - np.outer(m, betas)
    alphas = excess.mean(axis=0) * DAYS_PER_YEAR
    return (
        pd.DataFrame(excess, index=returns.index, columns=returns.columns),
        pd.Series(alphas, index=returns.columns),
        pd.Series(betas, index=returns.columns),
    )
