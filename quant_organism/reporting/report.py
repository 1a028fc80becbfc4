"""The evolution report of one date: what was generated, validated and deployed, how long each phase
took and how often it succeeded, and the deployed set against buy-and-hold on the validation windows."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from quant_organism.core.metrics import growth


def deployed_equity(returns: pd.DataFrame, allocations: dict[str, float]) -> pd.Series:
    """Equity of the deployed mix (the rest in cash) from its strategies' per-bar returns, starting at 1."""
    if not allocations or returns.empty:
        return pd.Series(dtype=float)
    weights = pd.Series(allocations, dtype=float)
    mix = returns.reindex(columns=weights.index).fillna(0.0) @ weights
    return growth(mix)


def build_report(
    day: str,
    evolution_totals: dict[str, Any],
    batches: pd.DataFrame,
    validation: dict[str, Any],
    deployment: dict[str, Any],
    failures: list[dict[str, Any]],
    pbo: dict[str, Any] | None = None,
    post_mortems: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (counts per phase, timings, success rates, the deployed list, and the
    statistics that say how much to trust them: PBO of the selection, SPA of the candidates and of the set)."""
    verdicts = validation.get("verdicts", [])
    passed = [v for v in verdicts if v["passed"]]
    allocations = deployment.get("allocations", {})
    by_name = {v["candidate_id"]: v for v in verdicts}
    ok_batches = int((batches["status"] == "ok").sum()) if len(batches) else 0
    return {
        "post_mortems": [
            {
                "strategy": p.get("strategy"),
                "seed_type": p.get("seed_type"),
                "retired_on": p.get("retired_on"),
                "why": p.get("why"),
                "paper": p.get("paper"),
            }
            for p in (post_mortems or [])[:10]
        ],
        "evolution_date": day,
        "counts": {
            "generated": evolution_totals.get("evaluations", 0),
            "valid": evolution_totals.get("valid", 0),
            "validated_candidates": len(verdicts),
            "passed_validation": len(passed),
            "deployed": len(allocations),
        },
        "phases": {
            "evolution": {
                "wall_s": evolution_totals.get("wall_s"),
                "evaluations_per_s": evolution_totals.get("evaluations_per_s"),
                "executor": evolution_totals.get("executor"),
                "executor_reason": evolution_totals.get("executor_reason"),
                "none_valid": evolution_totals.get("none_valid"),  # why no individual was valid, when none was
                "success_rate": ok_batches / len(batches) if len(batches) else None,
                "failed_batches": batches[batches["status"] != "ok"].to_dict("records") if len(batches) else [],
            },
            "validation": {
                "wall_s": round(sum(validation.get("stage_seconds", {}).values()), 3),
                "stage_seconds": validation.get("stage_seconds", {}),
                "success_rate": len(passed) / len(verdicts) if verdicts else None,
            },
            "deployment": {
                "wall_s": deployment.get("wall_s"),
                "version": deployment.get("version"),
                "cash": deployment.get("cash"),
                "archived": deployment.get("archived", []),
                "notes": deployment.get("notes", []),
                "rejected": deployment.get("rejected", []),
            },
        },
        "deployed": [
            {"name": name, "allocation": weight, "validation_score": by_name.get(name, {}).get("score")}
            for name, weight in sorted(allocations.items(), key=lambda item: -item[1])
        ],
        "windows": evolution_totals.get("windows"),
        "statistics": {
            "pbo": (pbo or {}).get("pbo"),
            "pbo_detail": pbo,
            "candidates_spa_pvalue": (validation.get("superiority") or {}).get("spa_pvalue"),
            "candidates_superior": len((validation.get("superiority") or {}).get("superior", [])),
            "detectable_sharpe": validation.get("reach"),
            "deployed_set_spa": deployment.get("spa"),
            "spans": {  # the data each figure was computed on (DESIGN.md, "Evidence discipline")
                "pbo": "train: every individual the search tried (a uniform sample), on the window it was tried on",
                "candidates_spa_pvalue": "held-out: the gate's own test, on the windows it chose on",
                "detectable_sharpe": "held-out: what the gate's test could have seen (its days, effective candidates, level)",
                "deployed_set_spa": "held-out (in-selection): the set was chosen on these windows, so this is no "
                "independent evidence; forward figures are in runtime/paper_performance and organism/retrospective",
            },
        },
        "rejections": rejections(verdicts),
        "failures": failures,
    }


_STAGE_GATE = re.compile(r"^(\w+): ([A-Za-z_]+)")


def _gate(reason: str) -> str:
    """The gate a rejection reason names, without its figures ('backtest: dsr 0.09 < 0.95' -> 'backtest: dsr')."""
    if match := _STAGE_GATE.match(reason):
        return f"{match.group(1)}: {match.group(2)}"
    return reason


def rejections(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Why candidates failed: how many failed each gate, and the closest miss with its reasons.

    Tells a researcher whether to evolve longer, on more history, or to question a threshold.
    """
    failed = [v for v in verdicts if not v["passed"]]
    by_gate = Counter(gate for v in failed for gate in dict.fromkeys(_gate(r) for r in v.get("reasons", [])))
    closest = max(failed, key=lambda v: v.get("score") or 0.0, default=None)
    return {
        "failed": len(failed),
        "by_gate": dict(by_gate.most_common()),
        "closest": None
        if closest is None
        else {"name": closest["candidate_id"], "score": closest.get("score"), "reasons": closest.get("reasons", [])},
    }


def budget_summary(
    evolution: dict[str, Any] | None,
    validation: dict[str, Any] | None,
    used_s: float,
    report_cpu_s: float,
) -> dict[str, Any]:
    """Budget, time used and the compute cost of the run, from what each phase recorded.

    `evolution`: the population asset's budget record (total, shares, plan, evolution time and CPU);
    `validation`: the validation asset's; `used_s`: seconds since the run started, at the report's end."""
    evolution, validation = evolution or {}, validation or {}
    total = evolution.get("total_s")
    cpu_s = float(evolution.get("evolution_cpu_s") or 0.0) + float(validation.get("cpu_s") or 0.0) + float(report_cpu_s)
    price = float(evolution.get("cpu_hour_price") or 0.0)
    stopped = int(evolution.get("stopped_by_budget") or 0)
    cut = int(validation.get("cut_by_budget") or 0)
    return {
        "total_s": total,
        "shares": evolution.get("shares"),
        "used_s": round(float(used_s), 3),
        "within_budget": None if total is None else bool(used_s <= total),
        "evolution_used_s": evolution.get("evolution_used_s"),
        "validation_used_s": validation.get("used_s"),
        "evolution_stopped_by_budget": stopped,
        "validation_cut_by_budget": cut,
        "planned_evaluations": evolution.get("planned_evaluations"),
        "estimated_cpu_s": evolution.get("estimated_cpu_s"),
        "estimated_cost_usd": evolution.get("estimated_cost_usd"),
        "cost_limit": evolution.get("cost_limit"),
        "cpu_s": round(cpu_s, 3),
        "cost_usd": round(cpu_s / 3600.0 * price, 6),
        "cpu_hour_price": price,
    }


def budget_line(budget: dict[str, Any], generated: int) -> str:
    """One sentence: budget, time used, what the budget cut, and the cost."""
    if not budget:
        return ""
    total = budget.get("total_s")
    head = "Budget: unbounded" if total is None else f"Budget: {total:.4g} s"
    text = f"{head}; used {budget['used_s']:.1f} s"
    if total is not None:
        text += " (within budget)" if budget.get("within_budget") else f" (over budget by {budget['used_s'] - total:.1f} s)"
    if budget.get("evolution_stopped_by_budget"):
        text += (
            f"; evolution stopped at its share: {budget['evolution_stopped_by_budget']} islands cut, "
            f"{generated} of {budget.get('planned_evaluations')} planned evaluations (a smaller population)"
        )
    if budget.get("validation_cut_by_budget"):
        text += f"; validation ran out of time: {budget['validation_cut_by_budget']} candidates not replayed"
    text += (
        f". Compute: {budget['cpu_s']:.0f} CPU-s, ${budget['cost_usd']:.4f} at ${budget['cpu_hour_price']:g}/CPU-h "
        f"(estimated before the run: ${float(budget.get('estimated_cost_usd') or 0.0):.4f}"
        + (f", limit ${budget['cost_limit']:g})." if budget.get("cost_limit") is not None else ").")
    )
    return text


def report_markdown(report: dict[str, Any]) -> str:
    counts, phases = report["counts"], report["phases"]
    lines = [
        f"# Evolution report {report['evolution_date']}",
        "",
        "| phase | count | wall s | success rate |",
        "|---|---|---|---|",
        f"| generated (evaluated) | {counts['generated']} | {phases['evolution']['wall_s']} | "
        f"{_pct(phases['evolution']['success_rate'])} of islands |",
        f"| validated | {counts['passed_validation']} / {counts['validated_candidates']} | "
        f"{phases['validation']['wall_s']} | {_pct(phases['validation']['success_rate'])} |",
        f"| deployed | {counts['deployed']} | {phases['deployment']['wall_s']} | version {phases['deployment']['version']} |",
        "",
        f"Cash: {_pct(phases['deployment']['cash'])}. Archived (superseded): {len(phases['deployment']['archived'])}.",
    ]
    if report.get("budget"):
        lines += ["", budget_line(report["budget"], counts["generated"])]
    stats = report.get("statistics") or {}
    spa = stats.get("deployed_set_spa") or {}
    lines += [
        "",
        f"Statistics: [train] PBO of the search, over what it tried {_num(stats.get('pbo'))} (0 = stable edge, 0.5 = noise); "
        f"[held-out: the gate's own test] SPA p-value of the {report['counts']['validated_candidates']} candidates' excess over "
        f"the beta-matched market {_num(stats.get('candidates_spa_pvalue'))} ({stats.get('candidates_superior', 0)} superior at "
        f"the gate's level{'; ' + stats['detectable_sharpe']['sentence'] if stats.get('detectable_sharpe') else ''})"
        + (
            f"; [held-out, in-selection: not independent evidence] deployed set SPA p vs zero "
            f"{_num((spa.get('vs_zero') or {}).get('spa_pvalue'))}, vs buy & hold {_num((spa.get('vs_buy_and_hold') or {}).get('spa_pvalue'))}."
            if spa.get("vs_zero")
            else "."
        ),
        "Forward evidence (bars after the evolution date) is in runtime/paper_performance and organism/retrospective.",
    ]
    if report["deployed"]:
        lines += ["", "| deployed strategy | allocation | validation score |", "|---|---|---|"]
        lines += [f"| {d['name']} | {d['allocation']:.1%} | {_num(d['validation_score'])} |" for d in report["deployed"]]
    else:
        lines += ["", "No strategy passed validation: nothing new was deployed."]
    if phases["evolution"].get("none_valid"):
        lines.append(f"- {phases['evolution']['none_valid']}")
    for note in phases["deployment"]["notes"]:
        lines.append(f"- {note}")
    rejected = report.get("rejections") or {}
    if rejected.get("failed"):
        lines += [
            "",
            f"Why {rejected['failed']} candidate(s) failed validation:",
            "",
            "| gate | candidates failing it |",
            "|---|---|",
        ]
        lines += [f"| {gate} | {count} |" for gate, count in rejected["by_gate"].items()]
        closest = rejected["closest"]
        lines += ["", f"Closest miss: {closest['name']} (score {_num(closest['score'])}):"]
        lines += [f"- {reason}" for reason in closest["reasons"]]
    if report.get("post_mortems"):
        lines += ["", "Retired (death reports under strategies/post_mortems/):"]
        for post in report["post_mortems"]:
            record = post.get("paper") or {}
            lines.append(
                f"- {post['strategy']} ({post['seed_type']}), retired {post['retired_on']}: {post['why']}; "
                f"forward {record.get('days', 0)} days, Sharpe {_num(record.get('sharpe'))}"
            )
    if report["failures"]:
        lines += ["", f"Run failures recorded: {len(report['failures'])} (latest: {report['failures'][-1].get('job')})"]
    return "\n".join(lines)


def _pct(value) -> str:
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.0%}"


def _num(value) -> str:
    return "—" if value is None else f"{value:.2f}"
