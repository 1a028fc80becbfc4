"""Deployment assets: `deployment/deployed_configs` (guarded by a blocking check) and `deployment/evolution_report`."""

import time
from datetime import datetime, timezone

import dagster as dg
from pydantic import Field

from quant_organism.core import artifacts as artifact_files
from quant_organism.defs.shared.partitions import daily_partitions
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource, StrategyStoreResource
from quant_organism.defs.validation.assets import VALIDATED
from quant_organism.deployment.decision import DecisionConfig
from quant_organism.catalog.manifest import load_current_deployment
from quant_organism.deployment.deploy import deploy, verify_deployment
from quant_organism.deployment.selection import plan_from_verdicts
from quant_organism.evolution.result import genes_from_row
from quant_organism.market.frames import load_market_frames
from quant_organism.reporting.plots import equity_curves, markdown_image
from quant_organism.reporting.report import build_report, buy_and_hold, deployed_equity, report_markdown
from quant_organism.validation.windowed import Window

DEPLOYED = dg.AssetKey(["deployment", "deployed_configs"])
REPORT = dg.AssetKey(["deployment", "evolution_report"])


class DeploymentRunConfig(dg.Config):
    min_pool: int = Field(default=5)
    max_pool: int = Field(default=10)
    max_correlation: float = Field(default=0.7)
    kelly_fraction: float = Field(default=0.25, description="safety factor on the Kelly fraction")
    max_weight: float = Field(default=0.25, description="per-strategy cap (never above the 40% hard cap)")
    retire_when_nothing_passes: bool = Field(
        default=False, description="when no candidate passes: retire the live set (True) or keep it (False)"
    )


def _validation_frames(lake: LakeResource, result):
    windows = result.windows
    loaded = load_market_frames(lake.lake(), result.coins, windows.train.start, windows.walk_forward.end, result.interval or "1h")
    return loaded.frames, Window(windows.out_of_sample.start, windows.walk_forward.end)


@dg.asset(
    key=DEPLOYED,
    partitions_def=daily_partitions,
    deps=[VALIDATED],
    group_name="deployment",
    kinds={"json"},
    check_specs=[
        dg.AssetCheckSpec(
            "deployment_is_sound",
            asset=DEPLOYED,
            blocking=True,
            description="configs load, allocations within caps and sum <= 1, every strategy produces signals",
        )
    ],
    description="A small, uncorrelated, capped allocation of validated strategies, written atomically to the "
    "config store; the previous deployment's strategies not chosen again are archived as superseded.",
)
def deployed_configs(
    context: dg.AssetExecutionContext,
    config: DeploymentRunConfig,
    lake: LakeResource,
    artifacts: ArtifactsResource,
    catalog: StrategyStoreResource,
) -> dg.MaterializeResult:
    started = time.perf_counter()
    day = context.partition_key
    result = artifacts.load_evolution(day)
    verdicts = artifact_files.read_json(artifacts.phase_dir("validation", day) / "verdicts.json")["verdicts"]
    population = result.population.drop_duplicates("name").set_index("name", drop=False)
    genes = {v["candidate_id"]: genes_from_row(population.loc[v["candidate_id"]]) for v in verdicts}
    frames, window = _validation_frames(lake, result)
    decision = DecisionConfig(
        min_pool=config.min_pool,
        max_pool=config.max_pool,
        max_correlation=config.max_correlation,
        kelly_fraction=config.kelly_fraction,
        max_weight=config.max_weight,
    )
    plan, returns = plan_from_verdicts(verdicts, genes, frames, window, decision)
    store = catalog.store()
    if plan.chosen or config.retire_when_nothing_passes:
        record = deploy(plan, store, when=datetime.now(timezone.utc), note=f"evolution {day}", evolution_date=result.windows.evolution_date)
        summary = record.to_dict()
        context.log.info(f"deployed {len(record.allocations)} strategies (version {record.version}), cash {record.cash:.0%}")
    else:
        current = load_current_deployment(store)
        summary = {
            "version": (current or {}).get("version"),
            "allocations": (current or {}).get("allocations", {}),
            "cash": (current or {}).get("cash", 1.0),
            "archived": [],
            "notes": ["no candidate passed validation: the previous deployment is kept unchanged"],
        }
        context.log.warning(summary["notes"][0])
    summary.update(plan=plan.to_dict(), rejected=plan.to_dict().get("rejected", []), wall_s=round(time.perf_counter() - started, 3))
    directory = artifacts.phase_dir("deployment", day)
    artifact_files.write_json(directory / "deployment.json", summary)
    if not returns.empty:
        artifact_files.write_frame(directory / "validation_returns.parquet", returns.reset_index(names="timestamp"))

    sample = next(iter(frames.values())).tail(500) if frames else None
    problems = verify_deployment(store, sample) if sample is not None else ["no market frame to check signals on"]
    allocations = summary["allocations"]
    table = "\n".join(
        ["| strategy | allocation |", "|---|---|"] + [f"| {n} | {w:.1%} |" for n, w in sorted(allocations.items())]
    )
    return dg.MaterializeResult(
        metadata={
            "deployed": dg.MetadataValue.int(len(allocations)),
            "cash": dg.MetadataValue.float(float(summary.get("cash") or 0.0)),
            "version": str(summary.get("version")),
            "allocations": dg.MetadataValue.md(table),
            "rejected": dg.MetadataValue.json(summary["rejected"][:50]),
            "archived": dg.MetadataValue.json(summary.get("archived", [])),
            "notes": dg.MetadataValue.json(summary.get("notes", [])),
            "store": dg.MetadataValue.path(str(store.directory)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="deployment_is_sound",
                passed=not problems,
                metadata={"problems": dg.MetadataValue.json(problems)},
            )
        ],
    )


@dg.asset(
    key=REPORT,
    partitions_def=daily_partitions,
    deps=[DEPLOYED],
    group_name="deployment",
    kinds={"json", "markdown"},
    description="The run's report: strategies generated, validated and deployed, per-phase timings and success "
    "rates, and the deployed set against buy-and-hold on the validation windows.",
)
def evolution_report(context: dg.AssetExecutionContext, lake: LakeResource, artifacts: ArtifactsResource) -> dg.MaterializeResult:
    from quant_organism.automation import read_failures

    day = context.partition_key
    result = artifacts.load_evolution(day)
    validation = artifact_files.read_json(artifacts.phase_dir("validation", day) / "verdicts.json")
    deployment_dir = artifacts.phase_dir("deployment", day)
    deployment = artifact_files.read_json(deployment_dir / "deployment.json")
    report = build_report(day, result.totals(), result.batches, validation, deployment, read_failures(artifacts.failures_path))
    markdown = report_markdown(report)

    frames, window = _validation_frames(lake, result)
    curves = {"buy & hold (equal weight)": buy_and_hold(frames, window.start, window.end)}
    returns_path = deployment_dir / "validation_returns.parquet"
    if returns_path.exists():
        returns = artifact_files.read_frame(returns_path).set_index("timestamp")
        curves["deployed set"] = deployed_equity(returns, deployment.get("allocations", {}))
    plot = equity_curves(curves, "validation windows: deployed set vs buy & hold", benchmark="buy & hold (equal weight)")
    directory = artifacts.phase_dir("reports", day)
    json_path = artifact_files.write_json(directory / "report.json", report)
    artifact_files.write_text(directory / "report.md", markdown)
    (directory / "equity.png").write_bytes(plot)
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(markdown),
            "equity_plot": dg.MetadataValue.md(markdown_image(plot, "equity")),
            "generated": dg.MetadataValue.int(report["counts"]["generated"]),
            "passed_validation": dg.MetadataValue.int(report["counts"]["passed_validation"]),
            "deployed": dg.MetadataValue.int(report["counts"]["deployed"]),
            "path": dg.MetadataValue.path(str(json_path)),
        }
    )


