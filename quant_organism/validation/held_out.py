"""Stage 1, held-out evidence: the candidates judged on bars evolution never saw, under one multiple-testing gate.

Evidence is pooled where pooling is legitimate. Each candidate is backtested once over the whole held-out
span (out-of-sample then walk-forward, [oos.start, wf.end)) on every coin, with warm-up history and no
lookahead (windowed.py states the convention); its return is the equal-weight mean over coins per bar
(the universal strategy evolution ranked), compounded per UTC day. All K candidates' daily returns go
to one selection-aware test (superiority.py): Hansen's SPA for "does any candidate beat zero" and
Romano-Wolf StepM for which ones do, at family-wise error rate `alpha`. The null comes from the K
candidates actually judged on these days and their correlation (joint bootstrap), never from the
in-sample search, whose trials did not touch these bars. What is tested is each candidate's excess over
the beta-matched market (core/beta.py: r - beta m against the coins' equal-weight buy-and-hold, m,
on the same days), so market beta never counts as edge; each verdict reports its alpha and beta, and the
power planner (power.py) says which Sharpe the test could have seen.

A candidate passes when
- StepM puts it in the superior set (the statistical gate; its size is `alpha` for the whole family);
- its walk-forward return is positive (a regime that flipped after the out-of-sample window is not
  deployed; false-rejection rate for a true annualised Sharpe S over the WF years T: about Phi(-S*sqrt(T)),
  e.g. 9% for S = 3 over 73 days);
- it traded at least `min_trades` times over the span, all coins together (a rule that holds one
  position is a bet, not a strategy; no false rejection for the seed families at their gene bounds);
- its longest lookback (period genes, senkou period, ML train window plus lags) fits in the history
  before the held-out span on every coin: a strategy whose window never fills on the data it is given
  cannot trade as it was evaluated (runtime parity), so it is rejected with that reason.
There is no win-rate rule (trend following wins fewer than half its trades by construction) and no
drawdown rule (exposure is sized by the deployment's allocation, not here).

The deflated Sharpe ratio is reported, not gated: with the trials of this selection (K candidates, the
sampling variance 1/T of a per-period Sharpe estimate under the null), it says the same thing as the
gate in the language of Bailey & López de Prado.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.core.artifacts import json_safe
from quant_organism.core.beta import beta_matched_excess
from quant_organism.core.metrics import bars_per_year, figures
from quant_organism.core.windows import Window
from quant_organism.strategies.genes import GeneRole, SeedGenes, gene_space
from quant_organism.strategies.rule_tree import condition_windows, leaf_genomes
from quant_organism.validation.deflated_sharpe import ReturnMoments, deflated_sharpe_ratio
from quant_organism.validation.power import DetectableSharpe, plan
from quant_organism.validation.stage_result import StageResult, StageStatus
from quant_organism.validation.superiority import SuperiorityResult, superiority_test
from quant_organism.validation.tiers import GENOME_SEARCH_LEVEL
from quant_organism.validation.windowed import run_window

STAGE = "backtest"
GATE_KEY = "superiority"  # metrics[GATE_KEY]["passed"] tells the verdict whether the statistical gate held
DSR_KEY = "deflated_sharpe"


@dataclass(frozen=True)
class HeldOutConfig:
    """The gate's level and the sanity rules (see the module docstring for their error rates)."""

    alpha: float = GENOME_SEARCH_LEVEL  # family-wise, the seed-genome search's share of the night's 2.5% (validation/tiers.py)
    min_trades: int = 10
    require_positive_walk_forward: bool = True
    reps: int = 1000
    seed: int = 0
    costs: CostModel = field(default_factory=CostModel)

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"HeldOutConfig.alpha must be in (0, 1); got {self.alpha!r}")
        if isinstance(self.min_trades, bool) or not isinstance(self.min_trades, int) or self.min_trades < 0:
            raise ValueError(f"HeldOutConfig.min_trades must be an integer >= 0; got {self.min_trades!r}")
        if self.reps < 100:
            raise ValueError(f"HeldOutConfig.reps must be >= 100 bootstrap replications; got {self.reps!r}")


@dataclass
class HeldOutEvidence:
    """What the held-out backtests produced: per-bar and per-day returns (coins averaged), trades, windows."""

    bar_returns: pd.DataFrame  # index: bar open times of the span; columns: candidate names
    daily_returns: pd.DataFrame  # compounded per UTC day
    trades: dict[str, int]  # over the span, all coins
    win_rates: dict[str, float]  # pooled over all trades (reported only)
    out_of_sample: Window
    walk_forward: Window
    bars_per_year: float
    coins: tuple[str, ...]
    history_bars: int = 0  # bars before the held-out span, on the coin with the fewest (of those listed before it)
    market_daily: pd.Series | None = None  # the coins' equal-weight buy-and-hold, compounded per UTC day as daily_returns


def held_out_evidence(
    candidates: Sequence[SeedGenes],
    frames: Mapping[str, pd.DataFrame],
    out_of_sample: Window,
    walk_forward: Window,
    costs: CostModel = CostModel(),
) -> HeldOutEvidence:
    """Backtest every candidate over [oos.start, wf.end) on each coin (signals warmed up on the history
    before), averaging per-bar returns over the coins that have bars."""
    candidates = list(candidates)
    _check_candidates(candidates)
    if not out_of_sample.end == walk_forward.start:
        raise ValueError(f"the walk-forward window must follow the out-of-sample window; got {out_of_sample} {walk_forward}")
    span = Window(out_of_sample.start, walk_forward.end, "held_out")
    names = [g.seed_id for g in candidates]
    bar_returns, runs = window_returns(candidates, frames, span, costs)
    daily = daily_returns(bar_returns)
    trades = {n: int(sum(metrics.loc[n, "trade_count"] for metrics in runs.values())) for n in names}
    win_rates = {}
    for n in names:
        counts = [(metrics.loc[n, "win_rate"], metrics.loc[n, "trade_count"]) for metrics in runs.values()]
        total = sum(c for _, c in counts)
        win_rates[n] = sum(w * c for w, c in counts if c > 0) / total if total else math.nan
    first = next(iter(frames.values()))
    # a coin listed inside the span warms its signals up there (it trades once they fill, as paper trading would);
    # the coins that traded before the span say how much history the candidates' windows could have read
    before = [int((frames[coin].index < span.start).sum()) for coin in runs]
    history = min([b for b in before if b > 0] or [0])
    return HeldOutEvidence(
        bar_returns, daily, trades, win_rates, out_of_sample, walk_forward, bars_per_year(first.index), tuple(runs), history,
        daily_returns(buy_and_hold_returns(frames, bar_returns.index).to_frame("market"))["market"],
    )  # fmt: skip


def buy_and_hold_returns(frames: Mapping[str, pd.DataFrame], index: pd.DatetimeIndex) -> pd.Series:
    """Equal-weight buy-and-hold per-bar returns over `index` (close to close, coins averaged): the market the
    gate matches each candidate's beta to (compounded per day as the candidates' returns are), and the benchmark
    of the report and of the deployed set's superiority test."""
    parts = []
    for frame in frames.values():
        close = frame["close"]
        returns = close.pct_change().reindex(index)
        parts.append(returns)
    if not parts:
        return pd.Series(0.0, index=index)
    return pd.concat(parts, axis=1).mean(axis=1).fillna(0.0).astype(np.float64)


@dataclass(frozen=True)
class GateInputs:
    """What the gate tests: each candidate's daily excess over the beta-matched market, its alpha and beta, and
    the power planner's reading of that test."""

    excess: pd.DataFrame
    alphas: pd.Series  # annual
    betas: pd.Series
    reach: DetectableSharpe


def gate_inputs(evidence: HeldOutEvidence, alpha: float) -> GateInputs:
    days = evidence.daily_returns.index
    market = pd.Series(0.0, index=days) if evidence.market_daily is None else evidence.market_daily.reindex(days).fillna(0.0)
    excess, alphas, betas = beta_matched_excess(evidence.daily_returns, market)
    return GateInputs(excess, alphas, betas, plan(excess.to_numpy(), alpha))


RETURNS_MEMORY_BYTES = 32 * 2**20
"""Per-bar returns held at once for the mean over coins (8 bytes per candidate, coin and bar in the window): more
candidates than fit are backtested in groups. 200 sampled individuals x 50 coins x a 219-day train window are
420 MB, and the mean's concat held them twice: the one-process 50-coin run peaked there. A candidate's backtest
does not depend on the others in its batch, so the groups change no value."""


def window_returns(
    candidates: Sequence[SeedGenes], frames: Mapping[str, pd.DataFrame], window: Window, costs: CostModel = CostModel()
) -> tuple[pd.DataFrame, dict]:
    """Per-bar returns of each candidate on `window`, the equal-weight mean over the coins with bars there
    (columns = seed_ids), and the per-coin backtests' metrics (coin -> metrics frame).

    Each coin's detailed backtest is dropped once its returns are taken: 200 sampled individuals x 50 coins
    x a train window kept every coin's equity, positions and trades alive at once (about 1 GB). Candidates are
    taken in groups within `RETURNS_MEMORY_BYTES`."""
    candidates = list(candidates)
    bars = sum(int(((f.index >= window.start) & (f.index < window.end)).sum()) for f in frames.values())
    group = max(1, RETURNS_MEMORY_BYTES // (8 * max(1, bars)))
    if len(candidates) <= group:
        return _grouped_returns(candidates, frames, window, costs)
    parts = [_grouped_returns(candidates[k : k + group], frames, window, costs) for k in range(0, len(candidates), group)]
    returns = pd.concat([r for r, _ in parts], axis=1)
    return returns, {coin: pd.concat([m[coin] for _, m in parts]) for coin in parts[0][1]}


def _grouped_returns(
    candidates: Sequence[SeedGenes], frames: Mapping[str, pd.DataFrame], window: Window, costs: CostModel
) -> tuple[pd.DataFrame, dict]:
    names = [g.seed_id for g in candidates]
    returns, metrics = [], {}
    for coin, frame in frames.items():
        run = run_window(candidates, frame, window, costs=costs)
        if run is not None:
            returns.append(run.returns[names])
            metrics[coin] = run.metrics
    if not metrics:
        raise ValueError(f"no coin has at least 2 bars in the window {window.start} .. {window.end}")
    return pd.concat(returns).groupby(level=0).mean().sort_index(), metrics


def daily_returns(bar_returns: pd.DataFrame) -> pd.DataFrame:
    """Per-bar returns compounded per UTC day (NaN on a day without a finite bar: an incumbent's days before
    its own evidence ends are not zero returns, they are not its evidence)."""
    return (1.0 + bar_returns).groupby(bar_returns.index.floor("D")).prod(min_count=1) - 1.0


def forward_returns(
    incumbents: Mapping[str, tuple[SeedGenes, pd.Timestamp]],
    frames: Mapping[str, pd.DataFrame],
    span: Window,
    costs: CostModel = CostModel(),
) -> pd.DataFrame:
    """Per-bar returns of live strategies on `span`, only on the bars after the data that chose them.

    `incumbents`: name -> (genes, since), `since` the end of the bars its own evolution and validation saw.
    Earlier bars are NaN: a strategy already chosen on a span is never judged again on it (its forward
    record is what counts; paper trading reproduces these returns bar for bar, runtime/parity.py)."""
    if not incumbents:
        return pd.DataFrame()
    genes = [g.model_copy(update={"seed_id": name}) for name, (g, _) in incumbents.items()]
    returns, _ = window_returns(genes, frames, span, costs)
    for name, (_, since) in incumbents.items():
        returns.loc[returns.index < since, name] = np.nan
    return returns


def run_held_out_stage(
    candidates: Sequence[SeedGenes],
    frames: Mapping[str, pd.DataFrame],
    out_of_sample: Window,
    walk_forward: Window,
    config: HeldOutConfig = HeldOutConfig(),
) -> tuple[dict[str, StageResult], HeldOutEvidence, SuperiorityResult]:
    """Stage-1 result per candidate (keyed by seed_id, candidate order), the evidence, and the gate's test."""
    evidence = held_out_evidence(candidates, frames, out_of_sample, walk_forward, config.costs)
    inputs = gate_inputs(evidence, config.alpha)
    test = superiority_test(inputs.excess, alpha=config.alpha, reps=config.reps, seed=config.seed)
    results = {g.seed_id: judge(g.seed_id, evidence, test, config, history_bars(g), inputs) for g in candidates}
    return results, evidence, test


def window_figures(returns: pd.Series, bars_per_year: float) -> dict[str, float]:
    """Annualised Sharpe, total return and max drawdown of one per-bar return series (core/metrics.py);
    NaN figures for a window of fewer than two bars, which has no return spread to judge."""
    values = returns.to_numpy(dtype=np.float64)
    if len(values) < 2:
        return {"sharpe": math.nan, "total_return": math.nan, "max_drawdown": math.nan, "bars": len(values)}
    measured = figures(values, bars_per_year)
    return {key: measured[key] for key in ("sharpe", "total_return", "max_drawdown")} | {"bars": int(len(values))}


HISTORY_ROLES = frozenset({GeneRole.WINDOW, GeneRole.EXTENDS, GeneRole.TRAINING})
"""Roles whose values are bars of history a genome reads before its first signal."""
NO_HISTORY_ROLES = frozenset(
    {GeneRole.HOLDING, GeneRole.SCHEDULE, GeneRole.THRESHOLD, GeneRole.MODEL, GeneRole.RISK, GeneRole.REGIME, GeneRole.UNUSED}
)
"""Roles that need no history: a time stop of 500 bars is not 500 bars of data needed."""


def history_bars(genes: SeedGenes) -> int:
    """Bars of history the genome needs before its signals are what its backtest computed, from its seed's own
    declaration (`gene_space(...)[name].role`): the longest window with the genes that extend it (a %D on its %K,
    a slope or a displacement), plus a model's training rows, which come after every feature's own window. A role
    this function does not know is an error, not a guess (test_validation_held_out.py runs every seed). A rule tree
    needs what its longest leaf or volatility condition needs."""
    if genes.rule is not None:  # a rule tree: its longest leaf or volatility condition
        return max([history_bars(leaf) for leaf in leaf_genomes(genes.rule)] + condition_windows(genes.rule), default=0)
    space = gene_space(genes.seed_type)
    values = genes.gene_values()
    windows: dict[str, int] = {}
    extra_everywhere = 0
    extensions: list[tuple[str, int]] = []
    for name, spec in space.items():
        if spec.role not in HISTORY_ROLES:
            if spec.role not in NO_HISTORY_ROLES:
                raise ValueError(
                    f"{genes.seed_type.value}.{name}: validation does not know what role {spec.role.value!r} costs in history"
                )
            continue
        value = int(values[name])
        if spec.role is GeneRole.WINDOW:
            windows[name] = value
        elif spec.role is GeneRole.TRAINING or spec.of is None:
            extra_everywhere += value
        else:
            extensions.append((spec.of, value))
    for window, value in extensions:
        windows[window] += value
    return max(windows.values(), default=0) + extra_everywhere


def judge(
    name: str,
    evidence: HeldOutEvidence,
    test: SuperiorityResult,
    config: HeldOutConfig,
    lookback: int = 0,
    inputs: GateInputs | None = None,
) -> StageResult:
    """Stage 1 for one candidate from the shared evidence and test (the rules of the module docstring)."""
    returns = evidence.bar_returns[name]
    oos = window_figures(returns[returns.index < evidence.out_of_sample.end], evidence.bars_per_year)
    wf = window_figures(returns[returns.index >= evidence.walk_forward.start], evidence.bars_per_year)
    pooled = window_figures(returns, evidence.bars_per_year)
    stats = test.candidates.get(name, {})
    superior = name in test.superior
    trades = evidence.trades[name]
    reasons = []
    if not superior:
        why = stats.get("reason") or (
            f"held-out t = {_fmt(stats.get('t_stat'))} is not significant against the {len(test.candidates)} "
            f"candidates judged (StepM, family-wise alpha {config.alpha:g}; SPA p = {_fmt(test.spa_pvalue)})"
        )
        if inputs is not None:
            why += f"; {inputs.reach.sentence()}"
        reasons.append(f"superiority: no excess over the beta-matched market: {why}")
    if config.require_positive_walk_forward and not (wf["total_return"] > 0):
        reasons.append(f"walk_forward_return {_fmt(wf['total_return'])} is not positive")
    if trades < config.min_trades:
        reasons.append(f"trade_count {trades} over the held-out span < {config.min_trades}")
    if lookback > evidence.history_bars:
        reasons.append(f"lookback {lookback} bars exceeds the {evidence.history_bars} bars of history before the "
                       "held-out span: its window never fills on the data it would trade")  # fmt: skip
    t_stat = stats.get("t_stat")
    score = float(_normal_cdf(t_stat)) if t_stat is not None and math.isfinite(t_stat) else 0.0
    daily = evidence.daily_returns[name].to_numpy()
    metrics = {
        "held_out": {**Window(evidence.out_of_sample.start, evidence.walk_forward.end).to_dict(), **pooled,
                     "trade_count": trades, "win_rate": evidence.win_rates[name], "days": int(len(daily))},
        "out_of_sample": {**evidence.out_of_sample.to_dict(), **oos},
        "walk_forward": {**evidence.walk_forward.to_dict(), **wf},
        GATE_KEY: {"passed": superior, "t_stat": t_stat, "spa_pvalue": test.spa_pvalue, "alpha": config.alpha,
                   "candidates_judged": test.n_candidates, "block_size": test.block_size,
                   "tested": "excess over the beta-matched equal-weight market",
                   **({} if inputs is None else {"alpha_annual": float(inputs.alphas[name]), "beta": float(inputs.betas[name]),
                                                 **inputs.reach.to_dict()})},
        DSR_KEY: _deflated(daily, test.n_candidates),
        "coins": list(evidence.coins),
    }  # fmt: skip
    status = StageStatus.FAILED if reasons else StageStatus.PASSED
    return StageResult(STAGE, status, min(1.0, max(0.0, score)), json_safe(metrics), reasons)


def _deflated(daily: np.ndarray, n_candidates: int) -> dict:
    """DSR of the daily returns against the best of `n_candidates` null Sharpe estimates on these days."""
    moments = ReturnMoments.of(daily)
    if moments is None or n_candidates < 1:
        return {"dsr": 0.0, "note": "no return variance"}
    variance = 1.0 / max(len(daily) - 1, 1)  # sampling variance of a per-period Sharpe estimate under the null
    dsr = deflated_sharpe_ratio(moments.sharpe, n_candidates, variance, moments.skew, moments.kurtosis, len(daily))
    return {"dsr": dsr, "sharpe_per_day": moments.sharpe, "n_trials": n_candidates, "trials_sharpe_variance": variance}


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) and math.isfinite(value) else "n/a"


def _check_candidates(candidates: Sequence[SeedGenes]) -> None:
    if not candidates:
        raise ValueError("no candidates to validate")
    for genes in candidates:
        if not isinstance(genes, SeedGenes):
            raise TypeError(f"candidates must be SeedGenes; got {type(genes).__name__}")
    ids = [g.seed_id for g in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError(f"candidate seed_ids must be unique; duplicates: {sorted({i for i in ids if ids.count(i) > 1})}")
