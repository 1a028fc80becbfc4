"""Small PNG plots for asset metadata (embedded as Markdown data URIs) and report files.

Kept small (about 10-30 kB) because Dagster stores metadata in its event log.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only
import matplotlib.pyplot as plt
import pandas as pd

from quant_organism.core.metrics import growth


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def markdown_image(png: bytes, title: str) -> str:
    """Markdown that shows the PNG inline in the Dagster UI."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def fitness_over_generations(stats: pd.DataFrame, title: str = "fitness over generations") -> bytes:
    """Best and median score per generation (one line pair per batch/island, plus the overall best)."""
    figure, axis = plt.subplots(figsize=(7, 3.5))
    overall = stats.groupby("generation").agg(best=("best_score", "max"), median=("median_score", "median"))
    for _, group in stats.groupby("batch"):
        axis.plot(group["generation"], group["best_score"], color="tab:blue", alpha=0.15, linewidth=1)
    axis.plot(overall.index, overall["best"], color="tab:blue", linewidth=2, label="best (all islands)")
    axis.plot(overall.index, overall["median"], color="tab:orange", linewidth=2, label="median of island medians")
    axis.set_xlabel("generation")
    axis.set_ylabel("score")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    return _png(figure)


def equity_curves(curves: dict[str, pd.Series], title: str = "equity", benchmark: str | None = None) -> bytes:
    """Equity curves normalised to 1 at the start; `benchmark` (e.g. buy and hold) is drawn dashed."""
    figure, axis = plt.subplots(figsize=(7, 3.5))
    for name, curve in curves.items():
        curve = curve.dropna()
        if curve.empty:
            continue
        style = {"linestyle": "--", "color": "black", "linewidth": 1.5} if name == benchmark else {"linewidth": 1.2}
        axis.plot(curve.index, curve / curve.iloc[0], label=name, **style)
    axis.set_title(title)
    axis.set_ylabel("growth of 1")
    axis.grid(alpha=0.3)
    if curves:
        axis.legend(loc="upper left", fontsize=7)
    figure.autofmt_xdate()
    return _png(figure)


def pbo_logits(logits, pbo: float, title: str = "PBO: rank logits of the in-sample best, out of sample") -> bytes:
    """Histogram of the CSCV logits (left of 0: the in-sample best fell below the out-of-sample median)."""
    figure, axis = plt.subplots(figsize=(7, 3.0))
    axis.hist(logits, bins=40, color="tab:blue", alpha=0.8)
    axis.axvline(0.0, color="black", linestyle="--", linewidth=1)
    axis.set_title(f"{title} (PBO = {pbo:.2f})")
    axis.set_xlabel("logit of the relative out-of-sample rank")
    axis.grid(alpha=0.3)
    return _png(figure)


def power_curves(points: pd.DataFrame, title: str = "organism power vs planted Sharpe") -> bytes:
    """Share of runs deploying a capturing strategy against the measured planted Sharpe, one line per edge
    kind, with the naive in-sample-best rule dashed; error bars are the Wilson 95% intervals.
    `points`: columns kind, planted_sharpe, power, low, high, and optionally naive_rate."""
    figure, axis = plt.subplots(figsize=(7, 3.8))
    for kind, group in points.groupby("kind"):
        group = group.sort_values("planted_sharpe")
        x, y = group["planted_sharpe"], group["power"]
        line = axis.errorbar(x, y, yerr=[y - group["low"], group["high"] - y], marker="o", capsize=3, label=kind)
        if "naive_rate" in group:
            axis.plot(x, group["naive_rate"], linestyle="--", color=line[0].get_color(), alpha=0.6, label=f"{kind} (naive)")
    axis.axhline(0.8, color="grey", linewidth=0.8, linestyle=":")
    axis.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel("planted Sharpe (fixed rule after costs, mean over coins)")
    axis.set_ylabel("share of runs")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    return _png(figure)


def health_history(scores: pd.Series, title: str = "organism health score") -> bytes:
    """The health score over time, with the ok (0.8) and failing (0.5) lines."""
    figure, axis = plt.subplots(figsize=(7, 2.8))
    if len(scores):
        axis.plot(scores.index, scores.to_numpy(), marker="o", markersize=3, linewidth=1.2)
    axis.axhline(0.8, color="tab:green", linestyle="--", linewidth=1)
    axis.axhline(0.5, color="tab:red", linestyle="--", linewidth=1)
    axis.set_ylim(-0.05, 1.05)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _png(figure)


def regime_chart(regimes: pd.DataFrame, title: str = "market regimes and sentiment") -> bytes:
    """Top: the market index (growth of 1 from the factor's daily returns) with turbulent HMM days and
    high-volatility days shaded; bottom: Fear & Greed (0-100, gaps where missing) and the volatility percentile."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    days = pd.to_datetime(regimes.index)
    index = growth(regimes["market_return"])
    top.plot(days, index.to_numpy(), color="black", linewidth=1.2, label="market index")
    high = (regimes["vol_regime"] == "high").to_numpy()
    turbulent = (regimes["hmm_state"] == "turbulent").to_numpy()
    low, high_y = float(index.min()), float(index.max())
    top.fill_between(days, low, high_y, where=turbulent, color="tab:red", alpha=0.18, step="mid", label="HMM turbulent")
    top.fill_between(days, low, high_y, where=high, color="tab:orange", alpha=0.15, step="mid", label="high volatility")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=7)
    top.grid(alpha=0.3)
    bottom.plot(days, regimes["sentiment"].to_numpy(), color="tab:blue", linewidth=1.0, label="Fear & Greed")
    bottom.plot(days, 100 * regimes["vol_percentile"].to_numpy(), color="tab:gray", linewidth=0.8, label="vol percentile x100")
    for level in (25, 75):
        bottom.axhline(level, color="tab:blue", linestyle=":", linewidth=0.8)
    bottom.set_ylim(0, 100)
    bottom.legend(loc="upper left", fontsize=7)
    bottom.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _png(figure)


def research_memory(best: pd.DataFrame, gates: pd.DataFrame, families: pd.DataFrame, title: str = "across runs") -> bytes:
    """Three panels: best fitness per evolution date (every run), what rejects candidates, seed-family survival."""
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    if len(best):
        dates = pd.to_datetime(best["evolution_date"])
        axes[0].plot(dates, best["best_score"], marker="o", color="tab:blue", label="best of the date's runs")
        axes[0].plot(dates, best["mean_best_score"], marker=".", color="tab:orange", alpha=0.7, label="mean over runs")
        axes[0].legend(fontsize=7)
        axes[0].tick_params(axis="x", labelrotation=30, labelsize=7)
    axes[0].set_title("best fitness per night", fontsize=9)
    if len(gates):
        axes[1].barh(gates["rejected_by"].astype(str), gates["share"], color="tab:red")
        axes[1].set_xlim(0, 1)
    axes[1].set_title("candidates by the gate that rejected them", fontsize=9)
    if len(families):
        axes[2].barh(families["seed_type"].astype(str), families["survival"], color="tab:green")
        axes[2].set_xlim(0, 1)
        axes[2].tick_params(axis="y", labelsize=7)
    axes[2].set_title("seed-family survival through validation", fontsize=9)
    figure.suptitle(title, fontsize=10)
    return _png(figure)


def retrospective_curves(curves: pd.DataFrame, title: str = "retrospective") -> bytes:
    """The retrospective's four forward curves chained over every date (growth of 1)."""
    grown = {name: growth(curves[name]) for name in curves.columns} if len(curves) else {}
    return equity_curves(grown, f"{title}: forward, chained over the evolution dates", benchmark="buy_and_hold")
