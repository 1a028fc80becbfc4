"""The evolution report says why candidates failed, not only how many."""

from __future__ import annotations

import pandas as pd

from quant_organism.reporting.report import build_report, rejections, report_markdown


def _verdict(name: str, passed: bool, score: float, reasons: list[str]) -> dict:
    return {"candidate_id": name, "passed": passed, "score": score, "reasons": reasons}


VERDICTS = [
    _verdict("ema_crossover_3_aaaa0001", False, 0.41, [
        "backtest: oos_sharpe 0.41 < 1", "backtest: dsr 0.31 < 0.95", "deflated Sharpe ratio gate did not pass",
        "overall score 0.410 < 0.7"]),
    _verdict("rsi_filter_5_bbbb0002", False, 0.62, [
        "backtest: dsr 0.80 < 0.95", "replay: consistency 0.100 < 0.2 (sub-period returns [1%, -2%])",
        "deflated Sharpe ratio gate did not pass", "overall score 0.620 < 0.7"]),
    _verdict("sma_trend_4_cccc0003", True, 0.91, []),
]


def test_rejections_count_each_gate_once_per_candidate_and_name_the_closest_miss():
    summary = rejections(VERDICTS)
    assert summary["failed"] == 2
    assert summary["by_gate"] == {
        "backtest: dsr": 2, "deflated Sharpe ratio gate did not pass": 2, "overall score": 2,
        "backtest: oos_sharpe": 1, "replay: consistency": 1,
    }
    assert summary["closest"]["name"] == "rsi_filter_5_bbbb0002" and summary["closest"]["score"] == 0.62


def test_report_markdown_lists_the_gates_and_the_closest_miss():
    report = build_report(
        "2026-11-20", {"evaluations": 224}, pd.DataFrame({"status": ["ok"]}),
        {"verdicts": VERDICTS[:2], "stage_seconds": {"backtest": 0.3}},
        {"allocations": {}, "notes": ["no candidate passed validation: the previous deployment is kept unchanged"]}, [],
    )
    text = report_markdown(report)
    assert "Why 2 candidate(s) failed validation:" in text
    assert "| backtest: dsr | 2 |" in text and "| replay: consistency | 1 |" in text
    assert "Closest miss: rsi_filter_5_bbbb0002 (score 0.62):" in text
    assert "- replay: consistency 0.100 < 0.2 (sub-period returns [1%, -2%])" in text


def test_nothing_to_explain_when_every_candidate_passed():
    summary = rejections(VERDICTS[2:])
    assert summary == {"failed": 0, "by_gate": {}, "closest": None}
