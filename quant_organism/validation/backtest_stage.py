"""Stage 1, backtest validation: out-of-sample window, walk-forward folds, and the deflated Sharpe gate.

For each candidate and coin the vectorised backtest runs on the out-of-sample (OOS) window and on
`walk_forward_folds` consecutive sub-windows of the walk-forward (WF) window, each with warm-up
history and without lookahead (windowed.py states the convention). Coins are aggregated like
evolution's universal fitness: mean Sharpe, worst (largest) drawdown, win rate pooled over all trades,
total trade count. The WF window's figures aggregate its folds the same way (mean fold Sharpe, worst
fold drawdown, pooled win rate, total trades) and `consistency` is the share of folds whose mean
Sharpe is positive.

Checks (each failure becomes a reason): on OOS and on WF, Sharpe >= min_sharpe, max drawdown <=
max_drawdown, win rate >= min_win_rate, trades >= min_trades; WF consistency >= min_wf_consistency;
and the overfitting guard DSR >= min_dsr. The DSR uses the caller's trial statistics (how many
genomes evolution evaluated, the variance of their per-observation Sharpe ratios) and the
candidate's OOS returns: its Sharpe is the mean per-coin per-observation Sharpe (the statistic
evolution ranks by, so comparable with the trials), skew and kurtosis are the per-coin means, and T
is the shortest coin's bar count (coins are not independent samples).

Score in [0, 1] = threshold_weight * (share of checks met) + (1 - threshold_weight) * WF consistency.
The stage passes only when every check is met; the score ranks candidates within a status.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.deflated_sharpe import ReturnMoments, TrialStats, deflated_sharpe_ratio
from quant_organism.validation.result import StageResult, StageStatus
from quant_organism.validation.windowed import Window, run_window

STAGE = "backtest"
DSR_KEY = "deflated_sharpe"  # metrics[DSR_KEY]["passed"] tells the verdict whether the guard held


@dataclass(frozen=True)
class BacktestStageConfig:
    """Thresholds of the plan (Sharpe >= 1, drawdown <= 15%, win rate >= 40%, enough trades, DSR >= 0.95)."""

    min_sharpe: float = 1.0
    max_drawdown: float = 0.15
    min_win_rate: float = 0.40
    min_trades: int = 10  # per window, summed over coins
    min_dsr: float = 0.95
    min_wf_consistency: float = 0.5
    walk_forward_folds: int = 3
    warmup_bars: int | None = None  # None: all history before each window's end
    threshold_weight: float = 0.7
    costs: CostModel = field(default_factory=CostModel)
    consistency_period: str | int = "W"

    def __post_init__(self) -> None:
        for name in ("max_drawdown", "min_win_rate", "min_dsr", "min_wf_consistency", "threshold_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"BacktestStageConfig.{name} must be in [0, 1]; got {value!r}")
        if not math.isfinite(self.min_sharpe):
            raise ValueError(f"BacktestStageConfig.min_sharpe must be finite; got {self.min_sharpe!r}")
        if isinstance(self.min_trades, bool) or not isinstance(self.min_trades, int) or self.min_trades < 0:
            raise ValueError(f"BacktestStageConfig.min_trades must be an integer >= 0; got {self.min_trades!r}")
        if not isinstance(self.walk_forward_folds, int) or self.walk_forward_folds < 1:
            raise ValueError(f"BacktestStageConfig.walk_forward_folds must be >= 1; got {self.walk_forward_folds!r}")


def run_backtest_stage(
    candidates: Sequence[SeedGenes],
    frames: Mapping[str, pd.DataFrame],
    out_of_sample: Window | tuple,
    walk_forward: Window | tuple,
    trials: TrialStats,
    config: BacktestStageConfig = BacktestStageConfig(),
    *,
    registry=None,
) -> dict[str, StageResult]:
    """Stage-1 result per candidate, keyed by seed_id in candidate order.

    `frames`: per-coin strategy frames (market/frames.py) holding warm-up history before the windows.
    `trials`: what evolution evaluated (TrialStats.from_sharpes on the population's raw Sharpe ratios).
    """
    candidates = list(candidates)
    _check_inputs(candidates, frames, trials)
    oos, wf = Window.of(out_of_sample), Window.of(walk_forward)
    folds = wf.split(config.walk_forward_folds)
    kwargs = dict(
        warmup_bars=config.warmup_bars, costs=config.costs, consistency_period=config.consistency_period, registry=registry
    )

    oos_runs = {coin: run_window(candidates, frame, oos, **kwargs) for coin, frame in frames.items()}
    oos_runs = {coin: run for coin, run in oos_runs.items() if run is not None}
    if not oos_runs:
        raise ValueError(f"no coin has at least 2 bars in the out-of-sample window {oos.start} .. {oos.end}")
    fold_runs = []
    for fold in folds:
        runs = {coin: run_window(candidates, frame, fold, **kwargs) for coin, frame in frames.items()}
        fold_runs.append({coin: run for coin, run in runs.items() if run is not None})
    if not any(fold_runs):
        raise ValueError(f"no coin has at least 2 bars in any walk-forward fold of {wf.start} .. {wf.end}")

    results = {}
    for genes in candidates:
        sid = genes.seed_id
        oos_coins = {coin: _coin_figures(run.metrics.loc[sid]) for coin, run in oos_runs.items()}
        fold_figures = []
        for fold, runs in zip(folds, fold_runs):
            per_coin = {coin: _coin_figures(run.metrics.loc[sid]) for coin, run in runs.items()}
            fold_figures.append({**fold.to_dict(), **(_aggregate(per_coin) if per_coin else _empty())})
        moments = {coin: ReturnMoments.of(run.returns[sid].to_numpy()) for coin, run in oos_runs.items()}
        results[sid] = _judge(
            oos=oos, wf=wf, oos_coins=oos_coins, fold_figures=fold_figures, moments=moments,
            n_bars={coin: len(run.equity) for coin, run in oos_runs.items()}, trials=trials, config=config,
            skipped_coins=sorted(set(frames) - set(oos_runs)),
        )  # fmt: skip
    return results


def _judge(*, oos, wf, oos_coins, fold_figures, moments, n_bars, trials, config, skipped_coins) -> StageResult:
    oos_agg = _aggregate(oos_coins)
    ran = [f for f in fold_figures if f["coins"] > 0]
    wf_agg = _aggregate_folds(ran)
    dsr = _deflated(moments, n_bars, trials, config)

    checks = []
    for prefix, figures in (("oos", oos_agg), ("wf", wf_agg)):
        checks += [
            _check(f"{prefix}_sharpe", figures["sharpe"], ">=", config.min_sharpe),
            _check(f"{prefix}_max_drawdown", figures["max_drawdown"], "<=", config.max_drawdown),
            _check(f"{prefix}_win_rate", figures["win_rate"], ">=", config.min_win_rate),
            _check(f"{prefix}_trade_count", figures["trade_count"], ">=", config.min_trades),
        ]
    checks.append(_check("wf_consistency", wf_agg["consistency"], ">=", config.min_wf_consistency))
    checks.append(_check("dsr", dsr["dsr"], ">=", config.min_dsr))
    dsr["passed"] = checks[-1]["passed"]

    met = sum(c["passed"] for c in checks) / len(checks)
    consistency = wf_agg["consistency"] if _finite(wf_agg["consistency"]) else 0.0
    score = config.threshold_weight * met + (1.0 - config.threshold_weight) * consistency
    reasons = [c["reason"] for c in checks if not c["passed"]]
    metrics = {
        "out_of_sample": {**oos.to_dict(), **oos_agg, "per_coin": oos_coins, "skipped_coins": skipped_coins},
        "walk_forward": {**wf.to_dict(), **wf_agg, "folds": fold_figures},
        DSR_KEY: dsr,
        "checks": [{k: v for k, v in c.items() if k != "reason"} for c in checks],
        "score_parts": {"checks_met": met, "wf_consistency": consistency, "threshold_weight": config.threshold_weight},
    }
    status = StageStatus.PASSED if not reasons else StageStatus.FAILED
    return StageResult(STAGE, status, float(min(1.0, max(0.0, score))), _json_safe(metrics), reasons)


def _coin_figures(row: pd.Series) -> dict:
    names = ("sharpe", "max_drawdown", "win_rate", "trade_count", "total_return", "consistency", "fees", "funding")
    out = {name: float(row[name]) for name in names}
    out["trade_count"] = int(row["trade_count"])
    return out


def _aggregate(per_coin: Mapping[str, dict]) -> dict:
    """Across coins: mean Sharpe, worst drawdown, win rate pooled over trades, total trades."""
    rows = list(per_coin.values())
    trades = sum(r["trade_count"] for r in rows)
    winners = sum(r["win_rate"] * r["trade_count"] for r in rows if r["trade_count"] > 0)
    return {
        "coins": len(rows),
        "sharpe": float(np.mean([r["sharpe"] for r in rows])),
        "max_drawdown": float(max(r["max_drawdown"] for r in rows)),
        "win_rate": winners / trades if trades else math.nan,
        "trade_count": int(trades),
        "total_return": float(np.mean([r["total_return"] for r in rows])),
    }


def _aggregate_folds(folds: list[dict]) -> dict:
    """Across WF folds: mean fold Sharpe, worst fold drawdown, pooled win rate, total trades, and the
    share of folds with a positive Sharpe (consistency)."""
    if not folds:
        return {**_empty(), "folds_run": 0, "consistency": math.nan}
    trades = sum(f["trade_count"] for f in folds)
    winners = sum(f["win_rate"] * f["trade_count"] for f in folds if f["trade_count"] > 0)
    return {
        "folds_run": len(folds),
        "sharpe": float(np.mean([f["sharpe"] for f in folds])),
        "max_drawdown": float(max(f["max_drawdown"] for f in folds)),
        "win_rate": winners / trades if trades else math.nan,
        "trade_count": int(trades),
        "total_return": float(np.prod([1.0 + f["total_return"] for f in folds]) - 1.0),
        "consistency": float(np.mean([f["sharpe"] > 0 for f in folds])),
    }


def _empty() -> dict:
    nan = math.nan
    return {"coins": 0, "sharpe": nan, "max_drawdown": nan, "win_rate": nan, "trade_count": 0, "total_return": nan}


def _deflated(moments, n_bars, trials: TrialStats, config) -> dict:
    """The DSR figures of one candidate on its OOS returns (see the module docstring)."""
    out = {
        "n_trials": trials.n_trials,
        "trials_sharpe_variance": trials.sharpe_variance,
        "expected_max_sharpe": trials.expected_max_sharpe,
        "threshold": config.min_dsr,
    }
    moved = [m for m in moments.values() if m is not None]
    if not moved:  # never traded: flat equity carries no evidence of skill
        return {**out, "dsr": 0.0, "sharpe": 0.0, "skew": math.nan, "kurtosis": math.nan, "n_observations": 0,
                "note": "no out-of-sample return variance"}  # fmt: skip
    sharpe = float(np.mean([m.sharpe if m is not None else 0.0 for m in moments.values()]))
    skew = float(np.mean([m.skew for m in moved]))
    kurtosis = float(np.mean([m.kurtosis for m in moved]))
    n_obs = int(min(n_bars.values()))
    dsr = deflated_sharpe_ratio(sharpe, trials.n_trials, trials.sharpe_variance, skew, kurtosis, n_obs)
    return {**out, "dsr": dsr, "sharpe": sharpe, "skew": skew, "kurtosis": kurtosis, "n_observations": n_obs}


def _check(name: str, value: float, op: str, threshold: float) -> dict:
    ok = _finite(value) and (value >= threshold if op == ">=" else value <= threshold)
    shown = "n/a (no trades)" if name.endswith("win_rate") and not _finite(value) else _fmt(value)
    bad_op = "<" if op == ">=" else ">"
    if _finite(value):
        reason = f"{name} {shown} {bad_op} {_fmt(threshold)}"
    else:
        reason = f"{name} {shown}: needs {op} {_fmt(threshold)}"
    return {"name": name, "value": value, "op": op, "threshold": threshold, "passed": bool(ok), "reason": reason}


def _fmt(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.4g}" if _finite(value) else "n/a"


def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float, np.number)) and math.isfinite(float(value))


def _json_safe(value):
    """Plain JSON types: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return value


def _check_inputs(candidates, frames, trials) -> None:
    if not candidates:
        raise ValueError("no candidates to validate")
    for genes in candidates:
        if not isinstance(genes, SeedGenes):
            raise TypeError(f"candidates must be SeedGenes; got {type(genes).__name__}")
    ids = [g.seed_id for g in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError(f"candidate seed_ids must be unique; duplicates: {sorted({i for i in ids if ids.count(i) > 1})}")
    if not isinstance(frames, Mapping) or not frames:
        raise ValueError("frames must map at least one coin to its strategy frame")
    if not isinstance(trials, TrialStats):
        raise TypeError("trials must be a TrialStats (TrialStats.from_sharpes on the population's Sharpe ratios)")
