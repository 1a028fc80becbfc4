"""`bench organism --nightly`: the probation simulated on forward returns alone, many paths at the nightly cadence.

Each path is a calendar year of nights with `max_pool` probation slots kept full: whenever a probation ends
(promoted or futile) the next night a new strategy enters and spends the next share of the year's budget
(deployment/error_budget.py). That is more traffic than the gate lets through on a null market (it passes a
null strategy on about 0.5% of nights), so the false-capital rate measured here is an upper bound on the product's.
Every entry is looked at every night (a look changes the record when one of its weeks completes) through
deployment/probation.ProbationEntry, the code the decision runs.

- Null paths: every entrant has no edge; its forward daily excess is fat-tailed (Student t, 3 degrees of freedom)
  and serially correlated (AR(1) 0.1), or it is a pure-beta strategy on a drifting market whose beta is
  estimated on 180 held-out days (the estimation error leaves a small drift in the tested excess). Counted:
  paths where any entrant reaches capital in the year.
- The rejected alternative, measured: Fisher's combination of the forward p-value with the gate's p-value of the
  entry night. A null strategy enters only on a night the gate passes it, so its gate p-value is below the
  gate's level (uniform on [0, 0.5%] here), not uniform on [0, 1]; counting it again as evidence is what the
  `fisher` null cell shows.
- Planted paths: the capturing strategy is the planted rule itself (benchmarks/planted_strength.PLANTED_RULES)
  on a planted market calibrated to the target Sharpe; its gate p-value is the Bonferroni p of its held-out
  t-statistic over 50 candidates on the 180 days before entry (recorded: only the prior's bet uses the held-out
  data); it enters at the start of the year as the year's `rank`-th entry. Counted: promotion within the year,
  and the days it took (power given an entry at the start of the year).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import signal

from quant_organism.deployment.decision import DecisionConfig
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.probation import MIN_BLOCKS, ProbationEntry, bonferroni_p
from quant_organism.validation.sequential import BLOCK_DAYS

YEAR_START = date(2025, 1, 1)
DAYS = 365
MAX_PROBATION_DAYS = DecisionConfig().probation_days
SLOTS = 10
HELD_OUT_DAYS = 180
CANDIDATES = 50


def _ar_t(rng: np.random.Generator, days: int, phi: float = 0.1, df: float = 3.0) -> np.ndarray:
    """Unit-variance Student-t shocks through an AR(1) filter (x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t)."""
    shocks = rng.standard_t(df, days) * math.sqrt((df - 2) / df)
    return signal.lfilter([math.sqrt(1 - phi * phi)], [1.0, -phi], shocks)


def _null_entrant(rng: np.random.Generator, kind: str) -> tuple[pd.Series, float, pd.Series | None, float]:
    """(forward daily returns over the year from its entry, gate p, market daily returns or None, estimated beta)."""
    index = pd.date_range(
        pd.Timestamp(YEAR_START, tz="UTC") - pd.Timedelta(days=HELD_OUT_DAYS), periods=HELD_OUT_DAYS + DAYS, freq="D"
    )
    if kind == "fat_tailed":
        values = 0.02 * _ar_t(rng, len(index))
        return pd.Series(values, index=index), float(rng.uniform()), None, 0.0
    market = 0.035 * rng.standard_normal(len(index)) + 0.5 / 365  # +50% a year of drift
    strategy = 0.6 * market + 0.02 * _ar_t(rng, len(index))  # beta 0.6, no alpha
    held = slice(0, HELD_OUT_DAYS)
    beta = float(np.cov(strategy[held], market[held])[0, 1] / np.var(market[held], ddof=1))
    return pd.Series(strategy, index=index), float(rng.uniform()), pd.Series(market, index=index), beta


def _fisher_crossed(entry: ProbationEntry, gate_p: float) -> bool:
    """The rejected rule: Fisher's -2 (ln p_gate + ln p_forward) against chi-square(4) at the entry's level."""
    from scipy import stats

    statistic = -2.0 * (math.log(max(gate_p, 1e-300)) + math.log(entry.forward_p))
    return entry.blocks >= MIN_BLOCKS and entry.total > 0.0 and statistic >= stats.chi2.isf(entry.alpha, 4)


def null_path(seed: int, kind: str) -> dict:
    """One simulated year of null entrants filling `SLOTS`; whether any reached capital (kind "fisher": fat-tailed
    entrants judged by the rejected Fisher rule with the entry night's gate p-value)."""
    rng = np.random.default_rng(seed)
    budget = ErrorBudget()
    slots: list[tuple[ProbationEntry, pd.Series, pd.Series | None, float]] = []
    entries = 0
    for night in range(DAYS):
        day = YEAR_START + timedelta(days=night)
        while len(slots) < SLOTS:
            returns, gate_p, market, beta = _null_entrant(rng, "fat_tailed" if kind == "fisher" else kind)
            gate_p = 0.005 * gate_p if kind == "fisher" else gate_p  # what a null that passed the gate carries
            shift = pd.Timedelta(days=night + 1)
            returns.index, market = returns.index + shift, (None if market is None else market.set_axis(market.index + shift))
            budget, alpha = budget.spend(f"n{entries}", f"n{entries}", day)
            held = returns.iloc[:HELD_OUT_DAYS] - (0.0 if market is None else beta * market.iloc[:HELD_OUT_DAYS])
            entry = ProbationEntry.open(day + timedelta(days=1), alpha, gate_p, beta, held, f"n{entries}")
            slots.append((entry, returns.iloc[HELD_OUT_DAYS:], market, gate_p))
            entries += 1
        kept = []
        for entry, returns, market, gate_p in slots:
            if (day - entry.entered).days % BLOCK_DAYS == BLOCK_DAYS - 1:  # a week completes tonight
                entry = entry.update(returns, market, day)
            if _fisher_crossed(entry, gate_p) if kind == "fisher" else entry.crossed:
                return {"seed": seed, "kind": kind, "capital": True, "day": night + 1, "entries": entries}
            if entry.futile(day, MAX_PROBATION_DAYS) is None:
                kept.append((entry, returns, market, gate_p))
        slots = kept
    return {"seed": seed, "kind": kind, "capital": False, "day": None, "entries": entries}


def planted_path(seed: int, kind: str, strength: float, target: float, rank: int) -> dict:
    """The planted rule entering probation as the year's `rank`-th entry, looked at nightly for a year."""
    from quant_organism.benchmarks.planted_strength import DEFAULT_COINS, PLANTED_RULES, market_frames
    from quant_organism.core.metrics import figures
    from quant_organism.core.windows import Window
    from quant_organism.market.sources.planted import PlantedMarket
    from quant_organism.validation.held_out import buy_and_hold_returns, daily_returns, window_returns

    entry_day = pd.Timestamp(YEAR_START, tz="UTC")
    start = entry_day - pd.Timedelta(days=HELD_OUT_DAYS + 120)  # the rule's warm-up, then its held-out days
    end = entry_day + pd.Timedelta(days=DAYS + 1)
    market = PlantedMarket(kind=kind, strength=strength, seed=seed, coins=DEFAULT_COINS, start=start, end=end)
    frames = market_frames(market)
    rule = PLANTED_RULES[kind].model_copy(update={"seed_id": "planted"})
    span = Window(entry_day - pd.Timedelta(days=HELD_OUT_DAYS), end, "held_out+forward")
    bars, _ = window_returns([rule], frames, span)
    bars["market"] = buy_and_hold_returns(frames, bars.index)
    daily = daily_returns(bars)
    held = daily.loc[daily.index < entry_day]
    beta = float(np.cov(held["planted"], held["market"])[0, 1] / np.var(held["market"], ddof=1))
    excess = held["planted"] - beta * held["market"]
    sharpe = figures(excess.to_numpy(), 1.0)["sharpe"]  # per day: times sqrt(days) is the t-statistic
    t_stat = float(sharpe * math.sqrt(len(excess))) if math.isfinite(sharpe) else 0.0
    gate_p = bonferroni_p(t_stat, CANDIDATES)
    alpha = ErrorBudget().share(rank)
    forward = daily.loc[daily.index >= entry_day]
    entry = ProbationEntry.open(YEAR_START, alpha, gate_p, beta, excess, kind)
    for week in range(1, DAYS // BLOCK_DAYS + 1):
        day = YEAR_START + timedelta(days=BLOCK_DAYS * week - 1)
        entry = entry.update(forward["planted"], forward["market"], day)
        if entry.crossed:
            return {"seed": seed, "kind": kind, "target": target, "rank": rank, "capital": True, "day": (day - YEAR_START).days + 1,
                    "gate_p": gate_p, "held_out_t": t_stat}  # fmt: skip
        if entry.futile(day, MAX_PROBATION_DAYS):
            break
    return {"seed": seed, "kind": kind, "target": target, "rank": rank, "capital": False, "day": None, "gate_p": gate_p,
            "held_out_t": t_stat}  # fmt: skip


NULL_KINDS = ("fat_tailed", "beta", "fisher")
POWER_CELLS = (("trend", 2.0), ("trend", 3.0), ("mean_reversion", 2.0), ("mean_reversion", 3.0))
RANKS = (1, 3)  # the capturing strategy as the year's first entry, and as its third


def simulate(null_paths: int, planted_paths: int, workers: int) -> tuple[list[str], list[dict]]:
    """The simulation's report lines and its paths (null and planted), run in a process pool."""
    from quant_organism.benchmarks.planted_strength import calibrate
    from quant_organism.benchmarks.pooled import run_in_pool, wilson

    jobs = [(null_path, (6000 + k, kind)) for kind in NULL_KINDS for k in range(null_paths)]
    strengths = {}
    for kind in sorted({k for k, _ in POWER_CELLS}):
        targets = tuple(t for k, t in POWER_CELLS if k == kind)
        for target, c in calibrate(kind, targets, seeds=(0, 1, 2, 3), days=HELD_OUT_DAYS + DAYS).items():
            strengths[(kind, target)] = c.strength
    jobs += [(planted_path, (7000 + k, kind, strengths[(kind, target)], target, rank))
             for kind, target in POWER_CELLS for rank in RANKS for k in range(planted_paths)]  # fmt: skip
    results = run_in_pool(_call, jobs, workers, "probation paths (a simulated year each)")
    lines = []
    nulls = [r for r in results if "target" not in r]
    for kind in NULL_KINDS:
        group = [r for r in nulls if r["kind"] == kind]
        hits = sum(r["capital"] for r in group)
        low, high = wilson(hits, len(group))
        if kind == "fisher":
            lines.append(f"rejected alternative, Fisher with the entry night's gate p: false capital in a year {hits}/{len(group)} = "
                         f"{hits / len(group):.1%} (Wilson 95% {low:.1%}-{high:.1%}): not valid across nights")  # fmt: skip
            continue
        lines.append(f"null ({kind}): false capital in a year {hits}/{len(group)} = {hits / len(group):.1%} "
                     f"(Wilson 95% {low:.1%}-{high:.1%}); entries a year {np.mean([r['entries'] for r in group]):.1f}; "
                     f"target <= 5% with upper bound <= 10%: {'MET' if hits / len(group) <= 0.05 and high <= 0.10 else 'NOT MET'}")  # fmt: skip
    planted = [r for r in results if "target" in r]
    for (kind, target), rank in [(cell, rank) for cell in POWER_CELLS for rank in RANKS]:
        group = [r for r in planted if (r["kind"], r["target"], r["rank"]) == (kind, target, rank)]
        hits = sum(r["capital"] for r in group)
        low, high = wilson(hits, len(group))
        days = [r["day"] for r in group if r["capital"]]
        need = 0.8 if target >= 3 else 0.5
        verdict = (
            "MET"
            if low >= need
            else ("NOT MET (point estimate meets it, its lower bound does not)" if hits / len(group) >= need else "NOT MET")
        )
        lines.append(f"{kind} at planted Sharpe {target:g}, entering as the year's entry #{rank} (level {ErrorBudget().share(rank):.2%}): "
                     f"capital within the year {hits}/{len(group)} = {hits / len(group):.0%} (Wilson 95% {low:.0%}-{high:.0%}), "
                     f"median {np.median(days) if days else float('nan'):.0f} days to capital (median held-out gate p "
                     f"{np.median([r['gate_p'] for r in group]):.3g}); target >= {need:.0%}: {verdict}")  # fmt: skip
    return lines, results


def _call(function, arguments):
    return function(*arguments)
