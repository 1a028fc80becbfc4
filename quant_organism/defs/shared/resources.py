"""Resources: where market data comes from, and where each kind of state lives under the data root.

The Dagster layer is the only place that turns settings into paths: domain code receives a store, a
lake, a ledger or an artifacts root as arguments. `project_resources(data_dir)` builds the whole set
for one data root (the UI and the main command use the environment's; tests a temporary one).
"""

from __future__ import annotations

import time
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from quant_organism import settings
from quant_organism.catalog.store import STORE_DIR, StrategyStore
from quant_organism.core import artifacts
from quant_organism.evolution import run_store
from quant_organism.evolution.result import EvolutionResult
from quant_organism.market.frame_cache import FrameCache
from quant_organism.market.lake import MarketLake
from quant_organism.market.sentiment import SentimentSource
from quant_organism.market.sentiment import default_source as default_sentiment_source
from quant_organism.market.sources import MarketDataSource, make_source, whole_day_spans
from quant_organism.operations import FAILURES_FILE
from quant_organism.runtime.ledger import LEDGER_FILE, PaperLedger
from quant_organism.runtime.operator import POLICY_FILE, OperatorPolicy, UnknownNameError, load_policy, resolve_names
from quant_organism.settings import ProjectSettings

if TYPE_CHECKING:  # imported on use at run time (the budget module is only needed by runs that ask)
    from quant_organism.core.budget import RunBudget


@lru_cache(maxsize=8)
def _cached_source(
    kind: str, seed: int, coins: tuple[str, ...], files_dir: Optional[str], base_url: Optional[str]
) -> MarketDataSource:
    # One client per configuration and process: the synthetic simulation and parsed files are reused
    # across the partitions that one process materialises.
    return make_source(kind, seed=seed, coins=coins, files_dir=files_dir, base_url=base_url)


def configured_source() -> MarketDataSource:
    """The market source the settings name (QUANT_ORGANISM_SOURCE and its options), as the resources build it:
    what the main command, the retrospective, health and the schedules ask where each coin's history lies."""
    files_dir = settings.files_dir()
    return _cached_source(
        settings.source_name(),
        settings.synthetic_seed(),
        tuple(settings.coins()),
        str(files_dir) if files_dir else None,
        settings.hyperliquid_url(),
    )


def files_last_days() -> dict[str, date | None] | None:
    """Each coin's last whole day in the files source (its history stops there: no ingest can bring a later
    day until newer files arrive); None for a source that goes on (the synthetic market, the exchange) or files
    that cannot be read (the ingest reports those). Parsed once per file version and process."""
    if settings.source_name() != "files":
        return None
    from quant_organism.market.schema import MarketDataError

    try:
        spans = whole_day_spans(configured_source(), settings.coins(), settings.interval())
    except (MarketDataError, ValueError, OSError):
        return None
    return {coin: None if end is None else end.date() for coin, (_, end) in spans.items()}


class MarketSource(dg.ConfigurableResource):
    """Where market data comes from. `source` picks the implementation (default from QUANT_ORGANISM_SOURCE)."""

    source: str = Field(default="synthetic", description="synthetic | hyperliquid | files")
    seed: int = Field(default=7, description="seed of the synthetic market")
    files_dir: Optional[str] = Field(default=None, description="directory of candle/funding files (files source)")
    base_url: Optional[str] = Field(default=None, description="Hyperliquid API URL (default mainnet; read-only info calls)")
    interval: str = Field(default="1h", description="bar interval")

    def client(self) -> MarketDataSource:
        return _cached_source(self.source, self.seed, tuple(settings.coins()), self.files_dir, self.base_url)


class SentimentSourceResource(dg.ConfigurableResource):
    """Where the Fear & Greed index comes from: synthetic (from the market source), files, or the public API."""

    source: str = Field(default="synthetic", description="synthetic | files | api | none")
    files_dir: Optional[str] = Field(default=None, description="directory holding a *fear_greed* CSV (files)")
    base_url: str = Field(default="https://api.alternative.me", description="Fear & Greed API URL (api)")

    def client(self, market: MarketDataSource) -> SentimentSource:
        from quant_organism.market.sentiment import FearGreedApi, FearGreedFile, NoSentiment, SyntheticSentiment

        if self.source == "files":
            if not self.files_dir:
                raise ValueError("the files sentiment source needs files_dir (QUANT_ORGANISM_FILES_DIR)")
            return FearGreedFile(self.files_dir)
        if self.source == "api":
            return FearGreedApi(self.base_url)
        if self.source == "synthetic":
            return SyntheticSentiment(market, tuple(settings.coins()))
        if self.source == "none":
            return NoSentiment()
        raise ValueError(f"unknown sentiment source {self.source!r}; expected synthetic, files or api")


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake under the data root."""

    root: str = Field(description="lake root directory")

    def lake(self) -> MarketLake:
        return MarketLake(self.root)


class StrategyStoreResource(dg.ConfigurableResource):
    """The strategy config store (the catalog): every stage after evolution reads and writes it."""

    directory: str = Field(description="the store's folder (data root / strategies)")
    lock_timeout_s: float = Field(default=60.0, description="how long a writer waits for the store's lock")

    def store(self, lock_timeout_s: float | None = None) -> StrategyStore:
        return StrategyStore(self.directory, lock_timeout=lock_timeout_s or self.lock_timeout_s)


class ArtifactsResource(dg.ConfigurableResource):
    """Per-date run artifacts (evolution, validation, deployment, reports) under the data root."""

    root: str = Field(description="artifacts root (the data root)")

    def phase_dir(self, phase: str, day: str) -> Path:
        return artifacts.phase_dir(phase, day, Path(self.root))

    def save_evolution(self, result: EvolutionResult, extra: dict | None = None) -> Path:
        return run_store.save_evolution(result, Path(self.root), extra)

    def run_info(self, day: str) -> dict:
        return run_store.load_run_info(day, Path(self.root))

    def load_evolution(self, day: str) -> EvolutionResult:
        return run_store.load_evolution(day, Path(self.root))

    def archive(self, table: str, day: str, run_id: str, frame, part: str | None = None) -> Path:
        """Keep this run's rows of a history table (never overwritten by another run; core/run_history.py)."""
        from quant_organism.core.run_history import archive_table

        return archive_table(Path(self.root), table, day, run_id, frame, part)

    @property
    def failures_path(self) -> Path:
        return Path(self.root) / FAILURES_FILE

    def alert(self, kind: str, message: str, details: dict | None = None) -> dict:
        """Append an alert to the log under the data root and POST it to the configured webhook
        (`QUANT_ORGANISM_ALERT_WEBHOOK`); a failing webhook never fails the caller."""
        from quant_organism.operations.alerts import Alert, raise_alert

        return raise_alert(Alert(kind, message, dict(details or {})), Path(self.root), settings.alert_webhook_url())


class RunBudgetResource(dg.ConfigurableResource):
    """The run's time budget (total, phase shares) and compute cost limit; unset total = unbounded.

    Shares end at cumulative points of the run's clock (core/budget.py): evolution stops at its share,
    validation replays nothing after its share, and the report states budget, time used and cost."""

    total_s: Optional[float] = Field(default=None, description="whole run (evolution + validation + deploy/report), seconds")
    evolution_share: float = Field(default=0.5, description="share of the budget for evolution")
    validation_share: float = Field(default=0.375, description="share of the budget for validation")
    reporting_share: float = Field(default=0.125, description="share of the budget for deployment and the report")
    cpu_hour_price: float = Field(default=0.05, description="USD per CPU-hour, for the cost estimate")
    cost_limit: Optional[float] = Field(default=None, description="refuse to start when the estimated cost (USD) is above")

    def budget(self, context) -> "RunBudget":
        """The budget on the run's own clock: it starts when the Dagster run started."""
        from quant_organism.core.budget import RunBudget

        record = context.instance.get_run_record_by_id(context.run.run_id)
        started = (record.start_time if record is not None else None) or time.time()
        shares = {"evolution": self.evolution_share, "validation": self.validation_share, "reporting": self.reporting_share}
        return RunBudget(self.total_s, started, shares)


def correlation_id(context) -> str:
    """One id for a logical run: the root of a re-execution chain keeps its id through every retry."""
    return context.run.root_run_id or context.run.run_id


class PaperLedgerResource(dg.ConfigurableResource):
    """The DuckDB paper-trading ledger."""

    path: str = Field(description="ledger file (data root / paper / ledger.duckdb)")
    carry_frames: bool = Field(
        default=True,
        description="carry each history anchor's market frames from run to run, reading only new or rewritten lake "
        "days (off: every run reads its whole history from the lake)",
    )

    def ledger(self) -> PaperLedger:
        return PaperLedger(self.path)

    def frame_cache(self) -> FrameCache | None:
        """The market frames paper runs carry from one run to the next, beside the ledger (market/frame_cache.py);
        None when switched off."""
        return FrameCache(Path(self.path).parent / "frames") if self.carry_frames else None


class OperatorPolicyResource(dg.ConfigurableResource):
    """The operator's policy for the paper book (runtime/operator.py): the standing policy file that
    `python -m quant_organism policy set` writes, with any field below overriding it for one run (launchpad).
    Unset fields (None) keep the standing value; a breaker limit of 0 switches that breaker off."""

    path: Optional[str] = Field(default=None, description="the standing policy file (default: data root / paper / policy.json)")
    risk_mode: Optional[str] = Field(default=None, description="normal | defensive (sizes halved) | halt (flatten, no entries)")
    cooldown_bars: Optional[int] = Field(default=None, description="bars after a decision during which a book opens nothing")
    min_confidence: Optional[float] = Field(default=None, description="entries below this confidence are skipped")
    allow_strategies: Optional[list[str]] = Field(default=None, description="only these strategies may hold positions")
    deny_strategies: Optional[list[str]] = Field(default=None, description="these strategies are closed and kept flat")
    allow_coins: Optional[list[str]] = Field(default=None, description="positions only in these coins")
    deny_coins: Optional[list[str]] = Field(default=None, description="these coins are closed and kept flat")
    max_drawdown: Optional[float] = Field(default=None, description="portfolio drawdown breaker (0: off)")
    daily_loss: Optional[float] = Field(default=None, description="daily loss breaker (0: off)")
    max_asset_exposure: Optional[float] = Field(default=None, description="combined exposure cap per coin (0: off)")

    def policy(self, store: StrategyStore | None = None) -> tuple[OperatorPolicy, str]:
        """(the policy in force for this run, its source); PolicyFileError when the standing file is corrupt.
        Lists given here are spelled as the universe and `store` spell them (`resolve_names`): a name neither
        holds fails the run rather than flatten the book or deny nothing."""
        standing, source = load_policy(Path(self.path) if self.path else settings.data_dir() / POLICY_FILE)
        overrides = {name: getattr(self, name) for name in OperatorPolicy.model_fields if getattr(self, name, None) is not None}
        if not overrides:
            return standing, source
        for name in ("max_drawdown", "daily_loss", "max_asset_exposure"):
            if overrides.get(name) == 0:
                overrides[name] = None
        lists = {name: value for name, value in overrides.items() if name.startswith(("allow_", "deny_"))}
        if lists:
            try:
                given = resolve_names(OperatorPolicy(**lists), settings.coins(), store.known_names() if store else set())
            except UnknownNameError as exc:
                raise dg.Failure(description=f"operator_policy (launchpad): {exc}") from None
            overrides.update({name: getattr(given, name) for name in lists})
        policy = OperatorPolicy.model_validate({**standing.model_dump(), **overrides})
        return policy, f"launchpad override of {', '.join(sorted(overrides))} (on the standing policy set by {source})"


def project_resources(
    data_dir: Path | str,
    sentiment: "SentimentSourceResource | None" = None,
    cpu_hour_price: float | None = None,
    **source: object,
) -> dict[str, dg.ConfigurableResource]:
    """Every resource for the data root `data_dir`; `source` overrides MarketSource's fields."""
    root = Path(data_dir)
    return {
        "market_source": MarketSource(**source),  # type: ignore[arg-type]
        "sentiment_source": sentiment
        or SentimentSourceResource(
            source=default_sentiment_source(str(source.get("source", "synthetic")), source.get("files_dir")),  # type: ignore[arg-type]
            files_dir=source.get("files_dir"),  # type: ignore[arg-type]
        ),
        "lake": LakeResource(root=str(root / "lake")),
        "duckdb": DuckDBResource(database=str(root / "quant_organism.duckdb")),
        "catalog": StrategyStoreResource(directory=str(root / STORE_DIR)),
        "artifacts": ArtifactsResource(root=str(root)),
        "paper_ledger": PaperLedgerResource(path=str(root / LEDGER_FILE)),
        "operator_policy": OperatorPolicyResource(path=str(root / POLICY_FILE)),
        "budget": RunBudgetResource(cpu_hour_price=settings.cpu_hour_price() if cpu_hour_price is None else cpu_hour_price),
    }


def resources_for(project: ProjectSettings) -> dict[str, dg.ConfigurableResource]:
    """The resources `project` names: its data root, market and sentiment sources."""
    files_dir = str(project.files_dir) if project.files_dir else None
    return project_resources(
        project.data_dir,
        sentiment=SentimentSourceResource(source=project.sentiment_source, files_dir=files_dir, base_url=project.sentiment_url),
        cpu_hour_price=project.cpu_hour_price,
        source=project.source,
        seed=project.synthetic_seed,
        files_dir=files_dir,
        base_url=project.hyperliquid_url,
        interval=project.interval,
    )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment (QUANT_ORGANISM_*), as the UI and the main command use them."""
    return resources_for(ProjectSettings.from_environment())
