"""`validation/validated_strategies`: the candidates `evolution/strategy_configs` listed, through the stages."""

import time
from dataclasses import asdict
from datetime import date
from typing import Optional

import dagster as dg
import pandas as pd
from pydantic import Field

from quant_organism import settings as project_settings
from quant_organism.catalog.config import LIVE_STATUSES, DeploymentStatus
from quant_organism.catalog.manifest import deployment_entries, deployment_stages
from quant_organism.catalog.store import StrategyStore
from quant_organism.core import artifacts as artifact_files
from quant_organism.core.faults import fault_point
from quant_organism.core.timeutil import utc_now
from quant_organism.core.windows import Window
from quant_organism.defs.automation.conditions import chain_asset
from quant_organism.defs.evolution.assets import CANDIDATES_FILE, STRATEGY_CONFIGS
from quant_organism.defs.shared.history import listed_days
from quant_organism.defs.shared.numbers import UNITS_OF_THE_GATE, rounded
from quant_organism.defs.shared.resources import (
    ArtifactsResource,
    LakeResource,
    RunBudgetResource,
    StrategyStoreResource,
    correlation_id,
)
from quant_organism.defs.shared.tables import metadata_table
from quant_organism.defs.shared.upstream import thin_window, uncovered_days
from quant_organism.defs.validation.night_frames import night_frames
from quant_organism.deployment.budget_table import COLUMNS as BUDGET_COLUMNS
from quant_organism.deployment.budget_table import budget_rows, budget_sentence
from quant_organism.deployment.night import held_out_table
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import Retired, returning_genomes
from quant_organism.reporting.inline_figure import histogram_figure
from quant_organism.reporting.memory import verdict_rows
from quant_organism.reporting.plots import markdown_image, pbo_logits
from quant_organism.runtime.forward import span_index
from quant_organism.strategies.genes import SeedGenes
from quant_organism.strategies.rule_tree import describe
from quant_organism.validation.gate_check import gate_problems
from quant_organism.validation.held_out import HeldOutConfig, buy_and_hold_returns, forward_returns
from quant_organism.validation.population_pbo import population_pbo, tried_sample
from quant_organism.validation.record import record_verdicts
from quant_organism.validation.run import ValidationSettings, validate
from quant_organism.validation.testnet_stage import TestnetConfig
from quant_organism.validation.tiers import GENOME_SEARCH_LEVEL
from quant_organism.validation.verdict_tables import CANDIDATE_COLUMNS, candidate_rows

INCUMBENTS_FILE = "incumbents.json"  # paper records of the strategies trading when validation ran
GENOMES_FILE = "genomes.json"  # the night's identities: name -> genes hash, and the genomes retired earlier
VALIDATED = dg.AssetKey(["validation", "validated_strategies"])
GATE_CHECK = "gate_decides_deployment"
HELD_OUT_RETURNS_FILE = "held_out_returns.parquet"  # per bar, one column per candidate, and the benchmark
BENCHMARK_COLUMN = "__buy_and_hold__"
SAMPLE_FILE = "signal_sample.parquet"  # a few hundred bars for deployment's signal check
MIN_COVERAGE = 0.9


class ValidationRunConfig(dg.Config):
    """The gate's level and rules (docs/validation.md). The testnet stage needs HYPERLIQUID_TESTNET_PRIVATE_KEY."""

    mode: str = Field(default="fast", description="minimal (held-out) | fast (+ replay) | full (+ testnet)")
    alpha: float = Field(
        default=GENOME_SEARCH_LEVEL,
        description="family-wise error rate of the seed-genome search's held-out superiority gate: its share (0.25%) of the night's "
        "2.5%; the portfolio search spends another 0.25% and the documented tier 2.0% (validation/tiers.py)",
    )
    min_trades: int = Field(default=10, description="fewest trades over the held-out span, all coins")
    require_positive_walk_forward: bool = Field(default=True, description="reject a negative walk-forward return")
    bootstrap_reps: int = Field(default=1000, description="stationary-bootstrap replications of the gate")
    pbo_population: int = Field(
        default=200, description="distinct individuals the search tried, sampled uniformly, in the PBO of the search"
    )
    testnet_url: Optional[str] = Field(default=None, description="testnet API URL (default: Hyperliquid testnet)")
    testnet_session_bars: int = Field(default=3, description="bars the best candidate trades on the testnet (wall time)")
    testnet_session_interval: str = Field(default="1h", description="bar interval of the testnet session")

    def settings(self) -> ValidationSettings:
        if self.mode not in ("minimal", "fast", "full"):
            raise dg.Failure(description=f"validation mode {self.mode!r}: expected minimal, fast or full")
        session = {"session_bars": self.testnet_session_bars, "session_interval": self.testnet_session_interval}
        testnet = TestnetConfig(base_url=self.testnet_url, **session) if self.testnet_url else TestnetConfig(**session)
        held_out = HeldOutConfig(
            alpha=self.alpha,
            min_trades=self.min_trades,
            require_positive_walk_forward=self.require_positive_walk_forward,
            reps=self.bootstrap_reps,
        )
        return ValidationSettings(
            mode=self.mode,
            held_out=held_out,
            testnet=testnet,  # type: ignore[arg-type]
            testnet_env=project_settings.testnet_environment(),
        )


def incumbent_records(store: StrategyStore, evolution_date) -> dict[str, PaperRecord]:
    """The paper records of the strategies trading now (deployed or decaying) that an earlier evolution date
    chose: they compete with the new candidates at deployment, their paper results counting in their score
    (deployment/scoring.py). Those this date chose itself (a rerun of the date) are its own candidates again."""
    stages = deployment_stages(store)
    entries = deployment_entries(store)
    return {
        c.name: PaperRecord(
            days=c.paper_trading_days,
            sharpe=c.paper_sharpe,
            max_drawdown=c.max_drawdown,
            decaying=c.deployment_status is DeploymentStatus.DECAYING,
            capital=stages.get(c.name, "capital" if (c.allocation or 0.0) > 0.0 else "probation") == "capital",
            probation=entries.get(c.name),
            allocation=c.allocation,
        )
        for c in store.load_strategies(status=LIVE_STATUSES)
        if c.evolution_date is None or c.evolution_date < evolution_date
    }


def incumbent_returns(
    store: StrategyStore, names: list[str], frames, windows, returning: dict[str, tuple[SeedGenes, pd.Timestamp]] | None = None
) -> pd.DataFrame:
    """Live strategies' per-bar returns on this run's held-out span, only after the data that chose them
    (their forward record; validation/held_out.forward_returns): no incumbent is judged on its own selection data.
    `returning`: candidates whose genome was retired, with the day after retirement (their record since then)."""
    live = {c.name: c for c in store.load_strategies(status=LIVE_STATUSES)}
    chosen = {n: (live[n].genes, incumbent_since(live[n])) for n in names if n in live} | dict(returning or {})
    span = Window(windows.out_of_sample.start, windows.walk_forward.end, "held_out")
    return forward_returns(chosen, frames, span)


def retired_genomes(store: StrategyStore) -> dict[str, Retired]:
    """Genomes that held a place in a deployment and were archived since: genes hash -> (name, day retired)."""
    out: dict[str, Retired] = {}
    for config in store.load_archived():
        if any(e.status is DeploymentStatus.DEPLOYED for e in config.deployment_history):
            out[config.genes.genes_hash()] = Retired(config.name, config.deployment_history[-1].timestamp.date())
    return out


def decision_genomes(store: StrategyStore, names: list[str], candidates: list[SeedGenes], incumbents) -> dict[str, str]:
    """Name -> genome identity (genes hash) of the night's candidates and the live strategies."""
    live = {c.name: c.genes.genes_hash() for c in store.load_strategies(status=LIVE_STATUSES) if c.name in incumbents}
    return {n: g.genes_hash() for n, g in zip(names, candidates)} | live


def incumbent_since(config) -> pd.Timestamp:
    """Where a live strategy's forward record begins: the day after its evolution date, where the held-out
    windows that chose it end (its data_window is only the train part of that data)."""
    if config.evolution_date is not None:
        return pd.Timestamp(config.evolution_date).tz_localize("UTC") + pd.Timedelta(days=1)
    return pd.Timestamp(config.created_at).tz_convert("UTC").ceil("D")


def candidate_genes(store: StrategyStore, names: list[str]) -> list[SeedGenes]:
    """The genomes of the listed candidates, from their configs (live, or archived by an earlier run)."""
    live = {c.name: c for c in store.load_strategies()}
    missing = [n for n in names if n not in live]
    archived = {c.name: c for c in store.load_archived()} if missing else {}
    lost = [n for n in missing if n not in archived]
    if lost:
        raise dg.Failure(description=f"candidates {lost[:5]} are in neither the store nor its archive: "
                         "re-materialise evolution/strategy_configs")  # fmt: skip
    return [(live.get(n) or archived[n]).genes for n in names]


@chain_asset(
    key=VALIDATED,
    deps=[STRATEGY_CONFIGS],
    group_name="validation",
    kinds={"python", "json"},
    check_specs=[
        dg.AssetCheckSpec(
            GATE_CHECK,
            asset=VALIDATED,
            blocking=True,
            description="the gate decides the deployment: every verdict marked passed held every stage it ran, the "
            "held-out superiority gate (SPA/StepM) and the runtime replay, and the catalogue holds it; otherwise "
            "deployment/deployed_configs does not run and the deployment in force stays (nothing passing is not a failure)",
        )
    ],
)
def validated_strategies(
    context: dg.AssetExecutionContext,
    config: ValidationRunConfig,
    lake: LakeResource,
    artifacts: ArtifactsResource,
    catalog: StrategyStoreResource,
    budget: RunBudgetResource,
) -> dg.MaterializeResult:
    """The listed candidates judged on the held-out windows (out-of-sample + walk-forward pooled) under one
    selection-aware gate (SPA/StepM), replayed through the runtime, testnet; verdicts recorded in the catalog; the PBO
    of the run's selection."""
    day = context.partition_key
    clock = budget.budget(context)
    cpu_started = time.process_time()
    result = artifacts.load_evolution(day)
    windows = result.windows
    names = artifact_files.read_json(artifacts.phase_dir("evolution", day) / CANDIDATES_FILE)
    store = catalog.store()
    genes = candidate_genes(store, names)
    loaded = night_frames(lake, result)
    missing = [coin for coin in result.coins if coin not in loaded.frames]
    coverage = loaded.coverage(listed_days(lake, result.coins))
    if missing or coverage < MIN_COVERAGE:
        raise thin_window(
            uncovered_days(loaded.frames, result.coins, windows.train.start, windows.walk_forward.end)
            or [f"{windows.train.start:%Y-%m-%d}"],
            f"validation windows incomplete in the lake (coverage {coverage:.0%}, coins missing {missing})",
            loaded.skipped,
            {"skipped": dg.MetadataValue.json(loaded.skipped[:100])},
        )
    frames = loaded.frames
    settings_ = config.settings()
    settings_.deadline = clock.deadline("validation")
    outcome = validate(genes, frames, windows.out_of_sample, windows.walk_forward, settings_)
    if outcome.cut_by_budget:
        context.log.warning(f"validation budget ran out: {len(outcome.cut_by_budget)} candidates not replayed (they cannot pass)")
    directory = artifacts.phase_dir("validation", day)
    summary = outcome.to_dict()
    _write_evidence(directory, store, windows, frames, names, genes, outcome)
    recorded = record_verdicts(store, outcome.verdicts, f"validation {day}", utc_now(), windows.evolution_date)
    fault_point("validation:recorded")

    pbo = _search_pbo(context, clock, result, config.pbo_population, frames, windows, directory)
    run_id, evolution_run_id = correlation_id(context), artifacts.run_info(day).get("run_id")
    summary["budget"] = _budget_spent(clock, time.process_time() - cpu_started, len(outcome.cut_by_budget), pbo is None)
    summary["run_id"], summary["evolution_run_id"] = run_id, evolution_run_id
    path = artifact_files.write_json(directory / "verdicts.json", summary)
    artifacts.archive("verdicts", day, run_id, verdict_rows(summary, evolution_run_id))
    passed = outcome.passed
    context.log.info(
        f"validated {len(outcome.verdicts)} candidates in mode {config.mode}: {len(passed)} passed "
        f"(stage seconds {outcome.stage_seconds}; SPA p {outcome.test.spa_pvalue if outcome.test else None}; "
        f"PBO of the search {f'{pbo.pbo:.2f}' if pbo else 'skipped'})"
    )
    if outcome.mode_note:
        context.log.warning(outcome.mode_note)
    test = outcome.test
    gate = _gate_check(context, store, summary, passed, len(outcome.verdicts))
    return dg.MaterializeResult(
        check_results=[gate],
        metadata={
            "candidates": dg.MetadataValue.int(len(outcome.verdicts)),
            "passed": dg.MetadataValue.int(len(passed)),
            "mode": config.mode,
            "units": UNITS_OF_THE_GATE,
            "mode_note": outcome.mode_note or "ran as configured",
            "spa_pvalue": rounded(test.spa_pvalue if test else None, 4),
            "superior": dg.MetadataValue.json(list(test.superior) if test else []),
            "detectable_sharpe_50": rounded(outcome.reach.at_50 if outcome.reach else None, 2),
            "detectable_sharpe_80": rounded(outcome.reach.at_80 if outcome.reach else None, 2),
            "what_the_gate_could_see": (
                ("nothing passed; " if not passed else f"{len(passed)} passed; ") + outcome.reach.sentence()
                if outcome.reach
                else "no candidates were judged"
            ),
            **_pbo_metadata(pbo),
            "budget": dg.MetadataValue.json(summary["budget"]),
            "error_budget": budget_sentence(),
            "error_budgets": metadata_table(budget_rows(), BUDGET_COLUMNS),
            "run_id": run_id,
            "catalog": dg.MetadataValue.json(
                {"validated": recorded.validated, "retired": len(recorded.retired), "updated": recorded.updated}
            ),
            "stage_seconds": dg.MetadataValue.json(outcome.stage_seconds),
            "skipped_stages": dg.MetadataValue.json(_skipped_stages(outcome.verdicts)),
            "verdicts": metadata_table(
                candidate_rows(outcome.verdicts, {n: describe(g.rule) for n, g in zip(names, genes) if g.rule}),
                CANDIDATE_COLUMNS,
            ),
            "windows": dg.MetadataValue.json(windows.as_dict()),
            "path": dg.MetadataValue.path(str(path)),
        },
    )


def _budget_spent(clock, cpu_s: float, cut_by_budget: int, pbo_skipped: bool) -> dict:
    """What validation spent of the run's budget: its deadline, wall and CPU seconds, and what the budget cut."""
    return {
        "deadline_s": clock.to_dict()["deadlines_s"]["validation"],
        "used_s": round(clock.elapsed(), 3),
        "cpu_s": round(cpu_s, 3),
        "cut_by_budget": cut_by_budget,
        "pbo_skipped": pbo_skipped,
    }


def _write_evidence(directory, store, windows, frames, names, genes, outcome) -> None:
    """The held-out evidence the night's decision reads: every candidate's and incumbent's returns with the
    benchmark, the incumbents' records, the genomes (retired ones too) and a sample of the bars."""
    incumbents = incumbent_records(store, windows.evolution_date)
    genomes = decision_genomes(store, names, genes, incumbents)
    retired = retired_genomes(store)
    returning = returning_genomes(dict(zip(names, genes)), genomes, retired, incumbents)
    forward = incumbent_returns(store, list(incumbents), frames, windows, returning)  # re-found ones too: forward only
    evidence = outcome.evidence.bar_returns if outcome.evidence is not None else None
    returns = held_out_table(evidence, forward, span_index(frames, windows.out_of_sample.start, windows.walk_forward.end))
    returns[BENCHMARK_COLUMN] = buy_and_hold_returns(frames, returns.index) if len(returns.index) else 0.0
    artifact_files.write_frame(directory / HELD_OUT_RETURNS_FILE, returns.reset_index(names="timestamp"))
    artifact_files.write_json(directory / INCUMBENTS_FILE, {n: asdict(r) for n, r in incumbents.items()})
    artifact_files.write_json(directory / GENOMES_FILE, {
        "genomes": genomes, "retired": {g: {"name": r.name, "day": r.day.isoformat()} for g, r in retired.items()}
    })  # fmt: skip
    sample = next(iter(frames.values())).tail(500)
    artifact_files.write_frame(directory / SAMPLE_FILE, sample.reset_index(names="timestamp"))


def _search_pbo(context, clock, result, population: int, frames, windows, directory):
    """The PBO of the search over every tried individual on its train window; None when the budget ran out or fewer
    than two individuals are valid (said in the log)."""
    late = clock.deadline("validation") is not None and time.time() > clock.deadline("validation")
    tried = [] if late else tried_sample(result, population)
    if late or len(tried) < 2:
        context.log.warning(
            "validation budget ran out: the PBO of the search is skipped"
            if late
            else f"the PBO of the search is skipped: it needs 2 valid individuals, the search has {len(tried)}"
        )
        (directory / "pbo.json").unlink(missing_ok=True)
        return None
    pbo, _ = population_pbo(tried, frames, windows.train)
    artifact_files.write_json(directory / "pbo.json", pbo.to_dict())
    return pbo


def _gate_check(context, store, summary, passed, judged: int) -> dg.AssetCheckResult:
    """The blocking gate check: the verdicts recorded agree with the store's validated and live strategies."""
    held = {c.name for c in store.load_strategies() if c.deployment_status in {DeploymentStatus.VALIDATED, *LIVE_STATUSES}}
    problems = gate_problems(summary, held)
    if problems:
        context.log.error(f"the gate check failed, deployment held back: {problems[:5]}")
    return dg.AssetCheckResult(check_name=GATE_CHECK, passed=not problems, metadata={
        "passed": dg.MetadataValue.json(sorted(v.candidate_id for v in passed)), "judged": dg.MetadataValue.int(judged),
        "problems": dg.MetadataValue.json(problems[:20])})  # fmt: skip


def _skipped_stages(verdicts) -> dict[str, list[str]]:
    """Each stage that did not run, with why (the first verdict's reasons for it)."""
    reasons: dict[str, list[str]] = {}
    for verdict in verdicts:
        for name, stage in verdict.stages.items():
            if not stage.ran:
                reasons.setdefault(name, stage.reasons)
    return dict(sorted(reasons.items()))


def _pbo_metadata(pbo) -> dict:
    skipped = "skipped: the validation budget ran out, or fewer than 2 valid individuals"
    if pbo is None:
        return {"pbo": dg.MetadataValue.float(float("nan")), "pbo_figure": dg.MetadataValue.md(skipped),
                "pbo_plot": dg.MetadataValue.md(skipped)}  # fmt: skip
    caption = (f"logits of the train-best's held-out rank over the splits; PBO {pbo.pbo:.0%} (the share left of the "
               "dashed line: the train-best below the held-out median)")  # fmt: skip
    return {"pbo": dg.MetadataValue.float(round(float(pbo.pbo), 3)),
            "pbo_figure": dg.MetadataValue.md(histogram_figure("PBO", pbo.logits, 0.0, caption)),
            "pbo_plot": dg.MetadataValue.md(markdown_image(pbo_logits(pbo.logits, pbo.pbo), "pbo"))}  # fmt: skip


def read_decision_inputs(artifacts: ArtifactsResource, day: str) -> tuple[dict[str, str], dict[str, Retired]]:
    """(name -> genome, retired genomes) that validation stored for `day` (empty for runs stored before them)."""
    path = artifacts.phase_dir("validation", day) / GENOMES_FILE
    if not path.exists():
        return {}, {}
    payload = artifact_files.read_json(path)
    retired = {g: Retired(r["name"], date.fromisoformat(r["day"])) for g, r in payload.get("retired", {}).items()}
    return dict(payload.get("genomes", {})), retired


def read_held_out_returns(artifacts: ArtifactsResource, day: str) -> tuple[pd.DataFrame, pd.Series]:
    """(candidates' held-out per-bar returns, the buy-and-hold benchmark) that validation stored for `day`."""
    frame = artifact_files.read_frame(artifacts.phase_dir("validation", day) / HELD_OUT_RETURNS_FILE).set_index("timestamp")
    return frame.drop(columns=[BENCHMARK_COLUMN]), frame[BENCHMARK_COLUMN]
