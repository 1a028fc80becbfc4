"""Issue 79: death reports the search learns from.

A strategy retired with a losing forward record lowers its family's share of the next search's initial population;
only its forward record is read, never the held-out figures a later gate judges again; deaths on or after the
evolution date are not seen; reports are written atomically, and a corrupt one is reported and left in place.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pandas as pd
import pytest

from quant_organism.catalog.death_reports import DeathReport, ForwardFigures, read_reports, write_report
from quant_organism.deployment.retirements import death_report
from quant_organism.evolution.death_feedback import DISCOUNT, FLOOR, family_weights
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.evolution.operators import allocate
from quant_organism.strategies.genes import SeedType

DAY = date(2025, 6, 1)
TREND, REVERSION = SeedType.EMA_CROSSOVER, SeedType.VWAP_REVERSION


def died(family: SeedType, on: str = "2025-05-01", mean: float = -0.001, days: int = 60, **fields) -> DeathReport:
    return DeathReport(f"{family.value}_x", family.value, on, "futile", ForwardFigures(days, mean, None), **fields)


def shares(config: EvolutionConfig, n: int = 400) -> Counter:
    """The initial population's families: what the search draws before any breeding (island._initial_population)."""
    return Counter(allocate(n, config.seed_type_weights()))


def test_a_family_that_failed_forward_is_drawn_less_by_the_next_search():
    config = EvolutionConfig(seed_types={TREND: 1.0, REVERSION: 1.0})
    feedback = family_weights(config.seed_types, [died(TREND), died(TREND, "2025-04-01")], DAY)
    after = config.model_copy(update={"seed_types": feedback.weights})
    before_share, after_share = shares(config)[TREND] / 400, shares(after)[TREND] / 400
    assert before_share == pytest.approx(0.5) and after_share == pytest.approx(DISCOUNT**2 / (1 + DISCOUNT**2), abs=0.01)
    assert feedback.failures == {TREND.value: 2} and "sampled less" in feedback.describe()
    many = family_weights(config.seed_types, [died(TREND, f"2025-0{k}-01") for k in range(1, 6)], DAY)
    assert many.weights[TREND] == pytest.approx(FLOOR)  # never out of the search


@pytest.mark.parametrize(
    "report",
    [
        died(TREND, "2025-06-01"),  # retired on the evolution date: not seen (no lookahead)
        died(TREND, "2024-05-01"),  # more than a year before: aged out
        died(TREND, mean=0.002),  # earned forward: retired for another reason
        died(TREND, days=10),  # too short a forward record to say anything
    ],
    ids=["same-day", "aged-out", "earned", "short"],
)
def test_deaths_that_say_nothing_forward_leave_the_sampling_alone(report):
    assert family_weights({TREND: 1.0, REVERSION: 1.0}, [report], DAY).weights == {TREND: 1.0, REVERSION: 1.0}


class _Untouchable(dict):
    """Held-out figures that fail if the search reads them."""

    def _refuse(self, *_args, **_kwargs):
        raise AssertionError("the search read held-out figures")

    __getitem__ = get = items = keys = values = __iter__ = __len__ = __contains__ = _refuse


def test_no_held_out_figure_reaches_the_search():
    """The reports' held-out figures (the gate's evidence, judged again by later gates) are never read: the weights
    are computed with held-out fields that raise when touched, and do not depend on their values."""
    poisoned = died(TREND)
    object.__setattr__(poisoned, "held_out", _Untouchable())
    glowing = died(TREND, held_out={"validation_sharpe": 9.9, "spa_pvalue": 0.0})
    assert family_weights({TREND: 1.0}, [poisoned], DAY) == family_weights({TREND: 1.0}, [glowing], DAY)


def test_reports_are_written_atomically_read_back_and_a_corrupt_one_is_left_in_place(tmp_path):
    report = died(TREND, held_out={"validation_sharpe": 1.2}, regimes={"up/low vol": 30}, genome="abc")
    path = write_report(tmp_path, report)
    (path.parent / "broken__2025-05-02.json").write_text("{not json")
    legacy = {"strategy": "old", "seed_type": REVERSION.value, "retired_on": "2025-03-01", "why": "decayed",
              "paper": {"days": 40, "sharpe": -0.8}}  # fmt: skip
    (path.parent / "old__2025-03-01.json").write_text(pd.Series(legacy).to_json())
    reports, unreadable = read_reports(tmp_path, before=DAY)
    assert [r.strategy for r in reports] == ["old", report.strategy] and reports[1] == report
    assert reports[0].forward == ForwardFigures(40, None, -0.8) and reports[0].forward.failed  # a runtime post-mortem
    assert len(unreadable) == 1 and "broken" in unreadable[0] and (path.parent / "broken__2025-05-02.json").exists()
    assert read_reports(tmp_path, before=date(2025, 4, 1))[0][0].strategy == "old"


def test_the_report_of_a_retirement_carries_its_forward_record_and_the_regimes_it_met():
    index = pd.date_range("2025-03-01", periods=24 * 60, freq="h", tz="UTC")
    bars = pd.Series(np.where(index < index[24 * 20], np.nan, -0.0001), index=index)  # forward from day 20 only
    regimes = pd.DataFrame({"trend_regime": ["down"] * 60, "vol_regime": ["high"] * 30 + ["low"] * 30},
                           index=pd.date_range("2025-03-01", periods=60, freq="D"))  # fmt: skip
    report = death_report("s", TREND.value, DAY, "futile", bars, held_out={"validation_sharpe": 2.0, "fitness": 1.0},
                          regimes=regimes)  # fmt: skip
    assert report.forward.days == 40 and report.forward.mean_daily == pytest.approx((1 - 0.0001) ** 24 - 1)
    assert report.forward.failed and report.held_out == {"validation_sharpe": 2.0}
    assert report.regimes == {"down/high vol": 10, "down/low vol": 30}


def test_the_population_asset_weights_its_search_by_the_store_s_reports(tmp_path):
    """The nightly evolution reads the store's reports before its day; an unreadable one is logged and left."""
    from quant_organism.catalog.store import STORE_DIR
    from quant_organism.defs.evolution.assets import _death_feedback
    from quant_organism.defs.shared.resources import ArtifactsResource

    write_report(tmp_path / STORE_DIR, died(TREND))
    write_report(tmp_path / STORE_DIR, died(REVERSION, "2025-06-02"))  # after the day: not read
    (tmp_path / STORE_DIR / "post_mortems" / "junk__x.json").write_text("[")
    messages: list[str] = []

    class Log:
        info = warning = messages.append

    evolution = EvolutionConfig(seed_types={TREND: 1.0, REVERSION: 1.0})
    updated, summary = _death_feedback(ArtifactsResource(root=str(tmp_path)), evolution, DAY.isoformat(), Log())
    assert updated.seed_types == {TREND: DISCOUNT, REVERSION: 1.0} and summary["failures"] == {TREND.value: 1}
    assert any("junk__x.json" in m for m in messages) and (tmp_path / STORE_DIR / "post_mortems" / "junk__x.json").exists()


def test_the_deployment_writes_a_report_for_each_strategy_it_retires(tmp_path):
    """What the deployment asset does after archiving: each retired name gets a report with the night's reason, its
    family and held-out figures as the store had them, and its forward record from the night's table."""
    from quant_organism.catalog.store import StrategyStore
    from quant_organism.defs.deployment.assets import _death_reports, _families
    from quant_organism.defs.shared.resources import LakeResource
    from quant_organism.deployment.decision import DeploymentPlan, RejectedStrategy
    from quant_organism.deployment.night import Night
    from quant_organism.deployment.scoring import PaperRecord
    from quant_organism_tests.support.runtime_cases import config, genes

    store = StrategyStore(tmp_path / "strategies")
    store.save_strategy(config(genes("ema_crossover", "old", fast_period=5, slow_period=20), name="old",
                               metrics={"validation_sharpe": 1.4, "fitness": 2.0}))  # fmt: skip
    index = pd.date_range("2025-04-01", periods=24 * 50, freq="h", tz="UTC")
    night = Night(day=DAY, verdicts=[], held_out=pd.DataFrame({"old": -0.00005}, index=index),
                  paper={"old": PaperRecord(50, -1.1, 0.05)}, genomes={"old": "h1"})  # fmt: skip
    plan = DeploymentPlan((), (RejectedStrategy("old", "futile: its forward mean is below zero", 0.0),), 1.0)
    families = _families(store, night)
    paths = _death_reports(store, night, plan, ["old"], families, LakeResource(root=str(tmp_path / "lake")))
    (report,), _ = read_reports(store.directory)
    assert paths == {"old": str(store.directory / "post_mortems" / f"old__{DAY.isoformat()}.json")}
    assert (report.family, report.why, report.genome) == ("ema_crossover", "futile: its forward mean is below zero", "h1")
    assert report.forward.days == 50 and report.forward.failed and report.held_out == {"validation_sharpe": 1.4}
