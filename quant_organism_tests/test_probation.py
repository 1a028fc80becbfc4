"""Probation (deployment/probation.py, sequential.py, error_budget.py): a newly chosen strategy holds only its
incubation capital until its forward record crosses an always-valid bound at its share of the year's error
budget; the test keeps its size however often it is looked at, on fat tails and on serially correlated returns;
identity is the genome."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import signal

from quant_organism.deployment.decision import DecisionConfig
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.probation import MIN_BLOCKS, ProbationEntry, bonferroni_p
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import Retired, plan_from_verdicts
from quant_organism.validation.sequential import Prior, log_mixture, lower_bound

BARS = pd.date_range("2024-01-01", periods=24 * 200, freq="h", tz="UTC")
LAST_DAY = BARS[-1].date()


def _bars(seed: int, mean: float = 0.0002, sd: float = 0.004, forward_days: int | None = None) -> np.ndarray:
    """Hourly returns; with `forward_days`, NaN before the last `forward_days` days (an incumbent's forward record)."""
    values = np.random.default_rng(seed).normal(mean, sd, len(BARS))
    if forward_days is not None:
        values[: len(BARS) - 24 * forward_days] = np.nan
    return values


def _verdict(name: str, gate_p: float = 0.01) -> dict:
    return {"candidate_id": name, "score": 0.9, "passed": True, "mode": "full", "reasons": [], "gate_pvalue": gate_p}


def _on_probation(entered_days_ago: int, gate_p: float = 0.01, alpha: float = 0.0304, genome: str = "g") -> PaperRecord:
    entered = LAST_DAY - timedelta(days=entered_days_ago - 1)
    entry = ProbationEntry.open(entered, alpha, gate_p, 0.0, pd.Series(np.full(60, 0.001) + np.tile([0.01, -0.01], 30)), genome)
    return PaperRecord(days=entered_days_ago, sharpe=None, max_drawdown=None, capital=False, probation=entry.to_dict())


def test_a_newcomer_enters_at_incubation_capital_spending_the_years_first_share():
    returns = pd.DataFrame({"new": _bars(1)}, index=BARS)
    on = plan_from_verdicts([_verdict("new")], returns, genomes={"new": "hash-new"})
    assert [(c.name, c.allocation, c.stage) for c in on.chosen] == [("new", 0.02, "probation")]
    entry = ProbationEntry.from_dict(on.chosen[0].probation)
    assert entry.alpha == pytest.approx(0.05 * 6 / math.pi**2) and entry.gate_p == 0.01 and entry.genome == "hash-new"
    assert entry.entered == LAST_DAY + timedelta(days=1)  # its forward record starts after the data that chose it
    assert [s.name for s in on.budget.spends] == ["new"] and any("error budget" in n for n in on.notes)
    off = plan_from_verdicts([_verdict("new")], returns, DecisionConfig(probation_days=0))
    assert off.chosen[0].allocation > 0.02 and off.chosen[0].stage == "capital"
    assert off.budget.spends == ()  # probation off: no entry, but the (empty) ledger is still carried
    with pytest.raises(ValueError, match="probation_allocation"):
        DecisionConfig(probation_allocation=0.1)  # ten of them would hold all the capital


def test_the_budget_is_never_overspent_in_any_365_days_and_counts_each_probation_over_its_life():
    rng = np.random.default_rng(3)
    budget, lives, ends = ErrorBudget(), {}, {}
    start = date(2024, 6, 1)
    for offset in range(3 * 365):  # nights in order: entries in bursts, each ending 4 to 730 days later (or never)
        day = start + timedelta(days=offset)
        for genome in [g for g, end in ends.items() if end == day]:
            budget = budget.end(genome, day)
            lives[genome] = (lives[genome][0], day, lives[genome][2])
        for _ in range(int(rng.poisson(0.3))):
            genome = f"g{len(lives)}"
            budget, alpha = budget.spend(genome, genome, day)
            lives[genome] = (day, day + timedelta(days=budget.life_days), alpha)
            if rng.uniform() < 0.7:
                ends[genome] = day + timedelta(days=int(rng.integers(28, 730)))
    worst = 0.0
    for offset in range(0, 4 * 365, 5):  # every window of 365 days: the levels of the probations alive in it
        w0 = start + timedelta(days=offset)
        w1 = w0 + timedelta(days=365)
        worst = max(worst, sum(alpha for entered, last, alpha in lives.values() if entered <= w1 and last >= w0))
    assert len(lives) > 250 and worst < 0.05
    rerun, again = budget.spend(
        "again", budget.spends[-1].genome, budget.spends[-1].day
    )  # a rerun of that date: the same entry, nothing spent
    assert rerun is budget and again == budget.spends[-1].alpha
    assert ErrorBudget.from_dict(budget.to_dict()) == budget


def test_a_new_year_does_not_reset_the_budget():
    budget, levels = ErrorBudget(), []
    for k in range(20):  # ten entries on 31 December, ten on 1 January: one window, one budget
        budget, alpha = budget.spend(f"s{k}", f"g{k}", date(2025, 12, 31) + timedelta(days=k // 10))
        levels.append(alpha)
    assert levels[10] == pytest.approx(ErrorBudget().share(11))  # 1 January continues the count, not a fresh 3.04%
    assert sum(levels) < 0.05  # before: 9.4%
    # a year after the last entry its probation still runs (life 730 days): it still counts
    _, later = budget.spend("late", "g-late", date(2027, 1, 1))
    assert later == pytest.approx(ErrorBudget().share(21))
    ended = budget
    for k in range(20):
        ended = ended.end(f"g{k}", date(2026, 3, 1))
    _, fresh = ended.spend("late", "g-late", date(2027, 3, 2))  # all ended more than 365 days before: a fresh count
    assert fresh == pytest.approx(ErrorBudget().share(1))


def test_probation_off_for_a_night_carries_the_ledger_and_the_next_night_continues_it():
    returns = pd.DataFrame({"new": _bars(1), "other": _bars(2)}, index=BARS)
    first = plan_from_verdicts([_verdict("new")], returns, genomes={"new": "g-new"})
    off = plan_from_verdicts([], returns, DecisionConfig(probation_days=0), budget=first.budget)
    assert off.budget == first.budget  # carried unchanged, not dropped
    on = plan_from_verdicts([_verdict("other")], returns, budget=off.budget, genomes={"other": "g-other"})
    assert [s.name for s in on.budget.spends] == ["new", "other"]
    assert ProbationEntry.from_dict(on.chosen[0].probation).alpha == pytest.approx(ErrorBudget().share(2))


def _entry_path(rng, days: int, mean: float, phi: float, df: float | None, alpha: float) -> bool:
    """One year of forward days through a probation entry, looked at every week: promoted ever?"""
    shocks = rng.standard_t(df, days) * math.sqrt((df - 2) / df) if df else rng.standard_normal(days)
    x = signal.lfilter([math.sqrt(1 - phi * phi)], [1.0, -phi], shocks)  # AR(1) with unit variance
    daily = pd.Series(0.02 * x + mean, index=pd.date_range("2025-01-01", periods=days, freq="D", tz="UTC"))
    held_out = pd.Series(0.02 * rng.standard_normal(180) + 0.004)  # an inflated held-out mean: an aggressive prior
    entry = ProbationEntry.open(date(2025, 1, 1), alpha, 0.001, 0.0, held_out, "g")
    for week in range(1, days // 7 + 1):  # a look every week: the size must hold over all of them
        entry = entry.update(daily, None, date(2025, 1, 1) + timedelta(days=7 * week - 1))
        if entry.crossed:
            return True
    return False


@pytest.mark.parametrize(("phi", "df"), [(0.0, 3.0), (0.2, 3.0), (0.2, None)], ids=["t3", "t3-ar0.2", "normal-ar0.2"])
def test_the_sequential_test_keeps_its_size_on_fat_tails_and_serially_correlated_returns(phi, df):
    rng = np.random.default_rng(7)
    alpha, paths = 0.05, 300
    # the forward record has zero mean, looked at every week of a year
    false = sum(_entry_path(rng, 364, 0.0, phi, df, alpha) for _ in range(paths))
    assert false / paths <= alpha  # measured about 1-2%: the bound is conservative, never exceeded


def _left_skewed(rng, days: int, crash: float, per_year: float, vol: float = 0.26) -> np.ndarray:
    """Zero-mean daily returns of small gains and rare one-day crashes of `crash` (carry, short volatility)."""
    crashes = rng.uniform(size=days) < per_year / 365.0
    drift = crash * per_year / 365.0  # what the crashes take back, on average
    return drift + vol / math.sqrt(365) * rng.standard_normal(days) - crash * crashes


@pytest.mark.parametrize(("crash", "per_year"), [(0.15, 2.0), (0.25, 1.0), (0.40, 0.5)], ids=["2x15%", "1x25%", "0.5x40%"])
def test_the_probation_keeps_its_size_on_left_skewed_records(crash, per_year):
    """Zero-mean records that gain a little most weeks and give it back in a crash: the self-normalised test this
    replaced promoted 6-24% of them within a year at a 3.04% level (the 25% and 40% crashes overshoot the weekly
    stop: outside the test's assumption, and still within its level)."""
    rng = np.random.default_rng(17)
    alpha, paths, promoted = 0.0304, 200, 0
    held_out = pd.Series(0.003 + 0.01 * rng.standard_normal(180))  # the prior a gate-passing held-out span gives
    index = pd.date_range("2025-01-01", periods=728, freq="D", tz="UTC")
    for _ in range(paths):
        daily = pd.Series(_left_skewed(rng, len(index), crash, per_year), index=index)
        entry = ProbationEntry.open(date(2025, 1, 1), alpha, 0.001, 0.0, held_out, "g")
        for week in range(1, 105):  # two years, looked at every week
            entry = entry.update(daily, None, date(2025, 1, 1) + timedelta(days=7 * week - 1))
            if entry.crossed:
                promoted += 1
                break
    assert promoted / paths <= alpha


def test_a_forward_edge_reaches_capital_within_the_year():
    rng = np.random.default_rng(11)
    sharpe4 = 4.0 / math.sqrt(365) * 0.02
    promoted = sum(_entry_path(rng, 364, sharpe4, 0.0, None, 0.0304) for _ in range(40))
    assert promoted >= 24  # >= 60% within a year at Sharpe 4 as the year's first entry (measured about 84% over 200)


def test_the_e_process_closed_form_matches_numerical_integration():
    prior = Prior(3.0, 2.0)
    grid = np.linspace(0.0, 40.0, 200_001)
    density = np.exp(-0.5 * ((grid - 3.0) / 2.0) ** 2)
    for total, squares in ((0.3, 0.05), (-0.2, 0.1), (0.0, 0.0)):
        numeric = np.trapezoid(np.exp(grid * total - grid**2 * squares / 2) * density, grid) / np.trapezoid(density, grid)
        assert log_mixture(total, squares, prior) == pytest.approx(math.log(numeric), abs=1e-6)


def test_a_probationer_crosses_with_a_forward_edge_and_a_null_one_waits_then_retires_as_futile():
    returns = pd.DataFrame({"edge": _bars(3, mean=0.0015, forward_days=90),
                            "loser": _bars(4, mean=-0.0015, forward_days=90)}, index=BARS)  # fmt: skip
    paper = {"edge": _on_probation(90, genome="g-edge"), "loser": _on_probation(90, genome="g-loser")}
    plan = plan_from_verdicts([], returns, paper=paper)
    (edge,) = plan.chosen
    assert edge.name == "edge" and edge.stage == "capital" and edge.allocation > 0.02
    assert ProbationEntry.from_dict(edge.probation).promoted_on == LAST_DAY
    assert plan.looks["edge"]["probation_promoted"] and plan.looks["edge"]["probation_weeks"] >= MIN_BLOCKS
    (loser,) = [r for r in plan.rejected if r.name == "loser"]
    assert "futile" in loser.reason


def test_a_young_probationer_waits_and_its_record_carries_over_nights():
    returns = pd.DataFrame({"young": _bars(2, mean=0.0, forward_days=20)}, index=BARS)
    plan = plan_from_verdicts([], returns, paper={"young": _on_probation(20)})
    (young,) = plan.chosen
    assert young.allocation == 0.02 and young.stage == "probation"
    entry = ProbationEntry.from_dict(young.probation)
    assert entry.blocks == 2 and entry.through == LAST_DAY - timedelta(days=6)  # two whole weeks; the third is not over
    # the next night the held-out span may not reach back to the entry: the sums carry the record
    later = pd.DataFrame({"young": _bars(5, mean=0.0, forward_days=8)}, index=BARS + pd.Timedelta(days=8))
    record = PaperRecord(days=28, sharpe=None, max_drawdown=None, capital=False, probation=young.probation)
    again = ProbationEntry.from_dict(plan_from_verdicts([], later, paper={"young": record}).chosen[0].probation)
    assert again.blocks == 4 and again.entered == entry.entered and again.through == LAST_DAY + timedelta(days=8)
    assert again.total == pytest.approx(entry.total + sum(_weeks(later["young"], entry.through)), abs=1e-12)


def _weeks(bars: pd.Series, after: date) -> list[float]:
    """The weekly excess (the sum of the daily returns) of hourly `bars` in whole weeks after `after`."""
    daily = (1 + bars.dropna()).groupby(bars.dropna().index.floor("D")).prod() - 1
    out, start = [], after + timedelta(days=1)
    while start + timedelta(days=6) <= daily.index[-1].date():
        inside = daily[(daily.index.date >= start) & (daily.index.date <= start + timedelta(days=6))]
        out.append(float(inside.sum()))
        start += timedelta(days=7)
    return out


def test_capital_ramps_with_the_lower_confidence_bound():
    returns = pd.DataFrame({"holder": _bars(6, mean=0.0004, sd=0.04, forward_days=150)}, index=BARS)  # f* ~ 0.25: under the cap
    promoted = ProbationEntry.open(LAST_DAY - timedelta(days=149), 0.03, 0.01, 0.0, pd.Series(dtype=float), "g")
    short = PaperRecord(150, 1.0, 0.05, capital=True, probation={**promoted.to_dict(), "through": None})
    cautious = DecisionConfig(kelly_fraction=0.1)  # so that the point estimate's weight stays under the cap
    ramped = plan_from_verdicts([], returns, cautious, paper={"holder": short}).chosen[0]
    unramped = plan_from_verdicts([], returns, cautious, paper={"holder": PaperRecord(150, 1.0, 0.05, capital=True)}).chosen[0]
    assert 0.02 <= ramped.allocation < unramped.allocation < 0.25  # sized on the lower bound, from incubation up


def test_a_refound_genome_continues_its_record_under_its_live_name():
    returns = pd.DataFrame({"live": _bars(2, forward_days=20), "again_7_abc": _bars(8)}, index=BARS)
    paper = {"live": _on_probation(20, genome="same-genome")}
    plan = plan_from_verdicts([_verdict("again_7_abc")], returns, paper=paper, genomes={"again_7_abc": "same-genome"})
    assert plan.names == ["live"] and plan.budget.spends == ()  # no new entry, no new share spent
    assert any("found again" in n for n in plan.notes)


def test_a_retired_genome_is_not_redeployed_unless_its_record_since_retirement_earns_it():
    retired = {"old-genome": Retired("old_3_abc", LAST_DAY - timedelta(days=10))}
    short = pd.DataFrame({"back_9_abc": _bars(9, mean=0.001, forward_days=10)}, index=BARS)  # 10 days since retirement
    plan = plan_from_verdicts([_verdict("back_9_abc")], short, genomes={"back_9_abc": "old-genome"}, retired=retired)
    assert plan.names == [] and "retired as old_3_abc" in plan.rejected[0].reason
    earned = pd.DataFrame({"back_9_abc": _bars(9, mean=0.001, forward_days=60)}, index=BARS)
    back = plan_from_verdicts([_verdict("back_9_abc")], earned, genomes={"back_9_abc": "old-genome"}, retired=retired)
    assert back.names == ["back_9_abc"] and back.chosen[0].stage == "probation"  # a new entry, a new share
    assert ProbationEntry.from_dict(back.chosen[0].probation).gate_p == 1.0  # its old gate evidence does not count


def test_a_re_entry_carries_the_beta_and_record_of_its_days_since_retirement():
    retired = {"old-genome": Retired("old_3_abc", LAST_DAY - timedelta(days=60))}
    rng = np.random.default_rng(12)
    market = pd.Series(rng.normal(0.0001, 0.006, len(BARS)), index=BARS)
    since = 0.9 * market + rng.normal(0.00005, 0.002, len(BARS))  # beta 0.9, a little alpha, since retirement
    since[: len(BARS) - 24 * 60] = np.nan
    returns = pd.DataFrame({"back_9_abc": since}, index=BARS)
    verdict = {**_verdict("back_9_abc"), "beta": 0.0}  # the gate's span says nothing of its beta
    plan = plan_from_verdicts([verdict], returns, market=market, genomes={"back_9_abc": "old-genome"}, retired=retired)
    entry = ProbationEntry.from_dict(plan.chosen[0].probation)
    assert entry.gate_p == 1.0 and entry.beta == pytest.approx(0.9, abs=0.1)  # measured, not 0
    assert entry.since_retirement[0] == 60 and entry.since_retirement[1] > 0.0  # its record since retirement: days, mean
    assert plan.looks == {} and entry.blocks == 0  # that record chose it: it is not counted again as evidence


def test_bonferroni_p_of_the_gate():
    assert bonferroni_p(4.0, 50) == pytest.approx(50 * 3.167e-5, rel=1e-3)
    assert bonferroni_p(None, 50) == 1.0 and bonferroni_p(0.0, 50) == 1.0


def test_the_lower_bound_that_sizes_capital_covers_the_true_mean():
    """The ramp's lower bound (80%) stays below the true weekly mean at the quarter, half and full year together
    on at least 80% of paths: a time-uniform bound, so looking at several dates costs nothing."""
    rng = np.random.default_rng(5)
    true_mean, covered = 0.004, 0
    for _ in range(100):
        weeks = 0.03 * rng.standard_t(4, 52) / math.sqrt(2.0) + true_mean
        bounds = [
            lower_bound(n, float(weeks[:n].sum()), float((weeks[:n] ** 2).sum()), Prior(2.0, 4.0), 0.2) for n in (13, 26, 52)
        ]
        covered += all(b < true_mean for b in bounds)
    assert covered >= 80


def test_the_nightly_simulation_keeps_null_years_out_of_capital_and_shows_why_the_gate_p_is_not_reused():
    """`bench organism --nightly`'s paths: a null year with its ten slots kept full spends ten entries and reaches
    no capital here; the rejected rule (Fisher with the entry night's gate p) puts most null years into capital."""
    from quant_organism.benchmarks.probation_sim import null_path

    nulls = [null_path(seed, kind) for seed in range(3) for kind in ("student_t3", "left_skew_1x25", "beta_misestimated")]
    assert not any(r["capital"] for r in nulls) and all(r["entries"] >= 10 for r in nulls)
    fisher = [null_path(seed, "fisher") for seed in range(6)]
    assert sum(r["capital"] for r in fisher) >= 3  # measured 90% of 200 years


def test_an_edge_that_ends_is_demoted_to_incubation_and_one_that_lasts_mostly_keeps_its_capital():
    """Sharpe 3 for 60 weeks, then none: the decay watch demotes most of them within 26 weeks; the price is that
    some edges that last are demoted for a while in the same weeks (they return when the statistic does). The bench
    measures both at three alarm levels (`organism --nightly`)."""
    rng = np.random.default_rng(21)
    index = pd.date_range("2025-01-01", periods=7 * 86, freq="D", tz="UTC")
    edge, first = 3.0 * 0.3 / 365, date(2025, 1, 1)
    caught, kept = [], []
    for _ in range(40):
        noise = 0.3 / math.sqrt(365) * rng.standard_normal(len(index))
        ended = pd.Series(noise + np.where(np.arange(len(index)) < 7 * 60, edge, 0.0), index=index)
        lasting = pd.Series(noise[::-1] + edge, index=index)
        for daily, out in ((ended, caught), (lasting, kept)):
            entry = ProbationEntry.open(first, 0.0304, 0.001, 0.0, pd.Series(edge + 0.016 * rng.standard_normal(180)), "g")
            entry = entry.update(daily, None, first + timedelta(days=7 * 60 - 1))
            if not entry.crossed:
                continue
            entry, weeks = entry.promote(first + timedelta(days=7 * 60 - 1)), []
            for week in range(61, 87):  # the 26 weeks after the end
                entry = entry.update(daily, None, first + timedelta(days=7 * week - 1))
                weeks.append(entry.demoted)
            out.append(weeks)
    assert len(caught) >= 15 and np.mean([any(w) for w in caught]) >= 0.8
    assert np.mean(kept) <= 0.4  # an edge that lasts holds its capital most weeks


def test_a_demoted_capital_holder_trades_at_incubation():
    returns = pd.DataFrame({"holder": _bars(6, mean=0.0, sd=0.004, forward_days=150)}, index=BARS)
    entry = ProbationEntry.open(LAST_DAY - timedelta(days=149), 0.03, 0.01, 0.0, pd.Series(dtype=float), "g")
    entry = replace(entry, blocks=20, total=0.4, squares=0.02, log_e_max=5.0).promote(LAST_DAY - timedelta(days=150))
    record = PaperRecord(150, 1.0, 0.05, capital=True, probation=entry.to_dict())
    plan = plan_from_verdicts([], returns, paper={"holder": record})
    (holder,) = plan.chosen
    assert holder.stage == "probation" and holder.allocation == 0.02 and ProbationEntry.from_dict(holder.probation).demoted
    assert any("demoted" in note for note in plan.notes)


def test_a_record_round_trips_through_its_dict():
    entry = ProbationEntry.open(date(2025, 1, 1), 0.0304, 0.01, 0.5, pd.Series(np.linspace(-0.01, 0.02, 90)), "g")
    index = pd.date_range("2025-01-01", periods=70, freq="D", tz="UTC")
    entry = entry.update(pd.Series(np.full(70, 0.004), index=index), None, date(2025, 3, 11)).promote(date(2025, 3, 11))
    assert ProbationEntry.from_dict(entry.to_dict()) == entry


def test_a_saved_ledger_that_disagrees_with_the_configured_budget_is_kept_and_said():
    returns = pd.DataFrame({"new": _bars(1)}, index=BARS)
    saved = ErrorBudget(0.03)
    plan = plan_from_verdicts([_verdict("new")], returns, budget=saved, genomes={"new": "g"})
    assert plan.budget.yearly == 0.03  # the ledger's figure: its shares were fixed by it
    assert any("saved error ledger spends 0.03 per 365 days, the configuration says 0.05" in n for n in plan.notes)
    agreeing = plan_from_verdicts([_verdict("new")], returns, budget=ErrorBudget(0.05), genomes={"new": "g"})
    assert not any("saved error ledger" in n for n in agreeing.notes)


def test_the_budget_default_is_set_once():
    from quant_organism.defs.deployment.assets import DeploymentRunConfig
    from quant_organism.deployment.error_budget import YEARLY_BUDGET

    assert DecisionConfig().probation_budget == YEARLY_BUDGET == DeploymentRunConfig().probation_budget
    assert DeploymentRunConfig().decision() == DecisionConfig()  # every launchpad default is the decision's own
