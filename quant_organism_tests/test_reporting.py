"""The evolution report says why candidates failed, not only how many."""

from __future__ import annotations

import pandas as pd

from quant_organism.reporting.report import build_report, rejections, report_markdown


def _verdict(name: str, passed: bool, score: float, reasons: list[str]) -> dict:
    return {"candidate_id": name, "passed": passed, "score": score, "reasons": reasons}


VERDICTS = [
    _verdict(
        "ema_crossover_3_aaaa0001",
        False,
        0.41,
        [
            "backtest: superiority: not superior to zero: held-out t = 0.2 is not significant",
            "backtest: walk_forward_return -0.03 is not positive",
            "held-out superiority gate did not pass",
        ],
    ),
    _verdict(
        "rsi_filter_5_bbbb0002",
        False,
        0.62,
        [
            "backtest: superiority: not superior to zero: held-out t = 1.1 is not significant",
            "replay: replay disagrees with the vectorised backtest of the same window: BTC trade 3 exit bar",
            "held-out superiority gate did not pass",
        ],
    ),
    _verdict("sma_trend_4_cccc0003", True, 0.91, []),
]


def test_rejections_count_each_gate_once_per_candidate_and_name_the_closest_miss():
    summary = rejections(VERDICTS)
    assert summary["failed"] == 2
    assert summary["by_gate"] == {
        "backtest: superiority": 2,
        "held-out superiority gate did not pass": 2,
        "backtest: walk_forward_return": 1,
        "replay: replay": 1,
    }
    assert summary["closest"]["name"] == "rsi_filter_5_bbbb0002" and summary["closest"]["score"] == 0.62


def test_report_markdown_lists_the_gates_and_the_closest_miss():
    report = build_report(
        "2026-11-20",
        {"evaluations": 224},
        pd.DataFrame({"status": ["ok"]}),
        {"verdicts": VERDICTS[:2], "stage_seconds": {"backtest": 0.3}},
        {"allocations": {}, "notes": ["no candidate passed validation: the previous deployment is kept unchanged"]},
        [],
    )
    text = report_markdown(report)
    assert "Why 2 candidate(s) failed validation:" in text
    assert "| backtest: superiority | 2 |" in text and "| replay: replay | 1 |" in text
    assert "Closest miss: rsi_filter_5_bbbb0002 (score 0.62):" in text
    assert "- replay: replay disagrees with the vectorised backtest of the same window: BTC trade 3 exit bar" in text


def test_nothing_to_explain_when_every_candidate_passed():
    summary = rejections(VERDICTS[2:])
    assert summary == {"failed": 0, "by_gate": {}, "closest": None}
