"""`bench organism --nightly`: the probation simulated on forward records built to break its assumptions, many
paths at the nightly cadence, through deployment/probation.ProbationEntry (the weekly step the decision runs) and
deployment/error_budget.ErrorBudget.

**Size.** Each null path is a calendar year of nights with `SLOTS` probation slots kept full: whenever a
probation ends (promoted or futile) the next night a new strategy enters and spends the next share of the budget.
That is more traffic than the gate lets through on a null market, so the false-capital rate measured here bounds
the product's from above. Every entry of the year is then followed for its whole life (`LIFE` days), so all
entries of the year are counted. The prior of each entry is built from a held-out span the gate would pass (its
mean lifted to a t-statistic of about 3.7, the search gate's bar among 50 candidates): the most aggressive bets
the product would place. The nulls (zero mean excess, 26-30% a year):
- `student_t3`: Student-t(3), AR(1) 0.1: the control;
- `left_skew_2x15`, `left_skew_1x25`, `left_skew_0.5x40`: small daily gains and one-day crashes of 15%, 25%, 40%
  that take them back (carry, short volatility). The 25% and 40% crashes overshoot the weekly stop past the
  test's bound: outside its assumption by construction;
- `right_skew`: the mirror of the 25% case;
- `garch_t5`, `gjr_t5`: GARCH(1,1) and GJR-GARCH (leverage) with Student-t(5) shocks;
- `beta_misestimated`: a beta of 0.6 on the held-out span and 1.0 forward, on a market drifting +50% a year:
  the excess tested at the entry's beta has a real drift until the beta re-estimated each week catches up;
- `fisher`: the rejected alternative (Fisher's combination with the entry night's gate p), on `student_t3`.
Counted: paths where any entry of the year reaches capital, and separately the year's first entry alone (a
single entry at 3.04%).

**Power.** A strategy with a forward excess Sharpe of 1, 2 or 3 (Student-t(5) days, 30% a year) enters as the
first entry (3.04%) and is followed for three years: the share promoted within one, two and three years.

**Decay.** The same strategy's edge ends `DECAY_AFTER_WEEKS` after its entry. Among those holding capital at the
end: the share back at incubation (demoted) or retired within 26 weeks, the weeks it took, and the excess they
earned with capital between the end and their demotion. Beside them, the same strategies whose edge lasts: the
share demoted in the same 26 weeks (the price of catching decay).
"""

from __future__ import annotations

import functools
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import signal, special

from quant_organism.deployment.decision import DecisionConfig
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.deployment.probation import DECAY_ALARM, MIN_BLOCKS, ProbationEntry
from quant_organism.runtime.weekly_stop import BLOCK_DAYS, stopped_week
from quant_organism.validation.sequential import OVERSHOOT

YEAR_START = date(2025, 1, 1)
DAYS = 365
LIFE = DecisionConfig().probation_days
SLOTS = 10
HELD_OUT_DAYS = 180
GATE_T = 3.7  # the held-out t-statistic of an entry: what the search gate passes among 50 candidates
POWER_YEARS = 3
DECAY_AFTER_WEEKS = 104
WATCH_WEEKS = 26
NULL_KINDS = ("student_t3", "left_skew_2x15", "left_skew_1x25", "left_skew_0.5x40", "right_skew", "garch_t5",
              "gjr_t5", "beta_misestimated", "fisher")  # fmt: skip
SHARPES = (1.0, 2.0, 3.0)
DECAY_SHARPES = (2.0, 3.0)
DECAY_ALARMS = (1.0, DECAY_ALARM, 1.5, 2.0)  # the product's level and three beside it: the trade-off it chose
CHUNK = 25


def _t(rng: np.random.Generator, df: float, shape) -> np.ndarray:
    """Unit-variance Student-t draws."""
    return rng.standard_t(df, shape) * math.sqrt((df - 2.0) / df)


def _garch(rng: np.random.Generator, n: int, days: int, leverage: bool, vol: float = 0.30) -> np.ndarray:
    """`n` zero-mean GARCH(1,1) (or GJR) paths with Student-t(5) shocks at `vol` a year (alpha 0.08, beta 0.9;
    GJR: alpha 0.03 and 0.1 more on falls)."""
    alpha, beta, gamma = (0.03, 0.9, 0.1) if leverage else (0.08, 0.9, 0.0)
    unconditional = vol**2 / 365.0
    omega = unconditional * (1.0 - alpha - beta - gamma / 2.0)
    shocks = _t(rng, 5.0, (n, days))
    variance = np.full(n, unconditional)
    out = np.empty((n, days))
    for k in range(days):
        out[:, k] = np.sqrt(variance) * shocks[:, k]
        falls = out[:, k] < 0.0
        variance = omega + (alpha + gamma * falls) * out[:, k] ** 2 + beta * variance
    return out


def _skewed(rng: np.random.Generator, n: int, days: int, crash: float, per_year: float, sign: float = 1.0) -> np.ndarray:
    """Zero-mean days of small gains and rare one-day crashes of `crash` (sign -1: rare jumps up instead)."""
    jumps = rng.uniform(size=(n, days)) < per_year / 365.0
    noise = 0.26 / math.sqrt(365.0) * rng.standard_normal((n, days))
    return sign * (crash * per_year / 365.0 - crash * jumps) + noise


def null_records(rng: np.random.Generator, kind: str, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(n x (held-out + life) daily returns, the market's or None) of `kind`."""
    days = HELD_OUT_DAYS + LIFE
    if kind in ("student_t3", "fisher"):
        shocks = _t(rng, 3.0, (n, days))
        return 0.26 / math.sqrt(365.0) * signal.lfilter([math.sqrt(1 - 0.01)], [1.0, -0.1], shocks, axis=1), None
    if kind.startswith("left_skew"):
        per_year, crash = {"left_skew_2x15": (2.0, 0.15), "left_skew_1x25": (1.0, 0.25), "left_skew_0.5x40": (0.5, 0.40)}[kind]
        return _skewed(rng, n, days, crash, per_year), None
    if kind == "right_skew":
        return _skewed(rng, n, days, 0.25, 1.0, sign=-1.0), None
    if kind in ("garch_t5", "gjr_t5"):
        return _garch(rng, n, days, leverage=kind == "gjr_t5"), None
    if kind == "beta_misestimated":
        market = 0.035 * rng.standard_normal((n, days)) + 0.5 / 365.0
        beta = np.where(np.arange(days) < HELD_OUT_DAYS, 0.6, 1.0)
        return beta * market + 0.26 / math.sqrt(365.0) * _t(rng, 3.0, (n, days)), market
    raise ValueError(f"unknown null kind {kind!r}")


def _held_out(values: np.ndarray) -> pd.Series:
    """A held-out span the gate would pass: the record's first days with their mean lifted to t = `GATE_T`."""
    held = values[:HELD_OUT_DAYS]
    lift = GATE_T * float(np.std(held)) / math.sqrt(HELD_OUT_DAYS) - float(held.mean())
    return pd.Series(held + lift, index=pd.date_range("2024-01-01", periods=HELD_OUT_DAYS, freq="D", tz="UTC"))


def _open(day: date, alpha: float, strategy: np.ndarray, market: np.ndarray | None, genome: str) -> ProbationEntry:
    held = _held_out(strategy)
    held_market = None if market is None else pd.Series(market[:HELD_OUT_DAYS], index=held.index)
    return ProbationEntry.open(day + timedelta(days=1), alpha, 0.001, 0.0, held, genome, held_market)


def _week(entry: ProbationEntry, strategy: np.ndarray, market: np.ndarray | None, week: int,
          alarm: float = DECAY_ALARM) -> ProbationEntry:  # fmt: skip
    """The entry after its `week`-th forward week (0-based) of the record's forward days."""
    span = slice(HELD_OUT_DAYS + BLOCK_DAYS * week, HELD_OUT_DAYS + BLOCK_DAYS * (week + 1))
    end = entry.entered + timedelta(days=BLOCK_DAYS * (week + 1) - 1)
    return entry.add_week(strategy[span], None if market is None else market[span], end, alarm)


def _fisher_crossed(entry: ProbationEntry, gate_p: float) -> bool:
    """The rejected rule: Fisher's -2 (ln p_gate + ln p_forward) against chi-square(4) at the entry's level."""
    from scipy import stats

    statistic = -2.0 * (math.log(max(gate_p, 1e-300)) + math.log(entry.forward_p))
    return entry.blocks >= MIN_BLOCKS and entry.total > 0.0 and statistic >= stats.chi2.isf(entry.alpha, 4)


def null_path(seed: int, kind: str) -> dict:
    """One year of null entrants filling `SLOTS`, each followed for its life: whether any reached capital, and
    whether the year's first entry did."""
    rng = np.random.default_rng(seed)
    budget = ErrorBudget(life_days=LIFE)
    pool, used = null_records(rng, kind, 4 * SLOTS), 0
    slots: list[tuple[ProbationEntry, int, float]] = []
    entries, capital, first_capital, stops, breaches = 0, None, False, 0, 0
    for night in range(DAYS + LIFE):
        day = YEAR_START + timedelta(days=night)
        while night < DAYS and len(slots) < SLOTS:
            if used == len(pool[0]):
                pool, used = null_records(rng, kind, 4 * SLOTS), 0
            strategy, market = pool
            budget, alpha = budget.spend(f"n{entries}", f"n{entries}", day)
            gate_p = 0.005 * float(rng.uniform())  # what a null that passed the gate carries (Fisher's input)
            slots.append((_open(day, alpha, strategy[used], None if market is None else market[used], f"n{entries}"),
                          used, gate_p))  # fmt: skip
            entries, used = entries + 1, used + 1
        kept = []
        for entry, row, gate_p in slots:
            week, rest = divmod((day - entry.entered).days, BLOCK_DAYS)
            if rest == BLOCK_DAYS - 1 and week >= 0:
                strategy, market = pool
                entry = _week(entry, strategy[row], None if market is None else market[row], week)
            crossed = _fisher_crossed(entry, gate_p) if kind == "fisher" else entry.crossed
            if crossed:
                capital = capital or night + 1
                first_capital = first_capital or entry.genome == "n0"
                budget = budget.end(entry.genome, day)
                continue
            if entry.futile(day, LIFE) is not None:
                budget = budget.end(entry.genome, day)
                stops, breaches = stops + entry.stops, breaches + entry.breaches
                continue
            kept.append((entry, row, gate_p))
        slots = kept
        if night >= DAYS and not slots:
            break
        if capital and first_capital:
            break
    return {"seed": seed, "kind": kind, "capital": capital is not None, "day": capital, "first_capital": first_capital,
            "entries": entries, "stopped_weeks": stops, "breaches": breaches}  # fmt: skip


def _edge_record(rng: np.random.Generator, sharpe: float, days: int, ends_after: int | None = None) -> np.ndarray:
    """Student-t(5) days at 30% a year with an annual Sharpe of `sharpe` (none after `ends_after` forward days)."""
    mean = np.full(days, sharpe * 0.30 / 365.0)
    if ends_after is not None:
        mean[HELD_OUT_DAYS + ends_after :] = 0.0
    return mean + 0.30 / math.sqrt(365.0) * _t(rng, 5.0, days)


def power_path(seed: int, sharpe: float) -> dict:
    """A strategy with forward Sharpe `sharpe` entering as the first entry, followed for `POWER_YEARS` years (no
    length limit, futility still on): the day it reached capital, or retired."""
    rng = np.random.default_rng(seed)
    record = _edge_record(rng, sharpe, HELD_OUT_DAYS + 365 * POWER_YEARS + BLOCK_DAYS)
    entry = _open(YEAR_START, ErrorBudget().share(1), record, None, "edge")
    out = {"seed": seed, "sharpe": sharpe, "capital_day": None, "futile_day": None, "oracle_day": None, "bound_day": None}
    # references: the likelihood ratio that knows the weekly mean and deviation (valid for normal weeks only), and
    # the best constant bet on the stopped weeks knowing their distribution (valid for any week above the bound)
    mean, sd = sharpe * 0.30 / 365.0 * BLOCK_DAYS, 0.30 * math.sqrt(BLOCK_DAYS / 365.0)
    bet, log_lr, target = mean / sd**2, 0.0, math.log(1.0 / entry.alpha)
    best, log_w = _best_constant_bet(sharpe, round(entry.stop, 3)), 0.0
    for week in range(365 * POWER_YEARS // BLOCK_DAYS):
        days = record[HELD_OUT_DAYS + BLOCK_DAYS * week : HELD_OUT_DAYS + BLOCK_DAYS * (week + 1)]
        log_lr += bet * float(days.sum()) - 0.5 * bet**2 * sd**2
        if out["oracle_day"] is None and log_lr >= target:
            out["oracle_day"] = BLOCK_DAYS * (week + 1)
        factor = 1.0 + best * stopped_week(days, entry.stop)[0] / entry.bound
        log_w += math.log(factor) if factor > 0.0 else -math.inf
        if out["bound_day"] is None and log_w >= target:
            out["bound_day"] = BLOCK_DAYS * (week + 1)
        if out["capital_day"] is None and out["futile_day"] is None:
            entry = _week(entry, record, None, week)
            day = entry.through
            if entry.crossed:
                out["capital_day"] = (day - entry.entered).days + 1
            elif entry.futile(day, 365 * POWER_YEARS + 1) is not None:
                out["futile_day"] = (day - entry.entered).days + 1
    return out


@functools.cache
def _best_constant_bet(sharpe: float, stop: float) -> float:
    """The log-optimal constant bet (a fraction of 1 / bound) on stopped weeks of Student-t(5) days at `sharpe`,
    knowing their distribution (20,000 simulated weeks): the best a test valid for weeks above the bound can do."""
    rng = np.random.default_rng(99)
    days = _edge_record(rng, sharpe, HELD_OUT_DAYS + BLOCK_DAYS * 20_000)[HELD_OUT_DAYS:].reshape(-1, BLOCK_DAYS)
    weeks = np.array([stopped_week(w, stop)[0] for w in days]) / (OVERSHOOT * stop)
    bets = np.linspace(0.005, 1.0, 200)
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = [float(np.mean(np.log(np.maximum(1.0 + c * weeks, 0.0)))) for c in bets]
    return float(bets[int(np.argmax(growth))])


def decay_path(seed: int, sharpe: float, ends: bool, alarm: float = DECAY_ALARM) -> dict:
    """A strategy whose edge ends (or lasts, `ends` False) `DECAY_AFTER_WEEKS` after its entry: promoted before
    then? demoted or retired within `WATCH_WEEKS` after? with how much excess earned with capital meanwhile, and the
    share of the `WATCH_WEEKS` it spent demoted (an edge that lasts comes back when the statistic returns to zero).
    `alarm`: the decay watch's demotion level (the bench shows the trade-off at several)."""
    rng = np.random.default_rng(seed)
    end_day = DECAY_AFTER_WEEKS * BLOCK_DAYS
    days = HELD_OUT_DAYS + end_day + WATCH_WEEKS * BLOCK_DAYS + BLOCK_DAYS
    record = _edge_record(rng, sharpe, days, end_day if ends else None)
    entry = _open(YEAR_START, ErrorBudget().share(1), record, None, "edge")
    for week in range(DECAY_AFTER_WEEKS):
        entry = _week(entry, record, None, week, alarm)
        if entry.promoted_on is None and entry.crossed:
            entry = entry.promote(entry.through)
        elif entry.promoted_on is None and entry.futile(entry.through, LIFE) is not None:
            break
    holding = entry.promoted_on is not None and not entry.demoted
    out = {"seed": seed, "sharpe": sharpe, "ends": ends, "alarm": alarm, "holding": holding, "weeks_to_demotion": None,
           "excess_held": 0.0, "weeks_demoted": 0}  # fmt: skip
    if not holding:
        return out
    for week in range(DECAY_AFTER_WEEKS, DECAY_AFTER_WEEKS + WATCH_WEEKS):
        if out["weeks_to_demotion"] is None:
            out["excess_held"] += float(record[HELD_OUT_DAYS + BLOCK_DAYS * week : HELD_OUT_DAYS + BLOCK_DAYS * (week + 1)].sum())
        entry = _week(entry, record, None, week, alarm)
        if entry.demoted:  # back at incubation (retirement comes later, from the demoted state)
            out["weeks_demoted"] += 1
            if out["weeks_to_demotion"] is None:
                out["weeks_to_demotion"] = week - DECAY_AFTER_WEEKS + 1
    return out


def _decay_line(results: list[dict], alarm: float, sharpe: float, ends: bool, chosen: bool, rate, wilson) -> str:
    """One cell of the decay table: of the strategies holding capital when the edge ends (or would have), those
    demoted within the watch, how fast, what the capital earned until then, and the share of weeks spent demoted."""
    group = [r for r in results if "holding" in r and r["alarm"] == alarm and r["sharpe"] == sharpe and r["ends"] == ends
             and r["holding"]]  # fmt: skip
    label = f"alarm {alarm:g}{' (the product)' if chosen else ''}, Sharpe {sharpe:g}, edge {'ends' if ends else 'lasts'}"
    if not group:
        return f"{label}: none held capital"
    caught = [r["weeks_to_demotion"] for r in group if r["weeks_to_demotion"] is not None]
    held = np.array([r["excess_held"] for r in group])
    low, _ = wilson(len(caught), len(group))
    verdict = ""
    if ends and chosen:
        point = "NOT MET (point estimate meets it)" if len(caught) / len(group) >= 0.8 else "NOT MET"
        verdict = f"; target >= 80%: {'MET' if low >= 0.8 else point}"
    return (f"{label}: {'caught' if ends else 'demoted anyway'} {rate(len(caught), len(group))}, median "
            f"{np.median(caught) if caught else float('nan'):.0f} weeks; weeks demoted of {WATCH_WEEKS}: "
            f"{np.mean([r['weeks_demoted'] for r in group]) / WATCH_WEEKS:.0%}; excess earned with capital until demoted: "
            f"mean {held.mean():+.1%}, 5th percentile {np.quantile(held, 0.05):+.1%} of the sleeve{verdict}")  # fmt: skip


def _one_look_false(sharpe: float, power: float = 0.8) -> float:
    """The false-alarm rate of the one-look test at `WATCH_WEEKS` that catches an ended edge with `power`."""
    shift = math.sqrt(WATCH_WEEKS) * sharpe / math.sqrt(52.0)
    return float(special.ndtr(special.ndtri(power) - shift))


def _chunk(function, arguments: list[tuple]) -> list[dict]:
    return [function(*a) for a in arguments]


def simulate(null_paths: int, planted_paths: int, workers: int) -> tuple[list[str], list[dict]]:
    """The simulation's report lines and its paths (null, power, decay), run in a process pool."""
    from quant_organism.benchmarks.pooled import run_in_pool, wilson

    tasks = [(null_path, (6000 + k, kind)) for kind in NULL_KINDS for k in range(null_paths)]
    tasks += [(power_path, (7000 + k, s)) for s in SHARPES for k in range(planted_paths)]
    tasks += [(decay_path, (8000 + k, s, ends, h)) for h in DECAY_ALARMS for s in DECAY_SHARPES for ends in (True, False)
              for k in range(planted_paths)]  # fmt: skip
    jobs = []
    for function in (null_path, power_path, decay_path):
        mine = [a for f, a in tasks if f is function]
        jobs += [(function, mine[i : i + CHUNK]) for i in range(0, len(mine), CHUNK)]
    results = [r for chunk in run_in_pool(_chunk, jobs, workers, "probation path batches") for r in chunk]

    def rate(hits: int, n: int) -> str:
        low, high = wilson(hits, n)
        return f"{hits}/{n} = {hits / n:.1%} (Wilson 95% {low:.1%}-{high:.1%})"

    lines = [f"size: {SLOTS} slots kept full for a year of nights, each entry followed for its life ({LIFE} days); "
             f"held-out priors at t = {GATE_T:g}; target: a year's false capital <= 5% with the Wilson upper bound <= 7.5%, "
             f"and the year's first entry alone <= its level {ErrorBudget().share(1):.2%}"]  # fmt: skip
    nulls = [r for r in results if "first_capital" in r]
    for kind in NULL_KINDS:
        group = [r for r in nulls if r["kind"] == kind]
        hits, first = sum(r["capital"] for r in group), sum(r["first_capital"] for r in group)
        _, high = wilson(hits, len(group))
        met = hits / len(group) <= 0.05 and high <= 0.075 and first / len(group) <= ErrorBudget().share(1)
        stopped = sum(r["stopped_weeks"] for r in group)
        lines.append(f"null {kind}: false capital in a year {rate(hits, len(group))}; first entry alone "
                     f"{rate(first, len(group))}; entries a year {np.mean([r['entries'] for r in group]):.1f}; weeks stopped "
                     f"{stopped}, beyond the bound {sum(r['breaches'] for r in group)}: "
                     f"{'rejected alternative, not valid across nights' if kind == 'fisher' else ('MET' if met else 'NOT MET')}")  # fmt: skip
    lines.append(f"power: one entry at {ErrorBudget().share(1):.2%}, forward Student-t(5) days at 30% a year, promotion within "
                 f"1 / 2 / 3 years (targets within two years: >= 50% at Sharpe 2, >= 80% at Sharpe 3, on the lower bound)")  # fmt: skip
    for sharpe in SHARPES:
        group = [r for r in results if "capital_day" in r and r["sharpe"] == sharpe]
        cells = []
        for years in (1, 2, 3):
            hits = sum(r["capital_day"] is not None and r["capital_day"] <= 365 * years for r in group)
            cells.append(rate(hits, len(group)))
        two = sum(r["capital_day"] is not None and r["capital_day"] <= 730 for r in group)
        low, _ = wilson(two, len(group))
        need = {2.0: 0.5, 3.0: 0.8}.get(sharpe)
        verdict = "" if need is None else f"; two-year target >= {need:.0%}: {'MET' if low >= need else 'NOT MET'}"
        futile = sum(r["futile_day"] is not None for r in group)
        oracle = sum(r["oracle_day"] is not None and r["oracle_day"] <= 730 for r in group)
        bounded = sum(r["bound_day"] is not None and r["bound_day"] <= 730 for r in group)
        one_look = float(special.ndtr(math.sqrt(104) * sharpe / math.sqrt(52) - special.ndtri(1 - ErrorBudget().share(1))))
        lines.append(f"Sharpe {sharpe:g}: {' / '.join(cells)}; retired as futile {futile}/{len(group)}{verdict}. References "
                     f"within two years, looked at weekly: the best constant bet knowing the stopped weeks' distribution "
                     f"(valid under the same bound) {rate(bounded, len(group))}; the likelihood ratio knowing the true mean "
                     f"and deviation (valid for normal weeks only) {oracle / len(group):.0%}; one look at two years knowing "
                     f"both (Neyman-Pearson, normal weeks) {one_look:.0%}")  # fmt: skip
    lines.append(f"decay: the edge ends {DECAY_AFTER_WEEKS} weeks after entry; of those holding capital then, back at incubation "
                 f"or retired within {WATCH_WEEKS} weeks (target >= 80%); beside them, edges that last, demoted in the same weeks. "
                 f"The floor any rule pays: one look at {WATCH_WEEKS} weeks that catches 80% of ended edges demotes a live one with "
                 f"probability {_one_look_false(2.0):.0%} at Sharpe 2, {_one_look_false(3.0):.0%} at Sharpe 3 (normal weeks, "
                 f"mean and deviation known)")  # fmt: skip
    for alarm in DECAY_ALARMS:
        chosen = alarm == DECAY_ALARM
        for sharpe in DECAY_SHARPES:
            for ends in (True, False):
                lines.append(_decay_line(results, alarm, sharpe, ends, chosen, rate, wilson))
    return lines, results
