"""`python -m quant_organism.benchmarks organism [--quick]`: the organism's size and power, measured.

Each run builds a planted-edge market (market/sources/planted.py) of one kind and calibrated strength,
runs the production chain on it in memory (deployment/chain.py: the `full` preset's search, the
validation gates, the decision engine; the same functions the Dagster assets call) and records what
would be deployed. Over a grid of kinds x planted Sharpes x seeds it reports
- size: the share of null-market runs that deploy anything (target <= 5%);
- power: per kind and planted Sharpe, the share of runs that deploy at least one strategy of a family
  able to capture the planted edge (targets >= 80% at a planted Sharpe of 3 and >= 50% at 2, for at
  least two kinds);
- forward figures: every market goes on FORWARD_DAYS (90) days past the evolution date, which the chain
  never sees; the deployment is paper-traded there through the runtime (the retrospective's own step),
  beside the planted rule and the naive rule "deploy the in-sample best" over the same days. Forward
  capture = the deployed set's forward Sharpe / the planted rule's forward Sharpe. No figure here is
  measured on the held-out windows the gate chose on;
with Wilson 95% intervals, wall time, a table, JSON and a power-curve plot.

"Planted Sharpe" is what a plain, fixed rule of a capturing family earns on that market after the
project's costs (mean over coins, whole history), measured per run; the oracle that sees the hidden
state is reported as an upper bound. Strengths are calibrated once per kind to the target Sharpes.

Quick mode (about 5 minutes on 2 cores) runs a small grid; the default (full) mode is the one the
targets are judged on (about 25 minutes on 2 cores). Runs go to a process pool (`--workers`, one
serial evolution per process: islands in parallel would only contend for the same cores).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.benchmarks.pooled import moments, pooled_capture, run_in_pool, wilson

DEFAULT_COINS = ("BTC", "ETH", "SOL", "DOGE", "XRP")
START = pd.Timestamp("2024-01-01", tz="UTC")


@dataclass(frozen=True)
class RunSpec:
    kind: str
    target: float  # the calibrated planted Sharpe (0 for the null market)
    strength: float
    seed: int


GRIDS = {
    # kind -> (target planted Sharpes, seeds per target)
    # --search: every arm on the same markets; "switch" is the conjunction market (trend in high volatility, reversion
    # when calm: a rule tree earns it whole, the trend template about 0.6 of it)
    "search": {"null": ((0.0,), 8), "switch": ((2.0,), 10), "trend": ((3.0,), 4), "mean_reversion": ((3.0,), 4)},
    "quick": {"null": ((0.0,), 12), "trend": ((2.0, 3.0), 5), "mean_reversion": ((2.0, 3.0), 5)},
    "full": {
        "null": ((0.0,), 40),
        "trend": ((1.0, 2.0, 3.0, 4.0), 15),
        "mean_reversion": ((1.0, 2.0, 3.0, 4.0), 15),
        "funding_carry": ((2.0, 3.0), 8),
    },
}


def calibrated_specs(mode: str, lookback_days: int, first_seed: int = 1000) -> list[RunSpec]:
    """The grid of runs, each planted kind's strengths calibrated to its target Sharpes (seeds 0-3)."""
    from quant_organism.benchmarks.planted_strength import calibrate

    specs: list[RunSpec] = []
    seed = first_seed
    for kind, (targets, runs) in GRIDS[mode].items():
        strengths = {0.0: 0.0} if kind == "null" else {
            t: c.strength for t, c in calibrate(kind, targets, seeds=(0, 1, 2, 3), days=lookback_days).items()}  # fmt: skip
        for target in targets:
            for _ in range(runs):
                specs.append(RunSpec(kind, target, strengths[target], seed))
                seed += 1
    return specs


FORWARD_DAYS = 90  # the planted market goes on this long after the evolution date; the chain never sees it


def run_one(spec: RunSpec, preset: str = "full", interval: str = "1h", arm: str = "templates") -> dict:
    """One planted market through the production chain, then its next FORWARD_DAYS days: what would be
    deployed, and what it, the naive rule and the planted rule earned on days no part of the chain saw. `arm`
    (ARMS) changes the search: rule trees in the mix, fitness across folds of the train window."""
    from quant_organism.benchmarks.planted_strength import PLANTED_RULES, market_frames, oracle_sharpe, planted_sharpe
    from quant_organism.core.windows import Window
    from quant_organism.deployment.chain import ChainSettings
    from quant_organism.deployment.decision import DecisionConfig
    from quant_organism.evolution.evolution_config import load_preset
    from quant_organism.market.sources.planted import CAPTURING_FAMILIES, PlantedMarket
    from quant_organism.reporting.retrospective import RetrospectiveSettings, judge_date
    from quant_organism.validation.held_out import window_figures, window_returns

    started = time.perf_counter()
    evolution = load_preset(preset, executor="serial", random_seed=spec.seed)
    evolution = type(evolution).model_validate({**evolution.model_dump(), **arm_overrides(arm, evolution)})
    end = START + pd.Timedelta(days=evolution.lookback_days)
    forward_end = end + pd.Timedelta(days=FORWARD_DAYS)
    market = PlantedMarket(
        kind=spec.kind, strength=spec.strength, seed=spec.seed, coins=DEFAULT_COINS, start=START, end=forward_end
    )
    full = market_frames(market, interval=interval)
    frames = {coin: f.loc[f.index < end] for coin, f in full.items()}
    planted = planted_sharpe(market, frames)["mean"]  # the fixed rule on the bars the chain sees
    oracle = oracle_sharpe(market, frames)["mean"] if interval == "1h" else math.nan  # the hidden state is hourly
    # The chain on the bars before `end`, its deployment paper-traded on [end, forward_end): the retrospective's
    # own step (reporting/retrospective.py), so the benchmark measures exactly what a user's track record shows.
    # Probation off here: the chosen set traded at the engine's weights from day one is exactly the record its
    # probation paper-trades, so forward capture measures what the gate chose; `first_look` then runs the
    # sequential probation over each chosen strategy's forward days (capital with probation on).
    shadow = ChainSettings(evolution=evolution, decision=DecisionConfig(probation_days=0))
    outcome_date = judge_date(full, end, forward_end, RetrospectiveSettings(shadow))
    capturing = CAPTURING_FAMILIES.get(spec.kind, frozenset())
    deployed = {d["name"]: d["allocation"] for d in outcome_date.deployed}
    families = {d["name"]: d["family"] for d in outcome_date.deployed}
    bars_per_year = outcome_date.bars_per_year
    sleeves = outcome_date.records["organism"].strategy_returns
    # power counts a deployment that captures: a capturing family that earned a positive forward Sharpe on its sleeve
    captures = {n: _captures(families[n], outcome_date.live[n].genes if n in outcome_date.live else None, capturing)
                for n in deployed}  # fmt: skip
    found = [n for n in deployed if captures[n] and n in sleeves
             and window_figures(sleeves[n].fillna(0.0), bars_per_year)["sharpe"] > 0]  # fmt: skip
    organism = window_figures(outcome_date.records["organism"].returns, bars_per_year) if deployed else None
    naive = window_figures(outcome_date.records["naive"].returns, bars_per_year)
    rule = PLANTED_RULES[spec.kind].model_copy(update={"seed_id": "planted_rule"})
    rule_returns, _ = window_returns([rule], full, Window(end, forward_end, "forward"))
    rule_forward = window_figures(rule_returns["planted_rule"], bars_per_year)
    row = outcome_date.row()
    looked = [n for n in deployed if spec.kind == "null" or captures[n]]
    pbo = search_pbo(frames, evolution, end) if spec.kind == "null" else math.nan
    promoted = first_look({n: outcome_date.live[n].genes for n in looked}, full, end)
    return {
        **asdict(spec),
        "arm": arm,
        "trees_deployed": sum(families[n] == "rule_tree" for n in deployed),
        "found_by_search": any(not n.startswith("documented.") for n in found),  # the search's own, not the documented tier's
        "pbo": pbo,  # null markets: the search's PBO on noise (CSCV over what it tried, on its train window)
        "planted_sharpe": planted,
        "oracle_sharpe": oracle,
        "candidates": row["candidates"],
        "passed": row["passed"],
        "spa_pvalue": row["spa_pvalue"],
        "deployed": list(deployed),
        "deployed_families": sorted(set(families.values())),
        "deploys": bool(deployed),
        "found": bool(found),
        "first_look": bool(promoted),  # capital at the probation's look (null: any strategy; else a capturing one)
        "forward_sharpe": organism["sharpe"] if organism else math.nan,
        "forward_return": organism["total_return"] if organism else 0.0,
        "planted_forward_sharpe": rule_forward["sharpe"],
        "forward_capture": (
            organism["sharpe"] / rule_forward["sharpe"]
            if organism and spec.kind != "null" and rule_forward["sharpe"] > 0
            else math.nan
        ),  # fmt: skip
        # sufficient statistics of the per-bar forward returns, pooled across runs for the capture ratio
        **(moments("fwd", outcome_date.records["organism"].returns) if organism else {}),
        **(moments("rule", rule_returns["planted_rule"]) if organism else {}),
        "naive_family": row["naive_family"],
        "naive_captures": bool(row["naive_family"] in capturing),
        "naive_forward_sharpe": naive["sharpe"],
        "naive_forward_return": naive["total_return"],
        "parity_ok": row["parity_ok"],
        "seconds": time.perf_counter() - started,
    }


ARMS = ("templates", "trees", "folds", "trees+folds")
"""The searches `--search` compares on the same markets: the production preset; with rule trees in the mix; with
the Sharpe objective the median over FOLDS folds of the train window; both."""
FOLDS = 4
TREE_WEIGHT = 4.0
"""The rule trees' weight in the mix (each template weighs 1): about a quarter of each island, enough individuals
for genetic programming to work with; the templates keep the rest."""


def arm_overrides(arm: str, evolution) -> dict:
    """The EvolutionConfig fields an arm changes."""
    if arm not in ARMS:
        raise ValueError(f"unknown search arm {arm!r}; arms: {ARMS}")
    update: dict = {}
    if "trees" in arm:
        update["seed_types"] = {**evolution.seed_types, "rule_tree": TREE_WEIGHT}
    if "folds" in arm:
        update["fitness_folds"] = FOLDS
    return update


PBO_SAMPLE = 200


def search_pbo(frames, evolution, end: pd.Timestamp) -> float:
    """The search's probability of backtest overfitting on these bars: its evolution for the day before `end` run
    again (the same population: the seed is the preset's and the date's), then CSCV over a uniform sample of what
    it tried, on its train window (validation/population_pbo.py, as the validation asset computes it)."""
    from quant_organism.evolution import run_evolution
    from quant_organism.evolution.date_windows import evolution_windows
    from quant_organism.validation.population_pbo import population_pbo, tried_sample

    day = (end - pd.Timedelta(days=1)).date()
    result = run_evolution(frames, evolution, evolution_date=day)
    windows = evolution_windows(day, evolution.lookback_days, evolution.split)
    pbo, _ = population_pbo(tried_sample(result, PBO_SAMPLE), frames, windows.train)
    return float(pbo.pbo)


def _captures(family: str, genes, capturing: frozenset[str]) -> bool:
    """A template of a capturing family, or a rule tree with a leaf of one."""
    if family in capturing:
        return True
    if genes is None or genes.rule is None:
        return False
    from quant_organism.strategies.rule_tree import leaf_genomes

    return any(leaf.seed_type.value in capturing for leaf in leaf_genomes(genes.rule))


def first_look(live: dict, frames, start: pd.Timestamp, days: int = FORWARD_DAYS) -> list[str]:
    """The strategies probation would promote within their first `days` forward days on their forward record
    alone (no gate evidence: a lower bound on what the probation does), as the year's first entry: each one's
    forward record (the chain's own validation/held_out.forward_returns, or a documented rule's daily returns) from
    `start`, data the chain never saw, through deployment/probation.ProbationEntry. `live`: name -> genes (None for
    a documented rule)."""
    from quant_organism.core.windows import Window
    from quant_organism.deployment import documented_capital as documented
    from quant_organism.deployment.error_budget import ErrorBudget
    from quant_organism.deployment.probation import ProbationEntry
    from quant_organism.runtime.forward import span_index
    from quant_organism.validation.held_out import daily_returns, forward_returns

    if not live:
        return []
    look = Window(start, start + pd.Timedelta(days=days), "probation")
    searched = {name: (g.model_copy(update={"seed_id": name}), start) for name, g in live.items() if g is not None}
    rules = [name for name, g in live.items() if g is None]
    parts = [forward_returns(searched, frames, look)] if searched else []
    if rules:
        cut = {coin: f.loc[f.index < look.end] for coin, f in frames.items()}
        parts.append(documented.rule_bar_returns(cut, rules, span_index(cut, look.start, look.end)))
    daily = daily_returns(pd.concat(parts, axis=1))
    last = (look.end - pd.Timedelta(days=1)).date()
    alpha = ErrorBudget().share(1)
    promoted = []
    for name in live:
        entry = ProbationEntry.open(start.date(), alpha, 1.0, 0.0, pd.Series(dtype=float), name).update(daily[name], None, last)
        if entry.crossed:
            promoted.append(name)
    return promoted


def nightly_path(seed: int, every_days: int, year_days: int = 365, preset: str = "full", kind: str = "null",
                 strength: float = 0.0, target: float = 0.0) -> dict:  # fmt: skip
    """One market judged every `every_days` over a simulated year, as the automation would: the production
    chain (the preset's random seed mixed with each date, as the nightly job runs it, probation on) on the bars before each
    date, the previous date's deployment as incumbents, its deployment traded until the next date. Returns
    whether capital went into a strategy during the year (null market: any; planted: one of a capturing
    family), when first, and the probation traffic on the way."""
    from quant_organism.benchmarks.planted_strength import market_frames
    from quant_organism.deployment.chain import ChainSettings
    from quant_organism.evolution.evolution_config import load_preset
    from quant_organism.market.sources.planted import CAPTURING_FAMILIES, PlantedMarket
    from quant_organism.reporting.retrospective import RetrospectiveSettings, evolution_dates, judge_date

    started = time.perf_counter()
    evolution = load_preset(preset, executor="serial")
    first = START + pd.Timedelta(days=evolution.lookback_days)
    end = first + pd.Timedelta(days=year_days)
    market = PlantedMarket(kind=kind, strength=strength, seed=seed, coins=DEFAULT_COINS, start=START, end=end)
    frames = market_frames(market)
    spec = RetrospectiveSettings(ChainSettings(evolution=evolution))
    capturing = CAPTURING_FAMILIES.get(kind, frozenset())
    dates = evolution_dates(first, end - pd.Timedelta(days=1), every_days)
    holding, judged, first_capital, spa, entered, promoted, retired, looks = {}, 0, None, [], 0, 0, 0, []
    budget, gone, deaths = None, {}, ()
    for date, until in zip(dates, [*dates[1:], end]):
        outcome = judge_date(frames, date, until, spec, holding, budget=budget, retired=gone, deaths=deaths)
        row = outcome.row()
        judged += 1
        spa.append(row["spa_pvalue"])
        entered += sum(1 for d in outcome.deployed if d["stage"] == "probation" and not d["incumbent"])
        promoted += len(row["promoted"])
        looks += sorted(outcome.looks.values())  # every look's p: what a stricter alpha would have promoted
        retired += len(row["retired"])
        capital = [d for d in outcome.deployed if d["allocation"] > 0.0 and d.get("stage", "capital") == "capital"]
        if any(kind == "null" or d["family"] in capturing for d in capital):
            first_capital = date
            break  # the path's outcome for the year is known
        holding, budget, gone, deaths = outcome.live, outcome.budget, outcome.retired_genomes, outcome.deaths
    return {
        "seed": seed,
        "kind": kind,
        "target": target,
        "every_days": every_days,
        "judgements": judged,
        "dates": len(dates),
        "capital": first_capital is not None,
        "first_capital": None if first_capital is None else first_capital.strftime("%Y-%m-%d"),
        "days_to_capital": None if first_capital is None else int((first_capital - first).days),
        "probation_entries": entered,
        "promotions": promoted,
        "retirements": retired,
        "look_pvalues": looks,
        "min_spa_pvalue": min((p for p in spa if p is not None), default=None),
        "seconds": time.perf_counter() - started,
    }


NIGHTLY_POWER_CELLS = (("trend", 2.0), ("trend", 3.0), ("mean_reversion", 2.0), ("mean_reversion", 3.0))


def nightly(paths: int, every_days: int, workers: int, out: Path, preset: str, power: bool = False) -> int:
    """`--nightly-chain`: the share of null paths that put capital into a strategy within a simulated year;
    `--nightly-power`: per planted kind and Sharpe, the share of paths that put capital into a capturing
    strategy within the year (the power the error control leaves)."""
    from tqdm import tqdm

    started = time.perf_counter()
    jobs = [("null", 0.0, 0.0)]
    if power:
        from quant_organism.benchmarks.planted_strength import calibrate
        from quant_organism.evolution.evolution_config import load_preset

        lookback = load_preset(preset).lookback_days
        jobs = []
        for kind in sorted({k for k, _ in NIGHTLY_POWER_CELLS}):
            targets = tuple(t for k, t in NIGHTLY_POWER_CELLS if k == kind)
            for target, c in calibrate(kind, targets, seeds=(0, 1, 2, 3), days=lookback).items():
                jobs.append((kind, c.strength, target))
    results = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(nightly_path, 5000 + k, every_days, 365, preset, kind, strength, target)
                   for kind, strength, target in jobs for k in range(paths)]  # fmt: skip
        with tqdm(total=len(futures), desc="paths (a simulated year each)", unit="path", file=sys.stderr) as bar:
            for future in as_completed(futures):
                results.append(future.result())
                bar.update(1)
    wall_s = time.perf_counter() - started
    flag = "--nightly-power" if power else "--nightly-chain"
    command = f"python -m quant_organism.benchmarks organism {flag} --paths {paths} --every {every_days}"
    lines = [
        f"$ {command}",
        f"each market judged every {every_days} days over a simulated year by the production chain ({preset} preset, "
        "probation on: deployment/probation.py, previous deployment, ledger and retired genomes carried); capital = Kelly capital "
        "(null: into any strategy; planted: into a strategy of a capturing family)",
    ]
    for (kind, target), group in pd.DataFrame(results).groupby(["kind", "target"], sort=True):
        hits, n = int(group["capital"].sum()), len(group)
        low, high = wilson(hits, n)
        days = group["days_to_capital"].dropna()
        label = (
            "false capital per simulated year"
            if kind == "null"
            else f"{kind} at planted Sharpe {target:g}: capital within the year"
        )
        lines.append(f"{label}: {hits}/{n} = {hits / n:.1%} (Wilson 95% CI {low:.1%}-{high:.1%})"
                     + (f", median {days.median():.0f} days to capital" if len(days) else "")
                     + f"; probation entries {int(group['probation_entries'].sum())}, promotions {int(group['promotions'].sum())}")  # fmt: skip
        if kind == "null":
            lines.append(f"target <= 5% with the upper bound <= 10%: {_met(hits / n <= 0.05 and high <= 0.10, hits / n <= 0.05)}")
        else:
            need = 0.8 if target >= 3 else 0.5
            lines.append(f"target >= {need:.0%} (lower bound): {_met(low >= need, hits / n >= need)}")
    lines.append(f"judgements run: {sum(r['judgements'] for r in results)} (a path stops at its first capital); "
                 f"wall time {wall_s:.0f} s")  # fmt: skip
    text = "\n".join(lines)
    print(text)
    folder = out / ("nightly_power" if power else "nightly")
    folder.mkdir(parents=True, exist_ok=True)
    ordered = sorted(results, key=lambda r: (r["kind"], r["target"], r["seed"]))
    (folder / "paths.json").write_text(json.dumps(ordered, indent=1, default=_json_default))
    (folder / "summary.md").write_text(text + "\n")
    print(f"wrote {folder}/summary.md, paths.json")
    return 0


def nightly_simulation(null_paths: int, planted_paths: int, workers: int, out: Path, docs: bool = False) -> int:
    """`--nightly`: the probation on forward returns alone, looked at every night (benchmarks/probation_sim.py)."""
    from quant_organism.benchmarks.probation_sim import simulate

    started = time.perf_counter()
    lines, results = simulate(null_paths, planted_paths, workers)
    command = (f"python -m quant_organism.benchmarks organism --nightly --null-paths {null_paths} "
               f"--planted-paths {planted_paths}")  # fmt: skip
    text = "\n".join([f"$ {command}", "cadence: nightly (every entry looked at every night; a year of entries, "
                      "10 probation slots kept full so that entries come faster than the gate lets them, each entry "
                      "followed for its whole life)", *lines, f"wall time {time.perf_counter() - started:.0f} s"])  # fmt: skip
    print(text)
    folder = out / "nightly_simulation"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "paths.json").write_text(json.dumps(results, indent=1, default=_json_default))
    (folder / "summary.md").write_text(text + "\n")
    print(f"wrote {folder}/summary.md, paths.json")
    if docs:
        from quant_organism.benchmarks.docs_page import write_section

        print(f"wrote {write_section('organism (nightly probation)', command, text)}")
    return 0


def search_arms(workers: int, out: Path, preset: str, docs: bool) -> int:
    """`--search`: the ARMS on the same markets (GRIDS["search"]): size on nulls, power and pooled forward capture
    per planted cell with their intervals, trees deployed, wall time per run."""
    from quant_organism.evolution.evolution_config import load_preset

    started = time.perf_counter()
    lookback = load_preset(preset).lookback_days
    specs = calibrated_specs("search", lookback)
    jobs = [(spec, preset, "1h", arm) for spec in specs for arm in ARMS]
    runs = run_in_pool(run_one, jobs, workers, "search arms x markets")
    wall_s = time.perf_counter() - started
    command = "python -m quant_organism.benchmarks organism --search"
    rows = []
    for arm in ARMS:
        table, _ = summarise([r for r in runs if r["arm"] == arm])
        arm_runs = pd.DataFrame([r for r in runs if r["arm"] == arm])
        for _, r in table.iterrows():
            cell = arm_runs[(arm_runs["kind"] == r["kind"]) & np.isclose(arm_runs["target"], r["target"])]
            rate = r["power"] if r["kind"] != "null" else r["size"]
            searched = int(cell["found_by_search"].sum()) if r["kind"] != "null" else int(
                sum(any(not n.startswith("documented.") for n in d) for d in cell["deployed"]))  # fmt: skip
            s_low, s_high = wilson(searched, len(cell))
            rows.append({
                "arm": arm, "kind": r["kind"], "target": r["target"], "runs": int(r["runs"]),
                "rate": f"{rate:.0%} [{r['low']:.0%}, {r['high']:.0%}]",
                "search_rate": f"{searched / len(cell):.0%} [{s_low:.0%}, {s_high:.0%}]",
                "forward_capture": "n/a" if not np.isfinite(r["forward_capture"])
                else f"{r['forward_capture']:.2f} [{r['capture_low']:.2f}, {r['capture_high']:.2f}]",
                "trees_deployed": int(cell["trees_deployed"].sum()), "deploy_rate": r["deploy_rate"],
                "pbo_on_noise": _pbo_text(cell["pbo"]) if r["kind"] == "null" and "pbo" in cell else "",
                "naive_forward_sharpe": r["naive_forward_sharpe"], "seconds": r["seconds"],
            })  # fmt: skip
    table = pd.DataFrame(rows)
    header = (
        "arms on the same markets: templates = the production preset; trees = rule trees (evolution/gp.py) in the mix at "
        f"weight {TREE_WEIGHT:g} beside 1 per template; folds = the Sharpe objective the median of {FOLDS} contiguous "
        "folds of the train window. search_rate = the same counting the search's strategies only (the documented "
        "tier's rules, identical in every arm, left out): what the arms change. rate = the chain's power (a deployed "
        "strategy of a capturing family, or a tree with a leaf of one, with a positive forward Sharpe) or for null the "
        f"size, Wilson 95% CI; forward = the {FORWARD_DAYS} days "
        "after the evolution date; forward_capture = pooled forward Sharpe of the deployed sets / the planted rule's "
        "[bootstrap 95% CI]; switch = the conjunction market (trending in high volatility, reverting when calm; its planted "
        "rule is the tree 'if the day's volatility is high then the trend rule else the reversion rule'); "
        "naive_forward_sharpe = the in-sample best's forward Sharpe; pbo_on_noise = the search's probability of backtest "
        f"overfitting on the null markets (CSCV over {PBO_SAMPLE} of the individuals it tried, train window; mean ± "
        "standard error; 0.5 is a search that picks noise); seconds = mean wall time of one run (PBO included on nulls)"
    )
    text = "\n".join([f"$ {command}", header, table.to_markdown(index=False, floatfmt=".2f"), f"wall time {wall_s:.0f} s"])
    print(text)
    folder = out / "search"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs.json").write_text(json.dumps(runs, indent=1, default=_json_default, allow_nan=True))
    (folder / "summary.md").write_text(text + "\n")
    print(f"wrote {folder}/summary.md, runs.json")
    if docs:
        from quant_organism.benchmarks.docs_page import write_section

        print(f"wrote {write_section('organism (search arms)', command, text)}")
    return 0


ORACLE_LOOKBACKS = (540, 730)


def oracle(markets: int, out: Path, docs: bool) -> int:
    """`--oracle`: the gate on the switch market's planted tree and on its two leaves alone, the markets and
    strength of `--search`'s switch cell (and further seeds), at the production lookback and at two years."""
    from quant_organism.benchmarks.oracle_gate import oracle_rows
    from quant_organism.benchmarks.planted_strength import PLANTED_RULES

    started = time.perf_counter()
    spec = next(s for s in calibrated_specs("search", ORACLE_LOOKBACKS[0]) if s.kind == "switch")
    rules = {"switch tree (planted)": PLANTED_RULES["switch"], "trend leaf alone": PLANTED_RULES["trend"],
             "reversion leaf alone": PLANTED_RULES["mean_reversion"]}  # fmt: skip
    rows = [
        r.record() for days in ORACLE_LOOKBACKS for r in oracle_rows("switch", spec.strength, spec.seed, markets, days, rules)
    ]
    command = "python -m quant_organism.benchmarks organism --oracle" + (f" --markets {markets}" if markets != 30 else "")
    header = (
        f"the gate on the planted rule itself (no search, nothing chosen): switch markets at planted Sharpe {spec.target:g} "
        f"(strength {spec.strength:.4f}, seeds {spec.seed}..{spec.seed + markets - 1}), the production preset's split of "
        "the history; held_out_excess_sharpe = mean annual Sharpe of the daily excess over the beta-matched market on the "
        "held-out days (the gate's statistic); passes = share of markets where its one-sided t exceeds the exploratory "
        "tier's critical value (0.5% family-wise) among 50 independent candidates (the planner's reading of the search "
        "gate) and alone (one test), Wilson 95% CI. An oracle passing less often than a target bounds every search below it."
    )
    table = pd.DataFrame(rows)
    text = "\n".join([f"$ {command}", header, table.to_markdown(index=False), f"wall time {time.perf_counter() - started:.0f} s"])
    print(text)
    folder = out / "oracle"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.md").write_text(text + "\n")
    if docs:
        from quant_organism.benchmarks.docs_page import write_section

        print(f"wrote {write_section('organism (oracle gate)', command, text)}")
    return 0


def _pbo_text(values: pd.Series) -> str:
    """Mean PBO over the null runs with its standard error."""
    values = values.dropna()
    if not len(values):
        return "n/a"
    from scipy.stats import sem

    spread = float(sem(values)) if len(values) > 1 else math.nan
    return f"{values.mean():.2f} ± {spread:.2f}"


def summarise(runs: list[dict]) -> tuple[pd.DataFrame, dict]:
    """Per (kind, target): runs, mean planted/oracle Sharpe, deploy rate, power, naive figures, capture."""
    frame = pd.DataFrame(runs)
    rows = []
    for (kind, target), group in frame.groupby(["kind", "target"], sort=True):
        n = len(group)
        hits = int(group["found"].sum()) if kind != "null" else int(group["deploys"].sum())
        low, high = wilson(hits, n)
        rows.append({
            "kind": kind, "target": target, "runs": n,
            "planted_sharpe": group["planted_sharpe"].mean(),  # on null: what the fixed trend rule earns (noise)
            "oracle_sharpe": group["oracle_sharpe"].mean(),
            "deploy_rate": group["deploys"].mean(),
            "first_look": group["first_look"].mean() if "first_look" in group else math.nan,
            "power" if kind != "null" else "size": hits / n, "low": low, "high": high,
            **dict(zip(("forward_capture", "capture_low", "capture_high"), pooled_capture(group))),
            "forward_sharpe": group["forward_sharpe"].mean(skipna=True),
            "planted_forward_sharpe": group["planted_forward_sharpe"].mean(),
            "naive_rate": group["naive_captures"].mean() if kind != "null" else 1.0,  # naive always deploys
            "naive_forward_sharpe": group["naive_forward_sharpe"].mean(),
            "seconds": group["seconds"].mean(),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    nulls = table[table["kind"] == "null"]
    planted = table[table["kind"] != "null"].copy()
    size = float(nulls["size"].iloc[0]) if len(nulls) else math.nan
    verdict = {
        "size": size,
        "size_ci": [float(nulls["low"].iloc[0]), float(nulls["high"].iloc[0])] if len(nulls) else None,
        # a target is met only when the interval's bound meets it; the point estimate is reported beside it
        "size_target_met": bool(len(nulls) and nulls["high"].iloc[0] <= 0.05),
        "size_point_meets": bool(size <= 0.05),
    }
    kinds_meeting, kinds_point = [], []
    for kind, group in planted.groupby("kind"):
        low = {round(t, 6): lo for t, lo in zip(group["target"], group["low"])}
        point = {round(t, 6): p for t, p in zip(group["target"], group["power"])}
        if low.get(3.0, 0.0) >= 0.8 and low.get(2.0, 0.0) >= 0.5:
            kinds_meeting.append(kind)
        if point.get(3.0, 0.0) >= 0.8 and point.get(2.0, 0.0) >= 0.5:
            kinds_point.append(kind)
    verdict["kinds_meeting_power_targets"] = kinds_meeting
    verdict["kinds_whose_point_estimates_meet"] = kinds_point
    at_three = planted[np.isclose(planted["target"], 3.0)]
    verdict["forward_capture_at_3"] = {k: float(c) for k, c in zip(at_three["kind"], at_three["forward_capture"])}
    verdict["forward_capture_ci_at_3"] = {
        k: [float(lo), float(hi)] for k, lo, hi in zip(at_three["kind"], at_three["capture_low"], at_three["capture_high"])
    }
    lows = [lo for lo, _ in verdict["forward_capture_ci_at_3"].values()]
    verdict["forward_capture_target_met"] = bool(lows) and all(lo >= 0.5 for lo in lows)
    verdict["power_target_met"] = len(kinds_meeting) >= 2
    return table, verdict


def _met(met: bool, point: bool) -> str:
    """A target's verdict: MET only when the interval's bound meets it."""
    return "MET" if met else ("NOT MET (the point estimate meets it, the interval's bound does not)" if point else "NOT MET")


def render(table: pd.DataFrame, verdict: dict, wall_s: float, command: str) -> str:
    shown = table.copy()
    shown["rate"] = [
        f"{(r.get('power') if r['kind'] != 'null' else r.get('size')):.0%} [{r['low']:.0%}, {r['high']:.0%}]"
        for _, r in shown.iterrows()
    ]
    shown["forward_capture"] = [
        "n/a"
        if not np.isfinite(r["forward_capture"])
        else f"{r['forward_capture']:.2f} [{r['capture_low']:.2f}, {r['capture_high']:.2f}]"
        for _, r in shown.iterrows()
    ]
    columns = ["kind", "target", "runs", "planted_sharpe", "oracle_sharpe", "rate", "deploy_rate", "first_look", "forward_capture",
               "forward_sharpe", "planted_forward_sharpe", "naive_rate", "naive_forward_sharpe", "seconds"]  # fmt: skip
    header = (
        f"rate = power (share of runs deploying a strategy of a capturing family that earned a positive forward Sharpe) "
        f"or, for null, size (share deploying "
        f"anything), with Wilson 95% CI. Forward = the {FORWARD_DAYS} days after the evolution date, which the chain never "
        "saw: forward_sharpe = the deployed set paper-traded there (runs that deploy), planted_forward_sharpe = the "
        "planted rule there, forward_capture = the ratio of the two pooled over the deploying runs [bootstrap 95% CI]; naive = 'deploy the in-sample "
        "best' (always deploys: size 100%), its forward Sharpe. planted_sharpe / oracle_sharpe: on the chain's history. "
        "rate and forward figures are the gate's choice (it enters probation); first_look = share of runs where the "
        "sequential probation (deployment/probation.py, forward record alone, the year's first share) would give "
        "capital within the forward days (null: to any "
        "strategy; planted: to a capturing one); power over a year of nights: --nightly-power"
    )
    lines = [f"$ {command}", header, shown[columns].to_markdown(index=False, floatfmt=".2f"), ""]
    lines.append(f"size {verdict['size']:.1%} (95% CI {verdict['size_ci'][0]:.1%}-{verdict['size_ci'][1]:.1%}): "
                 f"target <= 5% {_met(verdict['size_target_met'], verdict['size_point_meets'])}")  # fmt: skip
    lines.append(f"power >= 80% at Sharpe 3 and >= 50% at 2 (lower bounds) for >= 2 kinds: "
                 f"{_met(verdict['power_target_met'], len(verdict['kinds_whose_point_estimates_meet']) >= 2)} "
                 f"(kinds meeting: {verdict['kinds_meeting_power_targets']}; by point estimate: "
                 f"{verdict['kinds_whose_point_estimates_meet']})")  # fmt: skip
    capture = ", ".join(
        f"{k} {v:.2f} [{verdict['forward_capture_ci_at_3'][k][0]:.2f}, {verdict['forward_capture_ci_at_3'][k][1]:.2f}]"
        for k, v in verdict["forward_capture_at_3"].items()
    )
    point = bool(verdict["forward_capture_at_3"]) and all(v >= 0.5 for v in verdict["forward_capture_at_3"].values())
    lines.append(f"forward capture at planted Sharpe 3 (pooled forward Sharpe of the deployed sets / the planted rule's over "
                 f"the same runs, next {FORWARD_DAYS} days, bootstrap 95% CI over runs): {capture or 'n/a'}; target >= 0.5 "
                 f"{_met(verdict['forward_capture_target_met'], point)}")  # fmt: skip
    lines.append(f"wall time {wall_s:.0f} s")
    return "\n".join(lines)


_MODES = {  # each a mode of its own, run instead of the grid
    "--nightly": (
        "error control across nights: the probation simulated on forward returns alone, every night of a year "
        "(benchmarks/probation_sim.py): false capital on null paths, promotion at planted Sharpe 2 and 3"
    ),
    "--nightly-chain": "beside it, the production chain: null markets re-judged at --every days over a simulated year",
    "--nightly-power": (
        "the same on planted markets (trend and mean reversion at Sharpe 2 and 3): the share of paths that get capital "
        "into a capturing strategy"
    ),
    "--evidence": (
        "the documented tier on 6-year, 20-coin daily markets: size on nulls and beta nulls, power at portfolio Sharpe "
        "1.0-2.0 (benchmarks/evidence.py; about 5 minutes on 2 cores)"
    ),
    "--search-only": (
        "with --evidence: the search alone (documented tier off) on the same daily markets, its portfolio search and "
        "gate as run_chain calls them, with the oracle and a longer train window beside it "
        "(benchmarks/search_evidence.py)"
    ),
    "--search": (
        "the search with and without rule trees and fold fitness on the same markets, the conjunction market (planted "
        "trend only in high volatility) among them"
    ),
    "--oracle": (
        "the gate's power on the planted rule itself on the conjunction market, at 540 and 730 days of history: the "
        "bound on any search's power there (benchmarks/oracle_gate.py)"
    ),
    "--deaths": (
        "what death reports change in the next search: the trend families' share of the initial population, the final "
        "population and the candidates, without and with reports of their forward failures "
        "(benchmarks/death_report_bench.py)"
    ),
    "--split": (
        "a model of how a fixed history is best divided between train (selection) and held-out (the gate): power by "
        "train length, effective trials and candidates judged (benchmarks/split_tradeoff.py; seconds)"
    ),
}


def _parser() -> argparse.ArgumentParser:
    """The benchmark's modes and their sizes."""
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks organism", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small grid (about 5 minutes on 2 cores)")
    parser.add_argument("--docs", action="store_true", help="also write the summary into docs/benchmarks.md")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel runs (default: CPUs)")
    parser.add_argument("--preset", default="full", help="evolution preset of the chain (default full: production)")
    parser.add_argument("--out", default="data/benchmarks/organism", help="folder for the JSON, table and plot")
    parser.add_argument(
        "--interval",
        default="1h",
        choices=("1h", "4h", "1d"),
        help="bar interval of the planted "
        "markets (strengths calibrated at 1h; the table shows the planted rule's Sharpe at this interval)",
    )
    parser.add_argument("--runs", type=int, default=30, help="--evidence --search-only: runs per cell (default 30)")
    for flag, help_ in _MODES.items():
        parser.add_argument(flag, action="store_true", help=help_)
    parser.add_argument("--markets", type=int, default=30, help="--oracle: planted markets per history (default 30)")
    parser.add_argument("--paths", type=int, default=20, help="--nightly-chain/--nightly-power: markets per cell (default 20)")
    parser.add_argument("--null-paths", type=int, default=200, help="--nightly: simulated null years per kind (default 200)")
    parser.add_argument("--planted-paths", type=int, default=40, help="--nightly: simulated years per planted cell (default 40)")
    parser.add_argument("--every", type=int, default=7, help="--nightly-chain: days between judgements (default 7: weekly)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.evidence and args.search_only:
        from quant_organism.benchmarks.search_evidence import main as search_main

        return search_main(args.workers, Path(args.out), args.docs, args.runs)
    if args.evidence:
        from quant_organism.benchmarks.evidence import main as evidence_main

        return evidence_main(args.workers, Path(args.out), args.docs)
    if args.oracle:
        return oracle(args.markets, Path(args.out), args.docs)
    if args.split:
        from quant_organism.benchmarks.split_tradeoff import table

        print("$ python -m quant_organism.benchmarks organism --split")
        print("\n".join(table()))
        return 0
    if args.deaths:
        from quant_organism.benchmarks.death_report_bench import measure

        print("$ python -m quant_organism.benchmarks organism --deaths")
        print("\n".join(measure(args.workers)))
        return 0
    if args.search:
        return search_arms(args.workers, Path(args.out), args.preset, args.docs)
    if args.nightly:
        return nightly_simulation(args.null_paths, args.planted_paths, args.workers, Path(args.out), args.docs)
    if args.nightly_chain or args.nightly_power:
        return nightly(args.paths, args.every, args.workers, Path(args.out), args.preset, power=args.nightly_power)
    mode = "quick" if args.quick else "full"
    command = (
        "python -m quant_organism.benchmarks organism"
        + (" --quick" if args.quick else "")
        + (f" --interval {args.interval}" if args.interval != "1h" else "")
    )
    started = time.perf_counter()

    from quant_organism.evolution.evolution_config import load_preset

    lookback = load_preset(args.preset).lookback_days
    print(f"calibrating planted strengths ({mode} grid, {lookback}-day markets) ...", flush=True)
    specs = calibrated_specs(mode, lookback)
    runs = run_in_pool(run_one, [(spec, args.preset, args.interval) for spec in specs], args.workers, "organism runs")
    wall_s = time.perf_counter() - started
    table, verdict = summarise(runs)
    text = render(table, verdict, wall_s, command)
    print(text)

    out = Path(args.out) / (mode if args.interval == "1h" else f"{mode}_{args.interval}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps(runs, indent=1, default=_json_default, allow_nan=True))
    (out / "summary.md").write_text(text + "\n")
    (out / "summary.json").write_text(json.dumps({"verdict": verdict, "table": table.to_dict("records"), "wall_s": wall_s},
                                                 indent=1, default=_json_default))  # fmt: skip
    from quant_organism.reporting.plots import power_curves

    planted = table[table["kind"] != "null"]
    if len(planted):
        (out / "power_curve.png").write_bytes(power_curves(planted))
    print(f"wrote {out}/summary.md, summary.json, runs.json, power_curve.png")
    if args.docs:
        from quant_organism.benchmarks.docs_page import write_section

        print(f"wrote {write_section(f'organism ({mode}, {args.interval})', command, text)}")
    return 0


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
