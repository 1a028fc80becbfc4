"""`validation/portfolio_search`: the night's portfolio genomes searched on its train window and gated on the days after.

The nightly reading of the portfolio search (evolution/portfolio_search.py, validation/searched_rules.py), on the very
frames and windows the seed search read (`night_frames`, the population's windows), through the call `run_chain`
makes (deployment/chain.portfolio_search). It writes the verdict (every candidate's train and held-out figures, the
trials and the effective trials spent, what the gate could have seen) and the net daily returns of its passers (their
held-out days only) and of the searched rules trading now (their whole span: the decision reads their forward records
from where they were deployed). The deployment asset hands both to the night's decision beside the other tiers.
"""

import dagster as dg
import pandas as pd

from quant_organism.catalog.manifest import deployed_rules
from quant_organism.core import artifacts as artifact_files
from quant_organism.core.metrics import growth
from quant_organism.defs.automation.conditions import chain_asset
from quant_organism.defs.evolution.assets import POPULATION
from quant_organism.defs.shared.numbers import UNITS_OF_THE_GATE, rounded
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource, StrategyStoreResource
from quant_organism.defs.shared.tables import metadata_table
from quant_organism.defs.validation.night_frames import tier_inputs
from quant_organism.deployment import documented_capital as documented
from quant_organism.deployment.budget_table import COLUMNS as BUDGET_COLUMNS
from quant_organism.deployment.budget_table import budget_rows, budget_sentence
from quant_organism.deployment.chain import ChainSettings
from quant_organism.deployment.chain import portfolio_search as search_night
from quant_organism.reporting.inline_figure import line_figure
from quant_organism.reporting.plots import equity_curves, markdown_image
from quant_organism.strategies.portfolio_genome import PREFIX
from quant_organism.validation.searched_rules import candidate_verdicts, held_out_only

PORTFOLIO = dg.AssetKey(["validation", "portfolio_search"])
VERDICT_FILE = "portfolio_search.json"
RETURNS_FILE = "portfolio_returns.parquet"  # net daily returns of the passers (held-out days) and the live searched rules


@chain_asset(key=PORTFOLIO, deps=[POPULATION], group_name="validation", kinds={"python", "json", "parquet"})
def portfolio_search(
    context: dg.AssetExecutionContext, lake: LakeResource, artifacts: ArtifactsResource, catalog: StrategyStoreResource
) -> dg.MaterializeResult:
    """The portfolio search: portfolio construction as genes (signal, ranking or time series, long/short or long/flat,
    volatility target, rebalance, age filter) evolved with NSGA-II on the night's train window only, its best candidates
    judged once by SPA/StepM on the held-out days after it at its fixed 0.25% of the night's 2.5%, with the trials and
    effective trials it spent; its passers compete for capital in the night's decision."""
    day = context.partition_key
    result, frames, top, costs = tier_inputs(lake, artifacts, day)
    verdict = search_night(frames, result.windows, ChainSettings(evolution=result.config, universe_top=top))
    context.log.info(verdict.summary())
    live = [name for name in deployed_rules(catalog.store()) if name.startswith(PREFIX)]
    daily = documented.rule_daily_returns(frames, sorted(set(live) | set(verdict.passed)), top, costs)
    daily = held_out_only(daily, {name: verdict.held_out.start for name in verdict.passed if name not in live})
    directory = artifacts.phase_dir("validation", day)
    path = artifact_files.write_json(
        directory / VERDICT_FILE, {**verdict.to_dict(), "universe_top": top, "verdicts": candidate_verdicts(verdict)}
    )
    artifact_files.write_frame(directory / RETURNS_FILE, daily.rename_axis("day").reset_index())
    return dg.MaterializeResult(
        metadata={
            "units": UNITS_OF_THE_GATE,
            "span": "chosen on train; judged on the held-out days after it (never seen by the search)",
            "train": f"{verdict.train.start.date()} .. {(verdict.train.end - pd.Timedelta(days=1)).date()}",
            "held_out_days": dg.MetadataValue.int(verdict.held_out_days),
            "tried": dg.MetadataValue.int(verdict.tried),
            "effective_trials": dg.MetadataValue.float(round(verdict.effective_trials, 1)),
            "level": rounded(verdict.level, 4),
            "spa_pvalue": dg.MetadataValue.float(round(verdict.spa_pvalue, 4)),
            "passed": dg.MetadataValue.json(verdict.passed),
            "detectable_sharpe_50": dg.MetadataValue.float(round(verdict.reach.at_50, 2) if verdict.reach else float("nan")),
            "candidates": dg.MetadataValue.md(_table(verdict)),
            "error_budget": budget_sentence(),
            "error_budgets": metadata_table(budget_rows(), BUDGET_COLUMNS),
            "summary": verdict.summary(),
            "held_out_figure": dg.MetadataValue.md(_figure(verdict)),
            "held_out_plot": dg.MetadataValue.md(_plot(verdict)),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


def read_portfolio_search(artifacts: ArtifactsResource, day: str) -> tuple[list[dict], pd.DataFrame]:
    """(the passers' verdict dicts, the daily returns the asset wrote) for `day`; ([], empty) when never run."""
    directory = artifacts.phase_dir("validation", day)
    if not (directory / VERDICT_FILE).exists():
        return [], pd.DataFrame()
    daily = artifact_files.read_frame(directory / RETURNS_FILE).set_index("day")
    return artifact_files.read_json(directory / VERDICT_FILE)["verdicts"], daily


def _table(verdict) -> str:
    """One row per candidate: its train figure (where it was chosen) beside its held-out ones (where it was judged)."""
    lines = ["| candidate | train excess Sharpe | held-out excess Sharpe | beta | t | passed |", "|---|---|---|---|---|---|"]
    for genome in verdict.candidates:
        f = verdict.figures.get(genome.name)
        if f is None:
            lines.append(f"| {genome.name} | | | | | not judged |")
            continue
        lines.append(f"| {genome.name} | {f.train_excess_sharpe:.2f} | {f.held_out_excess_sharpe:.2f} | {f.beta:.2f} | "
                     f"{f.t_stat:.2f} | {'yes' if f.superior else 'no'} |")  # fmt: skip
    return "\n".join(lines)


def _figure(verdict) -> str:
    """The first candidates' held-out growth, small enough to show on the page."""
    if verdict.daily.empty:
        return f"not judged: {verdict.reason}"
    curves = {name: growth(verdict.daily[name].fillna(0.0)) for name in [g.name for g in verdict.candidates[:2]]}
    return line_figure("portfolio search", curves, 1.0, "growth of 1 over the held-out days; dashed: 1")


def _plot(verdict) -> str:
    """The first three candidates' net returns compounded over the held-out days."""
    if verdict.daily.empty:
        return f"not judged: {verdict.reason}"
    curves = {name: growth(verdict.daily[name].fillna(0.0)) for name in [g.name for g in verdict.candidates[:3]]}
    return markdown_image(equity_curves(curves, "portfolio search: first candidates on held-out days"), "portfolio search")
