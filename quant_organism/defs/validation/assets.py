"""`validation/validated_strategies`: the day's best candidates through the validation stages."""

from typing import Optional

import dagster as dg
from pydantic import Field

from quant_organism.core import artifacts as artifact_files
from quant_organism.defs.evolution.assets import STRATEGY_CONFIGS
from quant_organism.defs.shared.partitions import daily_partitions
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource
from quant_organism.market.frames import load_market_frames
from quant_organism.validation.backtest_stage import BacktestStageConfig
from quant_organism.validation.run import ValidationSettings, validate
from quant_organism.validation.testnet_stage import TestnetConfig

VALIDATED = dg.AssetKey(["validation", "validated_strategies"])


class ValidationRunConfig(dg.Config):
    """Mode and thresholds (the plan's defaults). The testnet stage needs HYPERLIQUID_TESTNET_PRIVATE_KEY."""

    mode: str = Field(default="fast", description="minimal (backtest) | fast (+ replay) | full (+ testnet)")
    top_share: float = Field(default=0.2, description="share of the distinct valid individuals validated "
                             "(keep equal to strategy_configs' top_share: validated candidates must be in the store)")
    max_candidates: int = Field(default=50)
    min_sharpe: float = Field(default=1.0)
    max_drawdown: float = Field(default=0.15)
    min_win_rate: float = Field(default=0.40)
    min_trades: int = Field(default=10)
    min_dsr: float = Field(default=0.95, description="deflated Sharpe ratio gate")
    replay_min_consistency: float = Field(default=0.2)
    testnet_url: Optional[str] = Field(default=None, description="testnet API URL (default: Hyperliquid testnet)")

    def settings(self) -> ValidationSettings:
        if self.mode not in ("minimal", "fast", "full"):
            raise dg.Failure(description=f"validation mode {self.mode!r}: expected minimal, fast or full")
        testnet = TestnetConfig(base_url=self.testnet_url) if self.testnet_url else TestnetConfig()
        return ValidationSettings(
            mode=self.mode,  # type: ignore[arg-type]
            top_share=self.top_share,
            max_candidates=self.max_candidates,
            backtest=BacktestStageConfig(
                min_sharpe=self.min_sharpe,
                max_drawdown=self.max_drawdown,
                min_win_rate=self.min_win_rate,
                min_trades=self.min_trades,
                min_dsr=self.min_dsr,
            ),
            replay_min_consistency=self.replay_min_consistency,
            testnet=testnet,
        )


def _verdict_table(outcome) -> str:
    lines = ["| candidate | score | passed | stages | first reason |", "|---|---|---|---|---|"]
    for verdict in outcome.verdicts:
        stages = ", ".join(f"{name}: {result.status.value}" for name, result in verdict.stages.items())
        reason = (verdict.reasons or verdict.notes or [""])[0].replace("|", "/")[:90]
        score = "—" if verdict.score is None else f"{verdict.score:.2f}"
        lines.append(f"| {verdict.candidate_id} | {score} | {'yes' if verdict.passed else 'no'} | {stages} | {reason} |")
    return "\n".join(lines)


@dg.asset(
    key=VALIDATED,
    partitions_def=daily_partitions,
    deps=[STRATEGY_CONFIGS],
    group_name="validation",
    kinds={"python", "json"},
    description="Per-candidate results of each validation stage (out-of-sample + walk-forward backtest with a "
    "deflated-Sharpe gate, bar-by-bar replay, testnet), pass/fail with reasons.",
)
def validated_strategies(
    context: dg.AssetExecutionContext, config: ValidationRunConfig, lake: LakeResource, artifacts: ArtifactsResource
) -> dg.MaterializeResult:
    day = context.partition_key
    result = artifacts.load_evolution(day)
    windows = result.windows
    loaded = load_market_frames(lake.lake(), result.coins, windows.train.start, windows.walk_forward.end, result.interval or "1h")
    missing = [coin for coin in result.coins if coin not in loaded.frames]
    if missing or loaded.coverage() < 0.9:
        raise dg.Failure(
            description=f"validation windows incomplete in the lake (coverage {loaded.coverage():.0%}, missing {missing}): "
            "materialise market/candles for the whole lookback first",
            metadata={"skipped": dg.MetadataValue.json(loaded.skipped[:100])},
        )
    outcome = validate(result, loaded.frames, config.settings())
    path = artifact_files.write_json(artifacts.phase_dir("validation", day) / "verdicts.json", outcome.to_dict())
    passed = outcome.passed
    context.log.info(
        f"validated {len(outcome.verdicts)} candidates in mode {config.mode}: {len(passed)} passed "
        f"(stage seconds {outcome.stage_seconds}; trials {outcome.trials.n_trials})"
    )
    skipped_stages = sorted({name for v in outcome.verdicts for name, r in v.stages.items() if not r.ran})
    return dg.MaterializeResult(
        metadata={
            "candidates": dg.MetadataValue.int(len(outcome.verdicts)),
            "passed": dg.MetadataValue.int(len(passed)),
            "mode": config.mode,
            "trials": dg.MetadataValue.int(outcome.trials.n_trials),
            "stage_seconds": dg.MetadataValue.json(outcome.stage_seconds),
            "skipped_stages": dg.MetadataValue.json(
                {name: next(r.reasons for v in outcome.verdicts for n, r in v.stages.items() if n == name and not r.ran)
                 for name in skipped_stages}
            ),
            "verdicts": dg.MetadataValue.md(_verdict_table(outcome)),
            "windows": dg.MetadataValue.json(windows.as_dict()),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


