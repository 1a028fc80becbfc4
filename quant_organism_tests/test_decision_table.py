"""The night's decision as one table: every strategy weighed, its tier, its outcome and the reason in words."""

from __future__ import annotations

from datetime import date

import pandas as pd

from quant_organism.deployment.decision import ChosenStrategy, DeploymentPlan, RejectedStrategy
from quant_organism.deployment.decision_table import decision_rows, tier_of
from quant_organism.deployment.night import Night
from quant_organism.deployment.scoring import PaperRecord

SEARCHED = "searched.momentum.follow.cross_section.long_short.L28.q30.equal.r7.age0"


def test_every_strategy_weighed_has_a_row_with_its_outcome_and_reason() -> None:
    plan = DeploymentPlan(
        chosen=(
            ChosenStrategy(
                "documented.ts_trend_60d_long_flat", 0.02, 3.1, 0.5, stage="probation", probation={"entered": "2025-01-02"}
            ),  # fmt: skip
            ChosenStrategy(SEARCHED, 0.02, 2.9, 0.4, stage="probation", probation={"entered": "2025-03-01"}),
            ChosenStrategy("ema_crossover_0001", 0.10, 2.0, 0.3, stage="capital"),
        ),
        rejected=(
            RejectedStrategy(
                "sma_trend_0002",
                "correlation 0.912 with ema_crossover_0001 (chosen, ranked higher) exceeds 0.7",
                1.5,
                "ema_crossover_0001",
                0.912,
            ),  # fmt: skip
            RejectedStrategy("rsi_filter_0003", "no positive edge on the validation returns (Kelly f* = -0.2)", 1.1),
        ),
        cash=0.86,
    )
    night = Night(
        day=date(2025, 3, 1),
        verdicts=[{"candidate_id": "ema_crossover_0001", "gate_pvalue": 0.0012, "reasons": []}],
        held_out=pd.DataFrame(),
        documented=[{"candidate_id": SEARCHED, "gate_pvalue": 0.0004, "reasons": ["portfolio search: chosen on train"]}],
        paper={
            "documented.ts_trend_60d_long_flat": PaperRecord(days=58, sharpe=1.4, max_drawdown=0.05, capital=False),
            "rsi_filter_0003": PaperRecord(days=90, sharpe=-0.3, max_drawdown=0.2),
        },  # fmt: skip
    )
    rows = {r["strategy"]: r for r in decision_rows(plan, night)}
    assert list(rows) == [c.name for c in plan.chosen] + [r.name for r in plan.rejected]
    assert rows["documented.ts_trend_60d_long_flat"]["outcome"] == "carried over from 2025-01-02"
    assert "58 forward days, annual Sharpe 1.40" in rows["documented.ts_trend_60d_long_flat"]["reason"]
    assert rows[SEARCHED]["outcome"] == "entered probation" and rows[SEARCHED]["tier"] == "portfolio search"
    assert rows[SEARCHED]["reason"].startswith("passed its gate (p 0.0004); portfolio search")
    assert (
        rows["ema_crossover_0001"]["outcome"] == "deployed with capital" and rows["ema_crossover_0001"]["allocation_pct"] == 10.0
    )
    assert rows["sma_trend_0002"]["outcome"] == "rejected" and "with ema_crossover_0001" in rows["sma_trend_0002"]["reason"]
    assert rows["rsi_filter_0003"]["outcome"] == "retired"  # it traded until tonight
    assert {tier_of(n) for n in rows} == {"documented rule", "portfolio search", "seed search"}
