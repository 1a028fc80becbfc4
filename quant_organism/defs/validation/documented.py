"""`validation/documented_tier`: the pre-registered portfolio rules judged on every day of the lake before the date.

The nightly reading of the gate's documented tier (validation/documented.py): each family's verdict against the
beta-matched market, at its fixed level, and what its test could have seen. The universe is the lake's coins,
point in time (a coin is a member once it has 90 days of bars before the day). On this nightly path its verdicts
do not deploy yet (the strategy store and the paper runtime hold per-coin seed strategies only); the chain the
retrospective and the benchmarks run trades them (deployment/documented.py).
"""

import dagster as dg
import numpy as np
import pandas as pd

from quant_organism import settings
from quant_organism.core import artifacts as artifact_files
from quant_organism.core.metrics import growth
from quant_organism.defs.automation.conditions import chain_condition
from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.shared.partitions import all_coins_of_day, daily_partitions
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource
from quant_organism.deployment.documented import universe as documented_universe
from quant_organism.market.panel import panel_from_rows
from quant_organism.reporting.plots import equity_curves, markdown_image
from quant_organism.strategies.portfolio import DOCUMENTED_RULES
from quant_organism.validation.documented import evidence_span, judge_documented, rule_returns

DOCUMENTED = dg.AssetKey(["validation", "documented_tier"])
VERDICT_FILE = "documented_tier.json"


@dg.asset(
    key=DOCUMENTED,
    automation_condition=chain_condition(),
    partitions_def=daily_partitions,
    deps=[dg.AssetDep(CANDLES, partition_mapping=all_coins_of_day), dg.AssetDep(FUNDING, partition_mapping=all_coins_of_day)],
    group_name="validation",
    kinds={"python", "json"},
    description="The documented tier: pre-registered portfolio rules (time-series trend, cross-sectional momentum, "
    "funding carry) judged against the beta-matched market on every day of the lake before the date, each family at "
    "its fixed share of the 2.5% family-wise error, with the annual Sharpe its test could have seen.",
)
def documented_tier(context: dg.AssetExecutionContext, lake: LakeResource, artifacts: ArtifactsResource) -> dg.MaterializeResult:
    day = pd.Timestamp(context.partition_key, tz="UTC")
    coins = settings.coins()
    store = lake.lake()
    end = day + pd.Timedelta(days=1)
    candles, _ = store.read("candles", coins, settings.partitions_start_date(), end, settings.interval())
    if candles.empty:
        raise dg.Failure(description=f"the lake holds no candles of {coins} up to {day.date()}: ingest the market data first")
    funding, _ = store.read("funding_rates", coins, settings.partitions_start_date(), end)
    panel = panel_from_rows(candles, funding)
    members = documented_universe(panel)  # every lake coin, once it has 90 days of bars (market/universe.py)
    verdict = judge_documented(panel, day, members)
    context.log.info(verdict.summary())
    path = artifact_files.write_json(artifacts.phase_dir("validation", context.partition_key) / VERDICT_FILE, verdict.to_dict())
    trend = next(f for f in verdict.families if f.family == "ts_trend")
    return dg.MaterializeResult(
        metadata={
            "span": "the whole history before the date after the rules' warm-up: out-of-sample for rules never fitted",
            "evidence_days": dg.MetadataValue.int(verdict.n_days),
            "passed": dg.MetadataValue.json(list(verdict.passed)),
            "families": dg.MetadataValue.json(
                {
                    f.family: {"level": f.level, "spa_pvalue": f.spa_pvalue if f.tested else None, "reason": f.reason}
                    for f in verdict.families
                }
            ),
            "detectable_sharpe_50": dg.MetadataValue.float(trend.power.at_50 if trend.power else float("nan")),
            "detectable_sharpe_80": dg.MetadataValue.float(trend.power.at_80 if trend.power else float("nan")),
            "summary": verdict.summary(),
            "excess_plot": dg.MetadataValue.md(_excess_plot(panel, members, day, verdict)),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


def _excess_plot(panel, members, day, verdict) -> str:
    """Each family's best rule (largest t), its net returns compounded over the evidence span."""
    if verdict.start is None or not verdict.rules:
        return "no evidence yet: the rules' warm-up is longer than the lake's history"
    span = evidence_span(panel.closes.index, day)
    curves = {}
    for rules in DOCUMENTED_RULES.values():
        judged = [r for r in rules if r.name in verdict.rules]
        if not judged:
            continue
        best = max(judged, key=lambda r: verdict.rules[r.name].t_stat if np.isfinite(verdict.rules[r.name].t_stat) else -np.inf)
        returns = rule_returns(panel, (best,), members)[best.name].reindex(span)
        curves[f"{best.name} (beta {verdict.rules[best.name].beta:.2f})"] = growth(returns)
    return markdown_image(equity_curves(curves, "documented tier: each family's best rule (evidence span)"), "documented tier")
