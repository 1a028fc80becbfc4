"""Validate the candidates evolution listed, through the stages of a mode (minimal: 1, fast: 1-2, full: 1-3).

Stage 1 (held_out.py) judges every candidate on the out-of-sample and walk-forward bars pooled, with one
selection-aware gate for all of them. Stage 2, for the best `replay_top` candidates stage 1 passed,
replays the walk-forward window bar by bar through the runtime engine, and its last
`product_replay_days` days also day by day exactly as paper trading runs (ledger restores, anchored
history, backtest sizing): a replay proves agreement with the backtest, so it is only worth its time for
what could be deployed, and a candidate not replayed cannot pass. Stage 3 trades on the Hyperliquid
testnet: the best candidate that passed stages 1-2 trades its own orders for a few bars (testnet_session.py),
or the stage is recorded as skipped (without a key: `full` then ran as `fast`, and the outcome says so). Bars of the
validation windows were never seen by evolution (evolution/date_windows.py); here they are used first.

The outcome carries the evidence (held-out returns per bar, the buy-and-hold benchmark on the same bars)
so that deployment and the report read it instead of backtesting again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from quant_organism.core.windows import Window
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.held_out import HeldOutConfig, HeldOutEvidence, gate_inputs, run_held_out_stage
from quant_organism.validation.power import DetectableSharpe
from quant_organism.validation.replay import ReplayConfig, product_replay, replay_stages
from quant_organism.validation.stage_result import StageResult, StageStatus
from quant_organism.validation.superiority import SuperiorityResult
from quant_organism.validation.testnet_stage import TestnetConfig, run_testnet_stage
from quant_organism.validation.verdict import REPLAY, CandidateVerdict, decide

Mode = Literal["minimal", "fast", "full"]


@dataclass
class ValidationSettings:
    mode: Mode = "fast"
    held_out: HeldOutConfig = field(default_factory=HeldOutConfig)
    testnet: TestnetConfig = field(default_factory=TestnetConfig)
    replay_top: int = 10  # stage-1 passers replayed, best first (the most a deployment holds: max_pool)
    product_replay_days: int = 7  # last walk-forward days also traded day by day exactly as paper trading does
    deadline: float | None = None  # epoch seconds: the run's validation budget; no replay starts after it
    testnet_env: Mapping[str, str] = field(default_factory=dict, repr=False)  # the testnet key etc.: never shown


@dataclass
class ValidationOutcome:
    verdicts: list[CandidateVerdict]
    evidence: HeldOutEvidence | None
    test: SuperiorityResult | None
    stage_seconds: dict[str, float]
    cut_by_budget: list[str] = field(default_factory=list)  # candidates whose replay the budget cut
    mode_note: str | None = None  # e.g. `full` ran as `fast` because the testnet stage was skipped
    reach: DetectableSharpe | None = None  # what the gate could have seen (validation/power.py)

    @property
    def passed(self) -> list[CandidateVerdict]:
        return [v for v in self.verdicts if v.passed]

    def to_dict(self) -> dict:
        return {
            "superiority": self.test.to_dict() if self.test is not None else None,
            "stage_seconds": self.stage_seconds,
            "cut_by_budget": list(self.cut_by_budget),
            "mode_note": self.mode_note,
            "reach": None if self.reach is None else {**self.reach.to_dict(), "sentence": self.reach.sentence()},
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def validate(
    candidates: Sequence[SeedGenes],
    frames: Mapping[str, pd.DataFrame],
    out_of_sample: Window,
    walk_forward: Window,
    options: ValidationSettings,
) -> ValidationOutcome:
    """Run the mode's stages for `candidates`; `frames` must hold the history before and through the windows."""
    timings: dict[str, float] = {}
    if not candidates:
        return ValidationOutcome([], None, None, timings)

    started = time.perf_counter()
    stage1, evidence, test = run_held_out_stage(candidates, frames, out_of_sample, walk_forward, options.held_out)
    timings["backtest"] = round(time.perf_counter() - started, 3)

    stage2: dict[str, StageResult] = {}
    out_of_time: set[str] = set()
    if options.mode in ("fast", "full"):
        started = time.perf_counter()
        window_bars = int(len(evidence.bar_returns.loc[evidence.bar_returns.index >= walk_forward.start]))
        replay_config = ReplayConfig(window_bars=max(window_bars, 2))
        passers = sorted(
            (g for g in candidates if stage1[g.seed_id].status is StageStatus.PASSED),
            key=lambda g: (-(stage1[g.seed_id].score or 0.0), g.seed_id),
        )
        replayed = {g.seed_id for g in passers[: options.replay_top]} if not _late(options.deadline) else set()
        out_of_time = {g.seed_id for g in passers[: options.replay_top]} - replayed
        product = {}
        if replayed and options.product_replay_days > 0:
            product = product_replay([g for g in passers if g.seed_id in replayed], frames, walk_forward.end,
                                     options.product_replay_days, options.held_out.costs)  # fmt: skip
        if replayed and _late(options.deadline):
            out_of_time |= replayed
            replayed = set()
        chosen = [g for g in passers if g.seed_id in replayed]  # replayed together: one engine, one window cut
        verdicts = replay_stages(chosen, frames, replay_config, end=walk_forward.end)
        replays = {g.seed_id: verdict for g, verdict in zip(chosen, verdicts)}
        for genes in candidates:
            if genes.seed_id in out_of_time:
                why = "not_replayed: the validation budget ran out before its replay (a larger --hours replays it)"
                stage2[genes.seed_id] = StageResult(REPLAY, StageStatus.SKIPPED, None, {}, [why])
            elif genes.seed_id in replayed:
                stage2[genes.seed_id] = _with_product_parity(replays[genes.seed_id], product.get(genes.seed_id, []))
            elif stage1[genes.seed_id].status is StageStatus.PASSED:
                why = f"not_replayed: only the {options.replay_top} best held-out candidates are (raise replay_top)"
                stage2[genes.seed_id] = StageResult(REPLAY, StageStatus.SKIPPED, None, {}, [why])
            else:
                why = "not replayed: the held-out stage rejected it (a replay only checks what could be deployed)"
                stage2[genes.seed_id] = StageResult(REPLAY, StageStatus.SKIPPED, None, {}, [why])
        timings["replay"] = round(time.perf_counter() - started, 3)

    testnet: dict[str, StageResult] = {}
    if options.mode == "full":
        started = time.perf_counter()
        testnet = _testnet_stage(candidates, stage1, stage2, options)
        timings["testnet"] = round(time.perf_counter() - started, 3)

    verdicts = []
    for genes in candidates:
        stages = [stage1[genes.seed_id]]
        if genes.seed_id in stage2:
            stages.append(stage2[genes.seed_id])
        if genes.seed_id in testnet:
            stages.append(testnet[genes.seed_id])
        verdicts.append(decide(genes.seed_id, stages, options.mode))
    note = None
    if testnet and all(r.status is StageStatus.SKIPPED for r in testnet.values()):
        reasons = sorted({reason for r in testnet.values() for reason in r.reasons})
        note = f"mode full ran as fast: the testnet stage was skipped ({'; '.join(reasons)})"
    reach = gate_inputs(evidence, options.held_out.alpha).reach
    return ValidationOutcome(verdicts, evidence, test, timings, sorted(out_of_time), note, reach)


def _testnet_stage(candidates, stage1, stage2, options: ValidationSettings) -> dict[str, StageResult]:
    """Stage 3 for every candidate: the best one that passed stages 1-2 trades its own orders on the testnet (one
    account nets positions, so one candidate per session); the others share its connectivity result, marked
    as not traded. Without a key (or a candidate) the stage is skipped for all, saying why."""
    ready = sorted(
        (g for g in candidates if stage1[g.seed_id].status is StageStatus.PASSED
         and stage2.get(g.seed_id, stage1[g.seed_id]).status is StageStatus.PASSED),
        key=lambda g: (-(stage1[g.seed_id].score or 0.0), g.seed_id),
    )  # fmt: skip
    if not ready:
        result = run_testnet_stage(
            options.testnet, environ=options.testnet_env
        )  # still checks the execution path (or says why it is skipped)
        return {g.seed_id: result for g in candidates}
    best = ready[0]
    traded = run_testnet_stage(options.testnet, environ=options.testnet_env, genes=best)
    out = {best.seed_id: traded}
    for genes in candidates:
        if genes.seed_id == best.seed_id:
            continue
        if traded.status is StageStatus.SKIPPED:
            out[genes.seed_id] = traded
        else:
            why = f"not traded on the testnet: one candidate per session, {best.seed_id} was ({traded.status.value})"
            out[genes.seed_id] = StageResult(traded.stage, StageStatus.SKIPPED, None, {"traded": best.seed_id}, [why])
    return out


def _late(deadline: float | None) -> bool:
    return deadline is not None and time.time() > deadline


def _with_product_parity(result: StageResult, problems: list[str]) -> StageResult:
    """The replay verdict, failed with the strategy's parity problems when the product's own day-by-day path
    did not reproduce its backtest (nothing is deployed that would trade differently from how it was judged)."""
    result.metrics["product_parity"] = {"passed": not problems, "problems": problems[:10]}
    if not problems:
        return result
    reasons = [
        *result.reasons,
        *(f"paper trading (day by day, as deployed) differs from the backtest: {p}" for p in problems[:5]),
    ]
    return StageResult(result.stage, StageStatus.FAILED, 0.0, result.metrics, reasons)
