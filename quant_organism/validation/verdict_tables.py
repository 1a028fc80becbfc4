"""The gates' verdicts as rows an operator reads: one row per candidate or rule, its outcome and the reason in words.

The verdicts themselves (validation/verdict.py, validation/documented.py) keep every figure; these rows pick what
explains a decision, rounded, with its unit, so the assets can show them as tables on their pages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from quant_organism.validation.documented import DocumentedVerdict
from quant_organism.validation.verdict import CandidateVerdict

CANDIDATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("candidate", "string"),
    ("rule", "string"),
    ("passed", "bool"),
    ("score", "float"),
    ("stages", "string"),
    ("reason", "string"),
)
RULE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rule", "string"),
    ("family", "string"),
    ("passed", "bool"),
    ("excess_sharpe", "float"),
    ("alpha_pct", "float"),
    ("beta", "float"),
    ("anytime_p", "float"),
    ("weeks", "int"),
    ("reason", "string"),
)

FAMILY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("family", "string"),
    ("passed", "bool"),
    ("level_pct", "float"),
    ("anytime_p", "float"),
    ("detectable_sharpe_50", "float"),
    ("detectable_sharpe_80", "float"),
    ("reason", "string"),
)


def candidate_rows(verdicts: Iterable[CandidateVerdict], rules: Mapping[str, str] | None = None) -> list[dict]:
    """One row per candidate of the search's gate: passed or not, its score, each stage's status, every reason; a rule
    tree's rule in one line (`rules`: candidate -> `rule_tree.describe`)."""
    rules = rules or {}
    rows = []
    for verdict in verdicts:
        stages = ", ".join(f"{name}: {result.status.value}" for name, result in verdict.stages.items())
        reason = "; ".join(verdict.reasons) or ("passed every stage" if verdict.passed else "; ".join(verdict.notes))
        score = None if verdict.score is None else round(float(verdict.score), 3)
        rows.append({"candidate": verdict.candidate_id, "rule": rules.get(verdict.candidate_id), "passed": bool(verdict.passed),
                     "score": score, "stages": stages, "reason": reason})  # fmt: skip
    return rows


def family_rows(verdict: DocumentedVerdict) -> list[dict]:
    """One row per documented family: its level, its closed test's anytime p, the Sharpe its test could see (annual,
    of excess returns, at 50% and 80% power), and the verdict in words."""
    return [
        {
            "family": f.family,
            "passed": bool(f.superior),
            "level_pct": _rounded(100.0 * f.level, 2),
            "anytime_p": _rounded(f.pvalue if f.tested else None, 4),
            "detectable_sharpe_50": _rounded(f.power.at_50 if f.power else None, 2),
            "detectable_sharpe_80": _rounded(f.power.at_80 if f.power else None, 2),
            "reason": _family_reason(f),
        }  # fmt: skip
        for f in verdict.families
    ]


def _family_reason(family) -> str:
    if not family.tested:
        return f"not judged: {family.reason}"
    test = f"anytime p {family.pvalue:.4f} against its level {family.level:.2%}"
    if family.superior:
        return f"passed: {test}; rules with an edge: {', '.join(family.superior)}"
    seen = f"; its test could see an annual excess Sharpe >= {family.power.at_50:.2f} half the time" if family.power else ""
    return f"nothing passed: {test}{seen}"


def rule_rows(verdict: DocumentedVerdict) -> list[dict]:
    """One row per documented rule: its family's test and level, its own figures, and why it passed or did not."""
    rows = []
    for family in verdict.families:
        for name in family.rules:
            evidence = verdict.rules.get(name)
            passed = name in family.superior
            rows.append({
                "rule": name, "family": family.family, "passed": passed,
                "excess_sharpe": _rounded(evidence.excess_sharpe if evidence else None, 2),
                "alpha_pct": _rounded(100.0 * evidence.alpha if evidence else None, 1),
                "beta": _rounded(evidence.beta if evidence else None, 2),
                "anytime_p": _rounded(math.exp(-evidence.log_e) if evidence else None, 4),
                "weeks": int(evidence.weeks) if evidence else 0,
                "reason": _rule_reason(family, passed, evidence),
            })  # fmt: skip
    return rows


def _rule_reason(family, passed: bool, evidence) -> str:
    if not family.tested:
        return f"not judged: {family.reason}"
    closed = f"its family's closed e-test at {family.level:.2%} (family anytime p {family.pvalue:.4f})"
    if passed:
        return f"passed {closed}"
    if evidence is None:
        return f"no record on the span ({closed})"
    return f"not passed: {closed}; its own excess Sharpe {evidence.excess_sharpe:.2f} over {evidence.weeks} weeks"


def _rounded(value: float | None, digits: int) -> float | None:
    return round(float(value), digits) if value is not None and math.isfinite(value) else None
