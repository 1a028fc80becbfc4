"""The overall verdict on one candidate from its stage results.

Modes choose the stages: `minimal` = backtest; `fast` = backtest + replay; `full` = all three.
The candidate passes when no stage of the mode failed AND the backtest (held-out) stage ran and its
statistical gate held AND every stage the mode needs has a result. Pass and fail are decided by the
stages' own rules, each with a stated error rate (held_out.py); the score only ranks candidates:
the weighted mean of the scores of the stages that RAN (backtest 0.5, replay 0.3, testnet 0.2),
renormalised over them, so a skipped stage (no testnet key) neither helps nor hurts. A skipped stage
is never counted as passed: a skipped testnet stage (no key) is listed in `notes`; a skipped replay
blocks the pass (nothing is deployed that was not replayed through the runtime that trades it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from quant_organism.validation.held_out import GATE_KEY
from quant_organism.validation.held_out import STAGE as BACKTEST
from quant_organism.validation.stage_result import StageResult, StageStatus
from quant_organism.validation.testnet_stage import STAGE as TESTNET

REPLAY = "replay"
STAGE_WEIGHTS: dict[str, float] = {BACKTEST: 0.5, REPLAY: 0.3, TESTNET: 0.2}


class ValidationMode(str, Enum):
    MINIMAL = "minimal"
    FAST = "fast"
    FULL = "full"

    @property
    def stages(self) -> tuple[str, ...]:
        return {"minimal": (BACKTEST,), "fast": (BACKTEST, REPLAY), "full": (BACKTEST, REPLAY, TESTNET)}[self.value]


@dataclass
class CandidateVerdict:
    """All stage results of one candidate, the overall score (None when no stage ran) and the decision."""

    candidate_id: str
    mode: ValidationMode
    stages: dict[str, StageResult]
    score: float | None
    passed: bool
    reasons: list[str] = field(default_factory=list)  # why it did not pass; empty when passed
    notes: list[str] = field(default_factory=list)  # e.g. stages skipped

    def to_dict(self) -> dict:
        return _plain(
            {
                "candidate_id": self.candidate_id,
                "mode": self.mode.value,
                "score": self.score,
                "passed": self.passed,
                "reasons": list(self.reasons),
                "notes": list(self.notes),
                "stages": {name: result.to_dict() for name, result in self.stages.items()},
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, sort_keys=True)


def decide(
    candidate_id: str,
    results: Mapping[str, StageResult] | Iterable[StageResult],
    mode: ValidationMode | str = ValidationMode.FULL,
    *,
    weights: Mapping[str, float] = STAGE_WEIGHTS,
) -> CandidateVerdict:
    """The verdict for one candidate. Results of stages outside the mode are left out (see module doc)."""
    mode = _mode(mode)
    by_name = _by_stage(results)
    for name in mode.stages:
        if not weights.get(name, 0) > 0:
            raise ValueError(f"stage {name!r} needs a positive weight; got {weights.get(name)!r}")
    stages = {name: by_name[name] for name in mode.stages if name in by_name}
    reasons, notes = [], []
    for name in mode.stages:
        result = stages.get(name)
        if result is None:
            reasons.append(f"{name} stage has no result (mode {mode.value} requires it)")
        elif result.status is StageStatus.FAILED:
            reasons += [f"{name}: {r}" for r in result.reasons] or [f"{name} stage failed"]
        elif result.status is StageStatus.SKIPPED and name == REPLAY and _passed(stages.get(BACKTEST)):
            reasons += [f"{name}: {r}" for r in result.reasons]  # nothing is deployed that was not replayed
        elif result.status is StageStatus.SKIPPED:
            notes += [f"{name} skipped: {r}" for r in result.reasons]
    backtest = stages.get(BACKTEST)
    if backtest is not None and backtest.status is StageStatus.SKIPPED:
        reasons.append("backtest stage did not run: a candidate cannot pass without it")
    if backtest is not None and backtest.ran and not _gate_passed(backtest):
        reasons.append("held-out superiority gate did not pass")
    ran = {name: r for name, r in stages.items() if r.ran}
    score = None
    if ran:
        total = sum(weights[name] for name in ran)
        score = sum(weights[name] * float(r.score or 0.0) for name, r in ran.items()) / total
    else:
        reasons.append("no stage ran")
    return CandidateVerdict(candidate_id, mode, stages, score, not reasons, _dedupe(reasons), notes)


def _passed(result: StageResult | None) -> bool:
    return result is not None and result.status is StageStatus.PASSED


def _gate_passed(backtest: StageResult) -> bool:
    gate = backtest.metrics.get(GATE_KEY)
    return isinstance(gate, Mapping) and gate.get("passed") is True


def _by_stage(results) -> dict[str, StageResult]:
    items = list(results.items()) if isinstance(results, Mapping) else [(r.stage, r) for r in results]
    out: dict[str, StageResult] = {}
    for name, result in items:
        if not isinstance(result, StageResult):
            raise TypeError(f"stage {name!r}: expected a StageResult, got {type(result).__name__}")
        if name != result.stage:
            raise ValueError(f"result filed under {name!r} is for stage {result.stage!r}")
        if name not in STAGE_WEIGHTS:
            raise ValueError(f"unknown stage {name!r}; expected one of {list(STAGE_WEIGHTS)}")
        if name in out:
            raise ValueError(f"two results for stage {name!r}")
        out[name] = result
    return out


def _mode(mode) -> ValidationMode:
    try:
        return ValidationMode(mode)
    except ValueError:
        raise ValueError(f"unknown validation mode {mode!r}; expected one of {[m.value for m in ValidationMode]}") from None


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _plain(value):
    """JSON-safe copy: NaN/inf -> None, tuples -> lists, enums -> values, numpy scalars -> Python."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
