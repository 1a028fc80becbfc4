"""`python -m quant_organism.benchmarks organism --evidence`: the documented tier's size and power where real effects live.

Six years of daily bars on twenty coins (market/sources/planted_panel.py: fat tails, clustered volatility,
coins that list late and delist), with portfolio edges of annual Sharpe 1.0, 1.5 and 2.0 (time-series trend;
cross-sectional momentum) and three kinds of null: no edge, and a common bull drift with no edge at constant and at clustered
volatility (the beta nulls).
Each run judges the documented tier (validation/documented.py) on every day before the date exactly as the
chain does, then follows the next 180 days, which the gate never saw. It reports
- size: the share of null runs where any documented family passes anything (per tier family and pooled), and
  on the beta null the share that would put capital into a strategy (all of it false capital there);
- power: on trend markets the share where the trend family passes; on momentum markets, the momentum family;
- the power planner's detectable Sharpe beside the measured power;
- forward (the 180 days after the date): the tier's pick, the plain trend rule at its default, the naive
  "best rule in sample" and the equal-weight buy-and-hold;
with Wilson 95% intervals. A target is MET only when the interval's bound meets it.

Each run also takes the night's decision as the product takes it (deployment/night.decide, the function the nightly
deployment asset and `run_chain` call) on the tier's passers, their daily returns and the market, with no
incumbent and a fresh probation ledger: `deployed` is what would enter probation that night. Size and power are
reported on that too (the decision's correlation filter and Kelly sign may drop a passer; they never add one).

"Planted Sharpe" is the annual Sharpe of a reference rule of the capturing family after costs on the
evidence span: ts_trend_60d_long_short on trend markets (the grid's rule that matches the planted symmetric
trend), xs_momentum_14d on momentum markets. Strengths are calibrated once per kind on seeds the runs do not use.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.benchmarks.pooled import run_in_pool, wilson

FORWARD_DAYS = 180
REFERENCE = {"trend": "ts_trend_60d_long_short", "xs_momentum": "xs_momentum_14d"}
CAPTURING_FAMILY = {"trend": "ts_trend", "xs_momentum": "xs_momentum"}
GRID = {
    # kind -> (targets, runs per target)
    "null": ((0.0,), 40),
    "beta_null": ((0.0,), 40),
    "beta_null_clustered": ((0.0,), 40),
    "trend": ((1.0, 1.5, 2.0), 30),
    "xs_momentum": ((1.0, 1.5, 2.0), 15),
}
CALIBRATION_SEEDS = tuple(range(16))
NULLS = ("null", "beta_null", "beta_null_clustered")  # the beta nulls: constant volatility, and clustered as in the others


@dataclass(frozen=True)
class EvidenceSpec:
    kind: str
    target: float
    strength: float
    seed: int


def reference_sharpe(kind: str, strength: float, seed: int) -> float:
    """The reference rule's annual Sharpe on the evidence span of one market."""
    from quant_organism.core.metrics import sharpe
    from quant_organism.market.sources.planted_panel import PanelMarket
    from quant_organism.strategies.portfolio import rule_named
    from quant_organism.validation.documented import evidence_span, rule_returns

    market = PanelMarket(kind, strength, seed)
    panel = market.panel().until(market.evolution_date)
    returns = rule_returns(panel, (rule_named(REFERENCE[kind]),), universe(panel))
    span = evidence_span(panel.closes.index, market.evolution_date)
    return float(sharpe(returns.reindex(span).to_numpy()[:, 0], 365.0))


def universe(panel) -> pd.DataFrame:
    """Every coin with 60 days of history before the day, point in time (the panel has twenty)."""
    from quant_organism.market.universe import point_in_time_members

    return point_in_time_members(panel.dollar_volume, top_n=panel.closes.shape[1], min_history_days=60)


def calibrate(kind: str, target: float, seeds=CALIBRATION_SEEDS) -> float:
    """The strength whose mean reference Sharpe over the calibration seeds is `target` (bisection)."""
    low, high = 0.0, 8.0
    for _ in range(12):
        middle = 0.5 * (low + high)
        mean = float(np.mean([reference_sharpe(kind, middle, s) for s in seeds]))
        low, high = (middle, high) if mean < target else (low, middle)
    return 0.5 * (low + high)


def specs(first_seed: int = 5000) -> list[EvidenceSpec]:
    out, seed = [], first_seed
    for kind, (targets, runs) in GRID.items():
        for target in targets:
            strength = 0.0 if kind in NULLS else calibrate(kind, target)
            for _ in range(runs):
                out.append(EvidenceSpec(kind, target, strength, seed))
                seed += 1
    return out


def run_one(spec: EvidenceSpec) -> dict:
    from quant_organism.backtest.portfolio_returns import equal_weight_market
    from quant_organism.core.metrics import sharpe
    from quant_organism.deployment import documented_capital as tier
    from quant_organism.market.sources.planted_panel import PanelMarket
    from quant_organism.strategies.portfolio import DEFAULT_RULE, DOCUMENTED_RULES
    from quant_organism.validation.documented import judge_documented, rule_returns

    started = time.perf_counter()
    market = PanelMarket(spec.kind, spec.strength, spec.seed, forward_days=FORWARD_DAYS)
    panel = market.panel()
    members = universe(panel)
    date = market.evolution_date
    verdict = judge_documented(panel, date, members)
    families = {f.family: f for f in verdict.families}
    all_rules = tuple(r for rules in DOCUMENTED_RULES.values() for r in rules)
    returns = rule_returns(panel, all_rules, members)
    forward = returns.index > date
    span = (returns.index >= verdict.start) & (returns.index <= date)
    in_sample = {name: float(sharpe(returns.loc[span, name].to_numpy(), 365.0)) for name in returns.columns}
    naive = max(in_sample, key=in_sample.get)
    market_returns = equal_weight_market(panel.closes, members)
    pick = verdict.best()
    capturing = CAPTURING_FAMILY.get(spec.kind)
    trend = families["ts_trend"]

    deployed = night_decision(verdict, returns, market_returns, span, date)
    looks = nightly_looks(returns.loc[span], market_returns.loc[span]) if spec.kind in NULLS else {}
    deployed_families = {tier.rule_of(name).family for name in deployed}

    def forward_sharpe(name: str | None) -> float:
        return float(sharpe(returns.loc[forward, name].to_numpy(), 365.0)) if name else math.nan

    return {
        "kind": spec.kind,
        "target": spec.target,
        "seed": spec.seed,
        "strength": spec.strength,
        "evidence_days": verdict.n_days,
        "planted_sharpe": in_sample[REFERENCE[spec.kind]] if spec.kind in REFERENCE else in_sample[DEFAULT_RULE.name],
        "market_sharpe": verdict.market_sharpe,
        "passed": list(verdict.passed),
        "any_passed": bool(verdict.passed),
        "family_passed": {f.family: bool(f.superior) for f in verdict.families},
        "captured": bool(families[capturing].superior) if capturing else False,
        "deployed": deployed,
        "deployed_any": bool(deployed),
        "deployed_capturing": bool(capturing in deployed_families) if capturing else False,
        "pvalues": {f.family: f.pvalue for f in verdict.families},
        "detectable_50": {f.family: f.power.at_50 for f in verdict.families if f.power},
        "detectable_80": {f.family: f.power.at_80 for f in verdict.families if f.power},
        "trend_n_effective": trend.power.n_effective if trend.power else math.nan,
        "pick": pick,
        "pick_beta": verdict.rules[pick].beta if pick else math.nan,
        "forward_pick_sharpe": forward_sharpe(pick),
        "forward_default_sharpe": forward_sharpe(DEFAULT_RULE.name),
        "naive": naive,
        "forward_naive_sharpe": forward_sharpe(naive),
        "forward_market_sharpe": float(sharpe(market_returns.loc[forward].to_numpy(), 365.0)),
        "seconds": time.perf_counter() - started,
        **looks,
    }


LOOK_WEEKS = 104  # the looks of the nightly-size check: every week of the last two years before the date


def nightly_looks(returns: pd.DataFrame, market: pd.Series) -> dict:
    """On a null: did any family pass on any of the last `LOOK_WEEKS` weekly looks, by the tier's e-processes
    (validation/always_valid.py, the test the tier runs), and by a fresh one-sided t-test of each rule's daily excess
    at its family's level over its rules (Bonferroni) on each look (the nightly re-test the tier no longer runs)?"""
    from scipy.special import ndtri

    from quant_organism.core.beta import beta_matched_excess
    from quant_organism.core.metrics import sharpe
    from quant_organism.strategies.portfolio import DOCUMENTED_RULES
    from quant_organism.validation.always_valid import closed_passes, log_e_path, weekly_excess
    from quant_organism.validation.tiers import DOCUMENTED_FAMILY_LEVELS

    e_passed, fresh_passed = False, False
    for family, rules in DOCUMENTED_RULES.items():
        names = [r.name for r in rules if r.name in returns.columns]
        if not names or returns[names].abs().sum().sum() == 0.0:
            continue
        level = DOCUMENTED_FAMILY_LEVELS[family]
        paths = {}
        for name in names:
            weeks, bounds, _ = weekly_excess(returns[name], market)
            paths[name] = log_e_path(weeks, bounds)
        n = min(len(p) for p in paths.values())
        for k in range(max(0, n - LOOK_WEEKS), n):
            if closed_passes({name: float(paths[name][k]) for name in names}, level):
                e_passed = True
                break
        critical = float(ndtri(1.0 - level / len(names)))
        days = len(returns)
        for k in range(max(1, (days // 7) - LOOK_WEEKS), days // 7 + 1):  # each look: its beta and t from days up to it
            seen, _, _ = beta_matched_excess(returns[names].iloc[: 7 * k], market.iloc[: 7 * k])
            t = sharpe(seen.to_numpy(), 1.0) * math.sqrt(len(seen))
            if (np.nan_to_num(t, nan=-np.inf) > critical).any():
                fresh_passed = True
                break
    return {"nightly_e_passed": e_passed, "nightly_fresh_passed": fresh_passed}


def night_decision(verdict, returns: pd.DataFrame, market: pd.Series, span, date) -> list[str]:
    """The rules the night's decision (deployment/night.decide) puts on probation: the tier's passers on their daily
    returns over the evidence span, beside the market, nothing else live."""
    from quant_organism.deployment import documented_capital as tier
    from quant_organism.deployment.night import Night, decide

    days = returns.index[span]
    night = Night(
        day=pd.Timestamp(date).date(), verdicts=[], held_out=pd.DataFrame(index=days), market=market.loc[span],
        documented=tier.candidate_verdicts(verdict), rule_daily=returns.rename(columns=tier.documented_name),
    )  # fmt: skip
    return [c.name for c in decide(night).chosen]


def summarise(runs: list[dict]) -> tuple[pd.DataFrame, dict]:
    frame = pd.DataFrame(runs)
    rows = []
    for (kind, target), group in frame.groupby(["kind", "target"], sort=True):
        null = kind in NULLS
        hits = int(group["any_passed"].sum()) if null else int(group["captured"].sum())
        low, high = wilson(hits, len(group))
        placed = int(group["deployed_any"].sum()) if null else int(group["deployed_capturing"].sum())
        placed_low, placed_high = wilson(placed, len(group))
        family = "ts_trend" if null else CAPTURING_FAMILY[kind]
        rows.append({
            "kind": kind, "target": target, "runs": len(group),
            "planted_sharpe": group["planted_sharpe"].mean(),
            "rate": hits / len(group), "low": low, "high": high,
            "decided": placed / len(group), "decided_low": placed_low, "decided_high": placed_high,
            "planner_50": float(np.mean([d.get(family, math.nan) for d in group["detectable_50"]])),
            "planner_80": float(np.mean([d.get(family, math.nan) for d in group["detectable_80"]])),
            "any_pass": group["any_passed"].mean(),
            "fwd_pick": group["forward_pick_sharpe"].mean(skipna=True),
            "fwd_default": group["forward_default_sharpe"].mean(),
            "fwd_naive": group["forward_naive_sharpe"].mean(),
            "fwd_market": group["forward_market_sharpe"].mean(),
            "seconds": group["seconds"].mean(),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    nulls = frame[frame["kind"].isin(NULLS)]
    false_runs = int(nulls["any_passed"].sum())
    size_low, size_high = wilson(false_runs, len(nulls))
    per_family = {
        family: {"passes": int(sum(d[family] for d in nulls["family_passed"])), "runs": len(nulls)}
        for family in ("ts_trend", "xs_momentum", "funding_carry")
    }
    beta = frame[frame["kind"].isin(NULLS[1:])]
    trend = table[table["kind"] == "trend"].set_index("target")
    deployed_runs = int(nulls["deployed_any"].sum())
    deployed_low, deployed_high = wilson(deployed_runs, len(nulls))
    verdict = {
        "decision_size": deployed_runs / len(nulls) if len(nulls) else math.nan,
        "decision_size_ci": [deployed_low, deployed_high],
        "null_runs": len(nulls),
        "size": false_runs / len(nulls) if len(nulls) else math.nan,
        "size_ci": [size_low, size_high],
        "size_target_met": bool(len(nulls) >= 40 and false_runs / len(nulls) <= 0.05 and size_high <= 0.10),
        "size_per_family": per_family,
        "beta_null_capital_runs": int(beta["any_passed"].sum()),
        "beta_null_passes": [{"pick": r["pick"], "beta": r["pick_beta"]} for _, r in beta[beta["any_passed"]].iterrows()],
        "beta_null_runs": len(beta),
        "nightly_runs": int(nulls["nightly_e_passed"].notna().sum()) if "nightly_e_passed" in nulls else 0,
        "nightly_e": int(nulls["nightly_e_passed"].fillna(False).sum()) if "nightly_e_passed" in nulls else 0,
        "nightly_fresh": int(nulls["nightly_fresh_passed"].fillna(False).sum()) if "nightly_fresh_passed" in nulls else 0,
    }
    for target, goal in ((1.5, 0.8), (1.0, 0.4)):
        if target in trend.index:
            row = trend.loc[target]
            verdict[f"trend_power_at_{target}"] = {
                "power": float(row["rate"]), "ci": [float(row["low"]), float(row["high"])], "goal": goal,
                "point_meets": bool(row["rate"] >= goal), "met": bool(row["low"] >= goal),
                "decided": float(row["decided"]), "decided_ci": [float(row["decided_low"]), float(row["decided_high"])],
            }  # fmt: skip
    return table, verdict


def render(table: pd.DataFrame, verdict: dict, wall_s: float, command: str) -> str:
    shown = table.copy()
    shown["rate [95% CI]"] = [f"{r['rate']:.0%} [{r['low']:.0%}, {r['high']:.0%}]" for _, r in shown.iterrows()]
    shown["decided [95% CI]"] = [
        f"{r['decided']:.0%} [{r['decided_low']:.0%}, {r['decided_high']:.0%}]" for _, r in shown.iterrows()
    ]
    columns = ["kind", "target", "runs", "planted_sharpe", "rate [95% CI]", "decided [95% CI]", "planner_50", "planner_80", "any_pass",
               "fwd_pick", "fwd_default", "fwd_naive", "fwd_market", "seconds"]  # fmt: skip
    header = (
        "rate = on nulls the share of runs where any documented family passes (size), elsewhere the share where the "
        "capturing family passes (power); decided = the same counted on what the night's decision function "
        "(deployment/night.decide) puts on probation; planner_50/80 = the power planner's detectable Sharpe for that family "
        "(mean over runs); planted_sharpe = the reference rule's Sharpe on the evidence span; fwd_* = annual Sharpe "
        f"over the {FORWARD_DAYS} days after the date, never seen by the gate: the tier's pick (runs that pass), the "
        "trend rule at its pre-registered default, the naive in-sample best of the grid, equal-weight buy-and-hold"
    )
    lines = [f"$ {command}", header, shown[columns].to_markdown(index=False, floatfmt=".2f"), ""]
    fam = ", ".join(f"{k} {v['passes']}/{v['runs']}" for k, v in verdict["size_per_family"].items())
    lines.append(
        f"size (any family, {verdict['null_runs']} null runs incl. beta nulls): {verdict['size']:.1%} "
        f"(95% CI {verdict['size_ci'][0]:.1%}-{verdict['size_ci'][1]:.1%}); target <= 5% with the upper bound <= 10%: "
        f"{'MET' if verdict['size_target_met'] else 'NOT MET'}; per family: {fam}"
    )
    lines.append(
        f"size of the night's decision (any rule enters probation, {verdict['null_runs']} null runs): "
        f"{verdict['decision_size']:.1%} (95% CI {verdict['decision_size_ci'][0]:.1%}-{verdict['decision_size_ci'][1]:.1%})"
    )
    if verdict.get("nightly_runs"):
        e, fresh, n = verdict["nightly_e"], verdict["nightly_fresh"], verdict["nightly_runs"]
        lines.append(
            f"size across nights ({n} null runs, a look every week of the last {LOOK_WEEKS} weeks before the date): any "
            f"family passed on some look by the tier's e-processes {e}/{n} = {e / n:.1%} (95% CI "
            f"{wilson(e, n)[0]:.1%}-{wilson(e, n)[1]:.1%}); by a fresh one-look t-test at each family's level on each look "
            f"{fresh}/{n} = {fresh / n:.1%} (95% CI {wilson(fresh, n)[0]:.1%}-{wilson(fresh, n)[1]:.1%}), the nightly "
            "re-test the tier no longer runs"
        )
    picks = ", ".join(f"{p['pick']} (beta {p['beta']:.2f})" for p in verdict["beta_null_passes"]) or "none"
    lines.append(
        f"capital to a strategy on a beta null (common bull drift, no edge): {verdict['beta_null_capital_runs']} of "
        f"{verdict['beta_null_runs']} runs: {picks}"
    )
    for target in (1.5, 1.0):
        key = f"trend_power_at_{target}"
        if key in verdict:
            v = verdict[key]
            state = "MET" if v["met"] else ("point estimate meets, its lower bound does not" if v["point_meets"] else "NOT MET")
            lines.append(f"trend tier power at Sharpe {target}: {v['power']:.0%} (95% CI {v['ci'][0]:.0%}-{v['ci'][1]:.0%}); "
                         f"goal >= {v['goal']:.0%}: {state}; deployed by the night's decision: {v['decided']:.0%} "
                         f"(95% CI {v['decided_ci'][0]:.0%}-{v['decided_ci'][1]:.0%})")  # fmt: skip
    lines.append(f"wall time {wall_s:.0f} s")
    return "\n".join(lines)


def main(workers: int, out: Path, docs: bool) -> int:
    command = "python -m quant_organism.benchmarks organism --evidence"
    started = time.perf_counter()
    print("calibrating planted strengths (6-year, 20-coin daily markets) ...", flush=True)
    grid = specs()
    runs = run_in_pool(run_one, [(spec,) for spec in grid], workers, "evidence runs")
    wall_s = time.perf_counter() - started
    table, verdict = summarise(runs)
    text = render(table, verdict, wall_s, command)
    print(text)
    folder = out / "evidence"
    folder.mkdir(parents=True, exist_ok=True)
    ordered = sorted(runs, key=lambda r: (r["kind"], r["target"], r["seed"]))
    (folder / "runs.json").write_text(json.dumps(ordered, indent=1, default=str))
    (folder / "summary.md").write_text(text + "\n")
    (folder / "summary.json").write_text(
        json.dumps({"verdict": verdict, "table": table.to_dict("records"), "wall_s": wall_s}, indent=1, default=str)
    )
    print(f"wrote {folder}/summary.md, summary.json, runs.json")
    if docs:
        from quant_organism.benchmarks.docs_page import write_section

        print(f"wrote {write_section('organism (evidence, 1d)', command, text)}")
    return 0
