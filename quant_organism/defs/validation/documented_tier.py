"""`validation/documented_tier`: the pre-registered portfolio rules judged on the night's data before the date.

The nightly reading of the gate's documented tier (validation/documented.py), on the very frames the search and its
gate read (the population's coins over its fitted lookback: `night_frames`), through the same call `run_chain`
makes (deployment/documented.judge): each family's verdict against the beta-matched market, at its fixed level,
and what its test could have seen. The universe is point in time (market/universe.py): on each day the coins with
90 days of bars before it, the top N by trailing dollar volume when the universe is a ranking
(settings.universe_top). The asset writes the verdict and every runnable rule's net daily returns; the deployment
asset hands both to the night's decision (deployment/night.decide), where the passers compete for capital beside
the search's.
"""

import dagster as dg
import numpy as np
import pandas as pd

from quant_organism.catalog.manifest import retired_rules
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
from quant_organism.reporting.inline_figure import line_figure
from quant_organism.reporting.plots import equity_curves, markdown_image
from quant_organism.strategies.portfolio import DOCUMENTED_RULES
from quant_organism.validation.documented import evidence_span
from quant_organism.validation.tiers import DOCUMENTED_FAMILY_LEVELS, DOCUMENTED_LEVEL
from quant_organism.validation.verdict_tables import FAMILY_COLUMNS, RULE_COLUMNS, family_rows, rule_rows

DOCUMENTED = dg.AssetKey(["validation", "documented_tier"])
VERDICT_FILE = "documented_tier.json"
RETURNS_FILE = "documented_returns.parquet"  # net daily returns of every rule the data can run, one column a rule


@chain_asset(key=DOCUMENTED, deps=[POPULATION], group_name="validation", kinds={"python", "json", "parquet"})
def documented_tier(
    context: dg.AssetExecutionContext, lake: LakeResource, artifacts: ArtifactsResource, catalog: StrategyStoreResource
) -> dg.MaterializeResult:
    """The documented tier: pre-registered portfolio rules (time-series trend, cross-sectional momentum, funding carry)
    judged against the beta-matched market on the night's data before the date (the search's coins and lookback), each
    rule's record one always-valid e-process, each family at its fixed share of the 2.5% family-wise error spent once
    however many nights look, with the annual Sharpe its test could have seen; its passers compete for capital in the
    night's decision."""
    day = context.partition_key
    result, frames, top, costs = tier_inputs(lake, artifacts, day)
    verdict = documented.judge(frames, result.windows.evolution_date, top, costs, retired_rules(catalog.store()))
    context.log.info(verdict.summary())
    directory = artifacts.phase_dir("validation", day)
    path = artifact_files.write_json(
        directory / VERDICT_FILE,
        {**verdict.to_dict(), "universe_top": top, "candidates": documented.candidate_verdicts(verdict)},
    )
    names = [documented.documented_name(r.name) for rules in DOCUMENTED_RULES.values() for r in rules]
    daily = documented.rule_daily_returns(frames, names, top, costs)
    artifact_files.write_frame(directory / RETURNS_FILE, daily.rename_axis("day").reset_index())
    trend = next(f for f in verdict.families if f.family == "ts_trend")
    panel = documented.frames_panel(frames)
    curves = _best_rule_curves(panel, daily, verdict)
    return dg.MaterializeResult(
        metadata={
            "span": "the whole history before the date after the rules' warm-up: out-of-sample for rules never fitted",
            "units": UNITS_OF_THE_GATE,
            "evidence_days": dg.MetadataValue.int(verdict.n_days),
            "passed": dg.MetadataValue.json(list(verdict.passed)),
            "families": metadata_table(family_rows(verdict), FAMILY_COLUMNS),
            "detectable_sharpe_of": f"the trend family (ts_trend, {DOCUMENTED_FAMILY_LEVELS['ts_trend']:.1%} of the tier's "
            f"{DOCUMENTED_LEVEL:.1%}); every family's is in `families`",
            "detectable_sharpe_50": rounded(trend.power.at_50 if trend.power else None, 2),
            "detectable_sharpe_80": rounded(trend.power.at_80 if trend.power else None, 2),
            "universe": "every coin with 90 days of bars" if top is None else f"point-in-time top {top} by dollar volume",
            "summary": verdict.summary(),
            "rules": metadata_table(rule_rows(verdict), RULE_COLUMNS),
            "error_budget": budget_sentence(),
            "error_budgets": metadata_table(budget_rows(), BUDGET_COLUMNS),
            "excess_figure": dg.MetadataValue.md(_excess_figure(curves)),
            "excess_plot": dg.MetadataValue.md(_excess_plot(curves)),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


def read_documented(artifacts: ArtifactsResource, day: str) -> tuple[dict | None, pd.DataFrame]:
    """(the tier's verdict dict, its rules' net daily returns) stored for `day`; (None, empty) when never judged."""
    directory = artifacts.phase_dir("validation", day)
    if not (directory / VERDICT_FILE).exists():
        return None, pd.DataFrame()
    daily = artifact_files.read_frame(directory / RETURNS_FILE).set_index("day")
    return artifact_files.read_json(directory / VERDICT_FILE), daily


def _best_rule_curves(panel, daily: pd.DataFrame, verdict) -> dict[str, pd.Series]:
    """Each family's best rule (largest t), its net returns compounded over the evidence span ({} before any)."""
    if verdict.start is None or not verdict.rules:
        return {}
    span = evidence_span(panel.closes.index, verdict.date)
    curves = {}
    for rules in DOCUMENTED_RULES.values():
        judged = [r for r in rules if r.name in verdict.rules]
        if not judged:
            continue
        best = max(judged, key=lambda r: verdict.rules[r.name].t_stat if np.isfinite(verdict.rules[r.name].t_stat) else -np.inf)
        returns = daily[documented.documented_name(best.name)].reindex(span)
        curves[f"{best.name} (beta {verdict.rules[best.name].beta:.2f})"] = growth(returns)
    return curves


def _excess_figure(curves: dict[str, pd.Series]) -> str:
    if not curves:
        return "no evidence yet: the rules' warm-up is longer than the night's history"
    return line_figure("documented tier", curves, 1.0, "growth of 1 over the evidence span, net of costs; dashed: 1")


def _excess_plot(curves: dict[str, pd.Series]) -> str:
    if not curves:
        return "no evidence yet: the rules' warm-up is longer than the night's history"
    return markdown_image(equity_curves(curves, "documented tier: each family's best rule (evidence span)"), "documented tier")
