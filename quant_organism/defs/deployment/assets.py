"""Deployment assets: `deployment/deployed_configs` (guarded by a blocking check) and `deployment/evolution_report`."""

import math
import time
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from quant_organism import settings
from quant_organism.catalog.death_reports import write_report
from quant_organism.catalog.manifest import load_current_deployment
from quant_organism.catalog.store import STORE_DIR, ConfigStoreError
from quant_organism.core import artifacts as artifact_files
from quant_organism.core.faults import fault_point
from quant_organism.core.metrics import growth
from quant_organism.defs.automation.conditions import chain_asset
from quant_organism.defs.deployment.night_inputs import stored_night
from quant_organism.defs.shared.history import UNIVERSE_FILE
from quant_organism.defs.shared.numbers import rounded
from quant_organism.defs.shared.resources import (
    ArtifactsResource,
    LakeResource,
    PaperLedgerResource,
    RunBudgetResource,
    StrategyStoreResource,
    correlation_id,
)
from quant_organism.defs.shared.tables import markdown_table, metadata_table
from quant_organism.defs.validation.assets import SAMPLE_FILE, VALIDATED, read_held_out_returns
from quant_organism.defs.validation.documented_tier import DOCUMENTED
from quant_organism.defs.validation.portfolio_search_asset import PORTFOLIO
from quant_organism.deployment import documented_capital as documented
from quant_organism.deployment.budget_table import COLUMNS as BUDGET_COLUMNS
from quant_organism.deployment.budget_table import budget_rows
from quant_organism.deployment.decision import DecisionConfig
from quant_organism.deployment.decision_table import COLUMNS as DECISION_COLUMNS
from quant_organism.deployment.decision_table import decision_rows
from quant_organism.deployment.deploy import (
    DeploymentRefused,
    OlderThanLive,
    check_not_older,
    deploy,
    plan_is_live,
    stray_files,
    verify_deployment,
)
from quant_organism.deployment.documented_capital import is_rule
from quant_organism.deployment.night import decide
from quant_organism.deployment.retirements import death_report
from quant_organism.market.frames import read_regimes
from quant_organism.reporting.inline_figure import bar_figure
from quant_organism.reporting.memory import deployment_rows, report_row
from quant_organism.reporting.plots import equity_curves, markdown_image
from quant_organism.reporting.report import budget_line, budget_summary, build_report, deployed_equity, report_markdown
from quant_organism.runtime.retirement import load_post_mortems
from quant_organism.validation.held_out import daily_returns
from quant_organism.validation.superiority import superiority_test

DEPLOYED = dg.AssetKey(["deployment", "deployed_configs"])
REPORT = dg.AssetKey(["deployment", "evolution_report"])


_DECISION = DecisionConfig()  # the defaults live there, once


class DeploymentRunConfig(dg.Config):
    """The launchpad's view of the decision's settings: each default is DecisionConfig's."""

    min_pool: int = Field(default=_DECISION.min_pool)
    max_pool: int = Field(default=_DECISION.max_pool)
    max_correlation: float = Field(default=_DECISION.max_correlation)
    kelly_fraction: float = Field(default=_DECISION.kelly_fraction, description="safety factor on the Kelly fraction")
    max_weight: float = Field(default=_DECISION.max_weight, description="per-strategy cap (never above the 40% hard cap)")
    probation_days: int = Field(
        default=_DECISION.probation_days,
        description="most forward days a newly chosen strategy trades at its incubation capital before it crosses its "
        "always-valid bound (promoted) or is retired as futile (0: probation off, Kelly capital at once)",
    )
    probation_budget: float = Field(
        default=_DECISION.probation_budget,
        description="error budget per 365 days spent across probation entries, each counted over its life "
        "(deployment/error_budget.py); a saved ledger's own figure is kept and a disagreement is noted",
    )
    probation_allocation: float = Field(
        default=_DECISION.probation_allocation,
        description="incubation capital of each strategy on probation (0: paper-only probation, not traded)",
    )

    def decision(self) -> DecisionConfig:
        return DecisionConfig(**self.model_dump())


def deployed_set_tests(returns: pd.DataFrame, benchmark: pd.Series, allocations: dict[str, float]) -> dict:
    """Hansen's SPA (arch, via superiority_test) of the deployed strategies' held-out daily returns against
    zero (cash) and against equal-weight buy-and-hold. The set was chosen on these days out of the
    validated candidates, so this is a description of what was deployed, not a second, independent test:
    the gate that controls false deployments is validation's, over every candidate judged."""
    names = [n for n, weight in allocations.items() if weight > 0 and n in returns.columns]
    if not names:
        return {"note": "no strategy holds capital"}
    # An incumbent's column holds only its forward record: the test runs on the days every column has.
    daily = daily_returns(returns[names]).dropna()
    if len(daily) < 20:
        return {"note": f"only {len(daily)} held-out days common to the strategies holding capital: not tested"}
    bench = daily_returns(benchmark.to_frame("benchmark"))["benchmark"].reindex(daily.index)
    out = {}
    for label, reference in (("vs_zero", None), ("vs_buy_and_hold", bench)):
        test = superiority_test(daily, benchmark=reference, reps=500, seed=0)
        out[label] = {"spa_pvalue": test.spa_pvalue, "superior": list(test.superior)}
    return out


def _older_than_live(store, evolution_date) -> OlderThanLive | None:
    """Why a deployment of `evolution_date` would go behind the live one, or None."""
    try:
        check_not_older(store, evolution_date)
    except OlderThanLive as refused:
        return refused
    return None


@chain_asset(
    key=DEPLOYED,
    deps=[VALIDATED, DOCUMENTED, PORTFOLIO],
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
)
def deployed_configs(
    context: dg.AssetExecutionContext,
    config: DeploymentRunConfig,
    artifacts: ArtifactsResource,
    catalog: StrategyStoreResource,
    paper_ledger: PaperLedgerResource,
    lake: LakeResource,
) -> dg.MaterializeResult:
    """The night's one decision (deployment/night.decide, as run_chain makes it): the search's passers, the portfolio
    search's, the documented tier's passing rules and the incumbents on their forward records, through the correlation
    filter, probation and capped Kelly capital; written atomically to the config store (a rule's config is its manifest
    entry); the previous deployment's strategies not chosen again are archived as superseded."""
    started = time.perf_counter()
    day = context.partition_key
    result = artifacts.load_evolution(day)
    store = catalog.store()
    night = stored_night(artifacts, store, paper_ledger.ledger(), day, result.windows.evolution_date)
    families = _families(store, night)  # read before the deployment archives them
    returns, benchmark = night.held_out, night.market if night.market is not None else pd.Series(dtype=float)
    plan = decide(night, config.decision())
    sample = artifact_files.read_frame(artifacts.phase_dir("validation", day) / SAMPLE_FILE).set_index("timestamp")
    older = _older_than_live(store, result.windows.evolution_date)
    if older is not None:
        summary = {**_kept_deployment(store, f"not deployed: {older}"), "older_than_live": True}
        context.log.warning(summary["notes"][0])
    elif plan_is_live(store, plan, result.windows.evolution_date):  # a rerun of the date: nothing to write again
        summary = _kept_deployment(store, "the live deployment already holds this date's plan")
        context.log.info(summary["notes"][0])
    else:  # the plan is the night's whole decision (deployment/chain.run_chain deploys the same): nothing chosen is cash
        try:
            record = deploy(
                plan,
                store,
                when=datetime.now(timezone.utc),
                note=f"evolution {day}",
                evolution_date=result.windows.evolution_date,
                verify=sample,
                max_weight=config.max_weight,
                universe_top=settings.universe_top(),
                traded_coins=_traded_coins(artifacts, day),
            )
        except DeploymentRefused as refused:
            raise dg.Failure(str(refused), metadata={"problems": dg.MetadataValue.json(refused.problems)}) from None
        except OlderThanLive as raced:  # a newer date deployed between the check and the write
            raise dg.Failure(str(raced)) from None
        summary = record.to_dict()
        reports = _death_reports(store, night, plan, record.archived, families, lake)
        for name in record.archived:
            artifacts.alert(
                "retirement",
                f"{name} retired: superseded by deployment {record.version}",
                {"strategy": name, "version": record.version, "evolution_date": day, "death_report": reports.get(name)},
            )
        summary["death_reports"] = reports
        context.log.info(f"deployed {len(record.allocations)} strategies (version {record.version}), cash {record.cash:.0%}")
    summary.update(
        plan=plan.to_dict(),
        rejected=plan.to_dict().get("rejected", []),
        spa=deployed_set_tests(returns, benchmark, dict(plan.allocations)),
        wall_s=round(time.perf_counter() - started, 3),
        run_id=correlation_id(context),
    )
    artifact_files.write_json(artifacts.phase_dir("deployment", day) / "deployment.json", summary)
    artifacts.archive("deployments", day, summary["run_id"], deployment_rows(summary, pd.Timestamp.now(tz="UTC")))

    fault_point("deployment:deployed")
    problems = verify_deployment(store, sample, max_weight=config.max_weight)
    strays = stray_files(store)
    for stray in strays:
        context.log.warning(f"strategy store: {stray} (left alone; not part of the deployment)")
    allocations = summary["allocations"]
    decisions = decision_rows(plan, night)
    table = "\n".join(["| strategy | allocation |", "|---|---|"] + [f"| {n} | {w:.1%} |" for n, w in sorted(allocations.items())])
    return dg.MaterializeResult(
        metadata={
            "deployed": dg.MetadataValue.int(len(allocations)),
            "cash": rounded(float(summary.get("cash") or 0.0), 4),
            "version": str(summary.get("version")),
            "allocations": dg.MetadataValue.md(table),
            "decisions": metadata_table(decisions, DECISION_COLUMNS),
            "decisions_in_full": markdown_table(decisions, DECISION_COLUMNS),
            "probation_figure": dg.MetadataValue.md(_probation_figure(plan)),
            "error_budgets": metadata_table(budget_rows(plan.budget, date.fromisoformat(day)), BUDGET_COLUMNS),
            "rejected": dg.MetadataValue.json(summary["rejected"][:50]),
            "archived": dg.MetadataValue.json(summary.get("archived", [])),
            "notes": dg.MetadataValue.json(summary.get("notes", [])),
            "older_than_live": dg.MetadataValue.bool(bool(summary.get("older_than_live"))),
            "spa_of_deployed_set": dg.MetadataValue.json(summary["spa"]),
            "store": dg.MetadataValue.path(str(store.directory)),
            "stray_files": dg.MetadataValue.json(strays),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="deployment_is_sound",
                passed=not problems,
                metadata={"problems": dg.MetadataValue.json(problems)},
            )
        ],
    )


def _traded_coins(artifacts: ArtifactsResource, day: str) -> list[str] | None:
    """The members the night's point-in-time universe trades (the day after the evolution date); None: every coin of
    each strategy's data window."""
    path = artifacts.phase_dir("evolution", day) / UNIVERSE_FILE
    return list(artifact_files.read_json(path)["members"]) if path.exists() else None


def _families(store, night) -> dict[str, tuple[str, dict]]:
    """Each live strategy's family and held-out figures (name -> (family, metrics)), for its death report."""
    out = {}
    for name in night.paper:
        if is_rule(name):
            out[name] = (documented.rule_family(name), {})
            continue
        try:
            config = store.load_strategy(name)
        except ConfigStoreError:  # absent or unreadable: its report says what the night knows of it
            continue
        out[name] = (config.seed_type.value, dict(config.metrics))
    return out


def _death_reports(store, night, plan, archived, families, lake: LakeResource) -> dict[str, str]:
    """Write a death report for each strategy the deployment retired (catalog/death_reports.py): name -> its path."""
    why = {r.name: r.reason for r in plan.rejected}
    regimes = None
    paths = {}
    for name in archived:
        family, metrics = families.get(name, ("unknown", {}))
        bars = night.held_out[name] if name in night.held_out.columns else None
        if bars is None and name in night.rule_daily.columns:
            bars = night.rule_daily[name]
        if regimes is None and bars is not None and bars.notna().any():
            start = bars.dropna().index.min().tz_convert(None).normalize()
            regimes = read_regimes(lake.lake(), start, pd.Timestamp(night.day) + pd.Timedelta(days=1))
        report = death_report(name, family, night.day, why.get(name, "superseded: not chosen again"), bars,
                              night.paper.get(name), metrics, night.genomes.get(name), regimes)  # fmt: skip
        paths[name] = str(write_report(store.directory, report))
    return paths


def _kept_deployment(store, note: str) -> dict:
    """The summary of a run that leaves the live deployment as it is, with the note saying why."""
    current = load_current_deployment(store) or {}
    return {
        "version": current.get("version"),
        "allocations": {d["name"]: d["allocation"] for d in current.get("strategies", [])},
        "cash": current.get("cash", 1.0),
        "archived": [],
        "notes": [note],
    }


@chain_asset(key=REPORT, deps=[DEPLOYED], group_name="deployment", kinds={"json", "markdown"})
def evolution_report(
    context: dg.AssetExecutionContext, artifacts: ArtifactsResource, budget: RunBudgetResource
) -> dg.MaterializeResult:
    """The run's report: strategies generated, validated and deployed, per-phase timings and success rates, and the
    deployed set against buy-and-hold on the validation windows."""
    from quant_organism.operations import read_failures

    cpu_started = time.process_time()
    day = context.partition_key
    result = artifacts.load_evolution(day)
    validation = artifact_files.read_json(artifacts.phase_dir("validation", day) / "verdicts.json")
    deployment_dir = artifacts.phase_dir("deployment", day)
    deployment = artifact_files.read_json(deployment_dir / "deployment.json")
    pbo_path = artifacts.phase_dir("validation", day) / "pbo.json"
    pbo = artifact_files.read_json(pbo_path) if pbo_path.exists() else None
    report = build_report(
        day,
        result.totals(),
        result.batches,
        validation,
        deployment,
        read_failures(artifacts.failures_path),
        pbo,
        post_mortems=load_post_mortems(Path(artifacts.root) / STORE_DIR),
    )
    clock = budget.budget(context)
    report["run_id"] = correlation_id(context)
    report["budget"] = budget_summary(
        artifacts.run_info(day).get("budget"), validation.get("budget"), clock.elapsed(), time.process_time() - cpu_started
    )
    markdown = report_markdown(report)

    curves = {}
    if validation.get("verdicts"):
        returns, benchmark = read_held_out_returns(artifacts, day)
        curves["buy & hold (equal weight)"] = growth(benchmark)
        curves["deployed set"] = deployed_equity(returns, deployment.get("allocations", {}))
    plot = equity_curves(curves, "held-out windows: deployed set vs buy & hold", benchmark="buy & hold (equal weight)")
    directory = artifacts.phase_dir("reports", day)
    json_path = artifact_files.write_json(directory / "report.json", report)
    artifact_files.write_text(directory / "report.md", markdown)
    (directory / "equity.png").write_bytes(plot)
    artifacts.archive("reports", day, report["run_id"], report_row(report))
    if report["budget"].get("within_budget") is False:
        context.log.warning(budget_line(report["budget"], report["counts"]["generated"]))
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(markdown),
            "equity_plot": dg.MetadataValue.md(markdown_image(plot, "equity")),
            "generated": dg.MetadataValue.int(report["counts"]["generated"]),
            "passed_validation": dg.MetadataValue.int(report["counts"]["passed_validation"]),
            "deployed": dg.MetadataValue.int(report["counts"]["deployed"]),
            "budget": dg.MetadataValue.json(report["budget"]),
            "run_id": report["run_id"],
            "path": dg.MetadataValue.path(str(json_path)),
        }
    )


def _probation_figure(plan) -> str:
    """Each probationer's forward evidence against its bound: ln(1 / anytime p) over ln(1 / its level), so 1 is where
    it is promoted to Kelly capital; oldest entry first."""
    looks = sorted(plan.looks.items(), key=lambda item: (str(item[1].get("probation_entered")), item[0]))
    progress = {
        name: math.log(1.0 / max(look["probation_forward_p"], 1e-300)) / math.log(1.0 / look["probation_alpha"])
        for name, look in looks
        if look.get("probation_alpha")
    }
    if not progress:
        return "nobody on probation tonight"
    return bar_figure(
        "probation",
        progress,
        1.0,
        f"{len(progress)} on probation, oldest entry first (at most 12 drawn); a bar is one's forward evidence, "
        "ln(1/anytime p) over ln(1/its level): at the dashed line, 1, it is promoted to Kelly capital",
    )
