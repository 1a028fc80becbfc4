"""The overall verdict: the stages' own rules decide, the score (weights renormalised over stages that ran)
only ranks; modes, the held-out gate, and JSON output."""

from __future__ import annotations

import json
import math

import pytest

from quant_organism.validation import StageResult, StageStatus, ValidationMode, decide

PASSED, FAILED, SKIPPED = StageStatus.PASSED, StageStatus.FAILED, StageStatus.SKIPPED


def backtest(score: float = 0.9, status: StageStatus = PASSED, gate_passed: bool = True) -> StageResult:
    reasons = [] if status is PASSED else ["walk_forward_return -0.02 is not positive"]
    metrics = {"superiority": {"t_stat": 3.1 if gate_passed else 0.5, "passed": gate_passed}, "odd": math.nan}
    return StageResult("backtest", status, score, metrics, reasons)


def replay(score: float = 0.6, status: StageStatus = PASSED) -> StageResult:
    return StageResult("replay", status, score, {}, [] if status is PASSED else ["diverged from the backtest"])


def net_result(score: float | None = None, status: StageStatus = SKIPPED) -> StageResult:
    reasons = {SKIPPED: ["HYPERLIQUID_TESTNET_PRIVATE_KEY not set"], FAILED: ["BTC buy: order rejected"], PASSED: []}
    return StageResult("testnet", status, score, {}, reasons[status])


def test_skipped_stage_is_left_out_and_weights_renormalised():
    verdict = decide("c1", [backtest(0.8), replay(0.6), net_result()], mode="full")
    assert verdict.score == pytest.approx((0.5 * 0.8 + 0.3 * 0.6) / 0.8)  # 0.725
    assert verdict.passed and verdict.reasons == []
    assert verdict.notes == ["testnet skipped: HYPERLIQUID_TESTNET_PRIVATE_KEY not set"]
    assert set(verdict.stages) == {"backtest", "replay", "testnet"}


def test_all_three_stages_weighted_half_three_tenths_one_fifth():
    verdict = decide("c1", {"backtest": backtest(1.0), "replay": replay(0.5), "testnet": net_result(0.25, PASSED)})
    assert verdict.score == pytest.approx(0.5 * 1.0 + 0.3 * 0.5 + 0.2 * 0.25)
    assert verdict.passed
    low = decide("c1", [backtest(0.2), replay(0.5), net_result(0.2, PASSED)])
    assert low.score == pytest.approx(0.29) and low.passed  # the score ranks; it is no gate of its own


def test_modes_choose_the_stages():
    results = [backtest(0.9), replay(0.1), net_result(0.0, FAILED)]
    minimal = decide("c1", results, mode="minimal")
    assert minimal.mode is ValidationMode.MINIMAL and list(minimal.stages) == ["backtest"]
    assert minimal.score == pytest.approx(0.9) and minimal.passed
    fast = decide("c1", results, mode=ValidationMode.FAST)
    assert fast.score == pytest.approx((0.5 * 0.9 + 0.3 * 0.1) / 0.8) and fast.passed
    full = decide("c1", results, mode="full")
    assert not full.passed and "testnet: BTC buy: order rejected" in full.reasons
    with pytest.raises(ValueError, match="unknown validation mode"):
        decide("c1", results, mode="thorough")


def test_a_stage_the_mode_needs_must_have_a_result():
    verdict = decide("c1", [backtest(1.0)], mode="fast")
    assert not verdict.passed
    assert verdict.reasons == ["replay stage has no result (mode fast requires it)"]
    assert verdict.score == pytest.approx(1.0)  # the score still reports what ran


def test_a_failed_stage_blocks_even_a_high_score():
    verdict = decide("c1", [backtest(1.0), replay(0.99, FAILED)], mode="fast")
    assert verdict.score > 0.7 and not verdict.passed
    assert verdict.reasons == ["replay: diverged from the backtest"]


def test_the_held_out_gate_must_hold():
    verdict = decide("c1", [backtest(0.95, PASSED, gate_passed=False)], mode="minimal")
    assert not verdict.passed and verdict.reasons == ["held-out superiority gate did not pass"]
    no_record = StageResult("backtest", PASSED, 1.0, {}, [])
    assert decide("c1", [no_record], mode="minimal").reasons == ["held-out superiority gate did not pass"]


def test_no_stage_ran_means_no_score_and_no_pass():
    skipped = StageResult("backtest", SKIPPED, None, {}, ["no data"])
    verdict = decide("c1", [skipped], mode="minimal")
    assert verdict.score is None and not verdict.passed
    assert "no stage ran" in verdict.reasons
    assert "backtest stage did not run: a candidate cannot pass without it" in verdict.reasons


def test_verdict_is_json_serialisable():
    verdict = decide("ema_12_48", [backtest(0.8), replay(0.6), net_result()])
    data = json.loads(verdict.to_json())  # strict JSON: NaN in a stage's metrics became null
    assert data["candidate_id"] == "ema_12_48" and data["mode"] == "full" and data["passed"] is True
    assert data["stages"]["backtest"]["metrics"]["odd"] is None
    assert data["stages"]["testnet"]["status"] == "skipped" and data["stages"]["testnet"]["score"] is None
    assert data == json.loads(json.dumps(verdict.to_dict(), allow_nan=False))


def test_mislabelled_or_unknown_results_are_refused():
    with pytest.raises(ValueError, match="is for stage 'replay'"):
        decide("c1", {"backtest": replay()})
    with pytest.raises(ValueError, match="unknown stage"):
        decide("c1", [StageResult("paper", PASSED, 1.0)])
    with pytest.raises(ValueError, match="two results"):
        decide("c1", [backtest(), backtest()])
    with pytest.raises(TypeError, match="StageResult"):
        decide("c1", {"backtest": {"score": 1.0}})


def test_a_replay_skipped_for_a_held_out_passer_blocks_it_and_is_a_note_otherwise():
    not_replayed = StageResult("replay", SKIPPED, None, {}, ["not_replayed: only the 10 best held-out candidates are"])
    blocked = decide("c1", [backtest(0.9), not_replayed], mode="fast")
    assert not blocked.passed and blocked.reasons == ["replay: not_replayed: only the 10 best held-out candidates are"]
    failed = decide("c2", [backtest(0.2, FAILED), not_replayed], mode="fast")
    assert failed.reasons == ["backtest: walk_forward_return -0.02 is not positive"]
    assert failed.notes == ["replay skipped: not_replayed: only the 10 best held-out candidates are"]
