"""`python -m quant_organism.benchmarks organism --evidence --search-only`: the search's power alone, where real effects live.

The documented tier is off: what is measured is what the search finds by itself. The markets are `--evidence`'s
(market/sources/planted_panel.py: six years of daily bars on twenty coins, fat tails, clustered volatility, listings
and delistings), with time-series trend and cross-sectional momentum planted at a reference rule's annual Sharpe of
1.0, 1.5 and 2.0 (calibrated as `--evidence` calibrates them), and three nulls: none, a bull drift at constant
volatility, and at clustered volatility (the beta nulls).

Each run takes the production windows (the `full` preset fitted to the history before the date: train, then the
held-out days) and runs the portfolio search and its gate through the very function `run_chain` calls
(deployment/chain.portfolio_search), then the night's decision (deployment/night.decide) on what passed, with no
incumbent and a fresh probation ledger. Beside it, per run:
- **the oracle**: the planted reference rule itself judged by the same gate among the same number of candidates
  (the search's other candidates), at the same level, on the same held-out days: what a perfect selection would pass;
- **the arms**: the same run with the search on the night's own 216-day train window (the seed search's, the
  previous design) beside the production 548 days (evolution/portfolio_search.TRAIN_DAYS): the trade-off between
  selection and the gate, measured rather than modelled;
- **forward**: the 180 days after the date, never seen: the decided book (allocation-weighted, its weights set at the
  date's close), and the reference rule, pooled over deploying runs into a capture ratio with a bootstrap interval.

Reported with Wilson intervals: size (any pass, any decision) on each null kind; power (the gate passes, and the
decision deploys, a genome) per planted cell; rediscovery (the share of deployed genomes that are cross-sectional,
and vol-targeted, per market kind); the effective trials the search spent; wall time.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.benchmarks.pooled import moments, pooled_capture, run_in_pool, wilson

FORWARD_DAYS = 180
KINDS = {
    "null": (0.0,),
    "beta_null": (0.0,),
    "beta_null_clustered": (0.0,),
    "trend": (1.0, 1.5, 2.0),
    "xs_momentum": (1.0, 1.5, 2.0),
}
NULLS = ("null", "beta_null", "beta_null_clustered")
REFERENCE = {"trend": "ts_trend_60d_long_short", "xs_momentum": "xs_momentum_14d"}
ARMS = ("production", "night_train")  # the production settings, and the search on the night's 216-day train window
RUNS = 30
NULL_RUNS = 40  # a null kind's zero in 40 runs bounds its size below 9% (Wilson 95%)


@dataclass(frozen=True)
class SearchSpec:
    kind: str
    target: float
    strength: float
    seed: int
    arm: str


def specs(runs: int = RUNS, first_seed: int = 7000) -> list[SearchSpec]:
    """The grid, every arm on the same markets; strengths calibrated as `--evidence` calibrates them."""
    from quant_organism.benchmarks.evidence import calibrate

    out = []
    for kind, targets in KINDS.items():
        for target in targets:
            strength = 0.0 if kind in NULLS else calibrate(kind, target)
            for k in range(max(runs, NULL_RUNS) if kind in NULLS else runs):
                out += [SearchSpec(kind, target, strength, first_seed + 100 * KINDS_ORDER[kind] + k, arm) for arm in ARMS]
    return out


KINDS_ORDER = {kind: i for i, kind in enumerate(KINDS)}


def panel_frames(panel, until: pd.Timestamp | None = None) -> dict[str, pd.DataFrame]:
    """Per-coin daily bar frames (close, volume, funding_rate) of a planted panel: the shape the lake gives the chain."""
    frames = {}
    for coin in panel.closes.columns:
        close = panel.closes[coin]
        keep = close.notna() & (close.index <= until if until is not None else True)
        frame = pd.DataFrame({"close": close[keep], "volume": (panel.dollar_volume[coin] / close)[keep]})
        if panel.funding is not None:
            frame["funding_rate"] = panel.funding[coin][keep]
        if len(frame):
            frames[coin] = frame
    return frames


def run_one(spec: SearchSpec) -> dict:
    from quant_organism.deployment import documented_capital as documented
    from quant_organism.deployment.chain import ChainSettings, portfolio_search
    from quant_organism.deployment.night import Night, decide
    from quant_organism.evolution.date_windows import evolution_windows, slice_frame
    from quant_organism.evolution.evolution_config import load_preset
    from quant_organism.evolution.portfolio_search import PortfolioSearchSettings
    from quant_organism.market.sources.planted_panel import PanelMarket
    from quant_organism.strategies.portfolio import deployed_weights, rule_named
    from quant_organism.strategies.portfolio_genome import from_name, from_rule
    from quant_organism.validation.searched_rules import candidate_verdicts, held_out_only, judge

    started = time.perf_counter()
    market = PanelMarket(spec.kind, spec.strength, spec.seed, forward_days=FORWARD_DAYS)
    panel = market.panel()
    date = market.evolution_date
    everything = panel_frames(panel)
    history = (date - panel.closes.index[0]).days + 1
    evolution = load_preset("full").for_history(history)
    windows = evolution_windows(date.date(), evolution.lookback_days, evolution.split)
    frames = {c: f for c, f in ((c, slice_frame(f, windows.lookback)) for c, f in everything.items()) if len(f)}
    portfolio = PortfolioSearchSettings() if spec.arm == "production" else PortfolioSearchSettings(train_days=None)
    settings = ChainSettings(evolution=evolution, documented=False, portfolio=portfolio)
    verdict = portfolio_search(frames, windows, settings)

    seen = documented.frames_panel(frames)
    members = documented.universe(seen)
    oracle_passed = False
    if spec.kind in REFERENCE:  # the planted rule among the same number of candidates, the same gate and days
        reference = from_rule(rule_named(REFERENCE[spec.kind]))
        others = [g for g in verdict.candidates if g.name != reference.name][: len(verdict.candidates) - 1]
        result = _search_result(verdict, [reference, *others])
        oracle = judge(result, seen, members, verdict.held_out, date)
        oracle_passed = reference.name in oracle.passed

    passed = verdict.passed
    daily = documented.rule_daily_returns(frames, passed)
    daily = held_out_only(daily, {n: verdict.held_out.start for n in passed})
    days = seen.closes.index[seen.closes.index >= verdict.held_out.start]
    from quant_organism.backtest.portfolio_returns import equal_weight_market

    market_daily = equal_weight_market(seen.closes, members, seen.funding).reindex(days)
    night = Night(day=date.date(), verdicts=[], held_out=pd.DataFrame(index=days), market=market_daily,
                  documented=candidate_verdicts(verdict), rule_daily=daily)  # fmt: skip
    plan = decide(night)
    chosen = {c.name: c.allocation for c in plan.chosen}

    whole = documented.frames_panel(everything)
    whole_members = documented.universe(whole)
    forward = whole.closes.index > date
    since = date + pd.Timedelta(days=1)
    from quant_organism.backtest.portfolio_returns import portfolio_returns

    def forward_returns(rule) -> pd.Series:
        weights = deployed_weights(rule.weights(whole.closes, whole_members, whole.funding), since)
        return portfolio_returns(weights, whole.closes, None, whole.funding)[forward]

    book = None
    if chosen:
        total = sum(chosen.values()) or 1.0
        book = sum(forward_returns(from_name(n)) * (w / total) for n, w in chosen.items())
    reference_forward = forward_returns(rule_named(REFERENCE[spec.kind])) if spec.kind in REFERENCE else None
    genomes = [from_name(n) for n in chosen]
    best = verdict.best
    return {
        "kind": spec.kind,
        "target": spec.target,
        "seed": spec.seed,
        "arm": spec.arm,
        "train_days": (verdict.train.end - verdict.train.start).days,
        "held_out_days": verdict.held_out_days,
        "tried": verdict.tried,
        "effective_trials": verdict.effective_trials,
        "spa_pvalue": verdict.spa_pvalue,
        "passed": passed,
        "any_passed": bool(passed),
        "deployed": list(chosen),
        "deployed_any": bool(chosen),
        "oracle_passed": oracle_passed,
        "cross_section": [g.construction == "cross_section" for g in genomes],
        "vol_target": [g.sizing == "vol_target" for g in genomes],
        "best_train_sharpe": best.train_excess_sharpe if best else math.nan,
        "best_held_out_excess_sharpe": best.held_out_excess_sharpe if best else math.nan,
        "detectable_50": verdict.reach.at_50 if verdict.reach else math.nan,
        **(moments("fwd", book) if book is not None and reference_forward is not None else {}),
        **(moments("rule", reference_forward) if book is not None and reference_forward is not None else {}),
        "forward_sharpe": _sharpe(book) if book is not None else math.nan,
        "seconds": time.perf_counter() - started,
    }


def _search_result(verdict, candidates):
    """A search result holding `candidates` for the oracle's gate (the trials it needs: their train figures)."""
    from quant_organism.evolution.portfolio_search import PortfolioSearchResult, Trial

    trials = {g.name: Trial(g, math.nan, 0.0) for g in candidates}
    return PortfolioSearchResult(verdict.train, trials, list(candidates), {})


def _sharpe(returns: pd.Series) -> float:
    from quant_organism.core.metrics import sharpe

    return float(sharpe(returns.to_numpy(dtype=float), 365.0))


def summarise(runs: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    frame = pd.DataFrame(runs)
    rows = []
    for (arm, kind, target), group in frame.groupby(["arm", "kind", "target"], sort=True):
        n = len(group)
        hits = int(group["any_passed"].sum())
        placed = int(group["deployed_any"].sum())
        oracle = int(group["oracle_passed"].sum())
        cross = [x for xs in group["cross_section"] for x in xs]
        vol = [x for xs in group["vol_target"] for x in xs]
        capture = pooled_capture(group[group["deployed_any"]]) if kind not in NULLS else (math.nan,) * 3
        rows.append({
            "arm": arm, "kind": kind, "target": target, "runs": n,
            "train_days": int(group["train_days"].median()), "held_out_days": int(group["held_out_days"].median()),
            "passed": _rate(hits, n), "decided": _rate(placed, n),
            "oracle": _rate(oracle, n) if kind not in NULLS else "",
            "effective_trials": f"{group['effective_trials'].median():.0f} of {group['tried'].median():.0f}",
            "cross_section": f"{np.mean(cross):.0%}" if cross else "",
            "vol_target": f"{np.mean(vol):.0%}" if vol else "",
            "capture": f"{capture[0]:.2f} [{capture[1]:.2f}, {capture[2]:.2f}]" if np.isfinite(capture[0]) else "",
            "best_train": group["best_train_sharpe"].median(),
            "best_held_out": group["best_held_out_excess_sharpe"].median(),
            "seconds": group["seconds"].mean(),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    lines = []
    for arm, group in frame.groupby("arm"):
        nulls = group[group["kind"].isin(NULLS)]
        for kind, by_kind in nulls.groupby("kind"):
            k = int(by_kind["deployed_any"].sum())
            low, high = wilson(k, len(by_kind))
            met = "MET" if high <= 0.10 and k / len(by_kind) <= 0.05 else "NOT MET"
            lines.append(f"{arm}: size on {kind}: decided {k}/{len(by_kind)} = {k / len(by_kind):.1%} (95% CI {low:.1%}-"
                         f"{high:.1%}); target <= 5% (point <= 5%, upper bound <= 10%): {met}")  # fmt: skip
        k = int(nulls["deployed_any"].sum())
        low, high = wilson(k, len(nulls))
        lines.append(f"{arm}: size over every null kind: decided {k}/{len(nulls)} = {k / len(nulls):.1%} (95% CI "
                     f"{low:.1%}-{high:.1%}); target <= 5%: {'MET' if high <= 0.05 else 'NOT MET'} (upper bound <= 5%)")  # fmt: skip
        for kind in REFERENCE:
            for target, goal in ((2.0, 0.60), (1.5, 0.35)):
                cell = group[(group["kind"] == kind) & (group["target"] == target)]
                if len(cell):
                    k = int(cell["deployed_any"].sum())
                    low, high = wilson(k, len(cell))
                    state = (
                        "MET"
                        if low >= goal
                        else ("point estimate meets, its lower bound does not" if k / len(cell) >= goal else "NOT MET")
                    )
                    lines.append(f"{arm}: power on {kind} at Sharpe {target}: {k}/{len(cell)} = {k / len(cell):.0%} (95% CI "
                                 f"{low:.0%}-{high:.0%}); goal >= {goal:.0%}: {state}")  # fmt: skip
        deploying = group[group["deployed_any"] & group["kind"].isin(REFERENCE)]
        capture = pooled_capture(deploying)
        lines.append(f"{arm}: forward capture pooled over {len(deploying)} deploying planted runs: {capture[0]:.2f} "
                     f"(95% CI {capture[1]:.2f}-{capture[2]:.2f}); goal >= 0.5: {'MET' if capture[1] >= 0.5 else 'NOT MET'}")  # fmt: skip
    return table, lines


def _rate(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k / n:.0%} [{low:.0%}, {high:.0%}]"


def main(workers: int, out: Path, docs: bool, runs: int = RUNS) -> int:
    command = "python -m quant_organism.benchmarks organism --evidence --search-only" + (
        f" --runs {runs}" if runs != RUNS else ""
    )
    started = time.perf_counter()
    print("calibrating planted strengths (6-year, 20-coin daily markets) ...", flush=True)
    grid = specs(runs)
    results = run_in_pool(run_one, [(spec,) for spec in grid], workers, "search runs")
    wall_s = time.perf_counter() - started
    table, lines = summarise(results)
    header = (
        "The search alone (documented tier off): the portfolio search and its gate as run_chain calls them "
        "(deployment/chain.portfolio_search), then the night's decision; passed = the gate passes a genome, decided = "
        "the decision puts one on probation (power on planted markets, size on nulls), oracle = the planted reference "
        "rule passes the same gate among as many candidates on the same days; effective trials = Li & Ji over the train "
        "excess returns of every genome tried (median), of the distinct genomes tried; cross_section / vol_target = "
        "shares of the deployed genomes; capture = forward Sharpe of the decided books over the reference rule's, pooled "
        "over deploying runs (180 days after the date, never seen), 95% bootstrap interval; best_train / best_held_out = "
        "the search's first candidate's train and held-out excess Sharpe (medians)"
    )
    text = "\n".join(
        [f"$ {command}", header, table.to_markdown(index=False, floatfmt=".2f"), "", *lines, f"wall time {wall_s:.0f} s"]
    )
    print(text)
    folder = out / "search_evidence"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs.json").write_text(json.dumps(sorted(results, key=lambda r: (r["arm"], r["kind"], r["target"], r["seed"])),
                                                 indent=1, default=str))  # fmt: skip
    (folder / "summary.md").write_text(text + "\n")
    print(f"wrote {folder}/summary.md, runs.json")
    if docs:
        from quant_organism.benchmarks.docs_page import write_section

        print(f"wrote {write_section('organism (evidence, search only, 1d)', command, text)}")
    return 0
