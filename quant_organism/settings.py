"""Paths and environment: the one place that reads QUANT_ORGANISM_* variables."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_COINS: tuple[str, ...] = ("BTC", "ETH", "SOL", "DOGE", "XRP")
DEFAULT_INTERVAL = "1h"
SOURCES = ("synthetic", "hyperliquid", "files")


def data_dir() -> Path:
    """Runtime data root (`QUANT_ORGANISM_DATA_DIR`, default `./data`)."""
    return Path(os.environ.get("QUANT_ORGANISM_DATA_DIR", "data")).resolve()


def lake_dir() -> Path:
    """Hive-style Parquet lake: one file per (dataset, coin, date) partition."""
    return data_dir() / "lake"


def duckdb_path() -> Path:
    """DuckDB catalogue of views over the lake; written by one process at a time, never by partitions."""
    return data_dir() / "quant_organism.duckdb"


def source_name() -> str:
    """Which market source to use (`QUANT_ORGANISM_SOURCE`): synthetic (default), hyperliquid or files."""
    name = os.environ.get("QUANT_ORGANISM_SOURCE", "synthetic").strip().lower()
    if name not in SOURCES:
        raise ValueError(f"QUANT_ORGANISM_SOURCE={name!r}: expected one of {', '.join(SOURCES)}")
    return name


def files_dir() -> Path | None:
    """Directory of candle/funding files for the `files` source (`QUANT_ORGANISM_FILES_DIR`)."""
    value = os.environ.get("QUANT_ORGANISM_FILES_DIR")
    return Path(value).resolve() if value else None


def ray_address() -> str | None:
    """A Ray cluster to join (`QUANT_ORGANISM_RAY_ADDRESS`); None starts a local Ray on demand."""
    return os.environ.get("QUANT_ORGANISM_RAY_ADDRESS") or None


UNIVERSE_FILE = "universe.json"  # under the data root: `python -m quant_organism universe --top N` writes it


def coins() -> tuple[str, ...]:
    """The universe: `QUANT_ORGANISM_COINS` (comma-separated) if set, else `QUANT_ORGANISM_UNIVERSE=topN`
    (the hyperliquid source: the exchange's top N by volume, as `universe --top N` saved them; the files source: every
    coin of the folder, the night's members chosen point in time from the lake (`point_in_time_universe`); the synthetic
    source: the five default coins plus N-5 more on the same market factor, `synthetic_universe`), else BTC,ETH,SOL,DOGE,XRP.
    Coin partitions follow it: a coin is added without a code change."""
    value = os.environ.get("QUANT_ORGANISM_COINS", "")
    picked = tuple(c.strip() for c in value.split(",") if c.strip())
    if picked:
        seen: dict[str, str] = {}
        for coin in picked:
            if coin.casefold() in seen:
                raise ValueError(f"QUANT_ORGANISM_COINS={value!r} names one coin twice ({seen[coin.casefold()]}, {coin})")
            seen[coin.casefold()] = coin
        if source_name() == "synthetic":  # its tickers are upper case: `btc` is the documented BTC, not a new coin
            picked = tuple(c.upper() for c in picked)
        return picked
    universe = os.environ.get("QUANT_ORGANISM_UNIVERSE", "").strip()
    if not universe or universe == "default":
        return DEFAULT_COINS
    match = re.fullmatch(r"top(\d+)", universe)
    if not match or not 1 <= int(match.group(1)) <= 200:
        raise ValueError(f"QUANT_ORGANISM_UNIVERSE={universe!r}: expected 'default' or 'topN' with N in 1..200 (e.g. top50)")
    n = int(match.group(1))
    saved = data_dir() / UNIVERSE_FILE
    if source_name() == "files":  # point in time: every coin of the folder, delisted ones included (`universe_top`)
        return folder_coins()
    if source_name() == "hyperliquid":
        if saved.is_file() and _listed(saved):  # point in time: every perpetual the exchange listed (`universe_top`)
            return _listed(saved)
        if not saved.is_file():
            raise ValueError(
                f"QUANT_ORGANISM_UNIVERSE={universe}: no {saved} yet; run `python -m quant_organism universe --top {n}`"
                + (
                    " (with the files source: the point-in-time top N on --as-of, default the files' last day)"
                    if source_name() == "files"
                    else ""
                )
            )
        return tuple(json.loads(saved.read_text())["coins"][:n])
    from quant_organism.market.sources.synthetic import synthetic_universe

    return synthetic_universe(n)


def folder_coins() -> tuple[str, ...]:
    """Every coin with a candle file of the configured interval in the files source's folder (the lake keeps them
    all; other files, a manifest say, are not coins)."""
    from quant_organism.market.sources.files import FileSource

    folder = files_dir()
    if folder is None or not folder.is_dir():
        raise ValueError(f"QUANT_ORGANISM_UNIVERSE={os.environ.get('QUANT_ORGANISM_UNIVERSE')} with the files source reads "
                         "every coin of QUANT_ORGANISM_FILES_DIR: set it to a folder of candle files")  # fmt: skip
    import pandas as pd

    from quant_organism.market.schema import INTERVALS

    bar = INTERVALS[interval()]  # a coin's bars come from its files at the interval, or at a finer one dividing it
    entries = [e for e in FileSource(folder).entries() if e.kind == "candles" and e.interval in INTERVALS]
    coins = tuple(sorted({e.coin for e in entries if bar % INTERVALS[e.interval] == pd.Timedelta(0)}, key=str.upper))
    if not coins:
        raise ValueError(f"QUANT_ORGANISM_FILES_DIR={folder}: no candle files at {interval()} or a finer interval dividing it")
    return coins


def point_in_time_universe() -> bool:
    """Whether the universe is a point-in-time ranking (`QUANT_ORGANISM_UNIVERSE=topN` with the files source, or with
    the hyperliquid source once `universe --top N` saved the exchange's listing; no fixed `QUANT_ORGANISM_COINS`):
    every coin of the folder or the listing is ingested, each joins the run when its history begins
    instead of cutting everyone's, and on each night the members are the top N by trailing dollar volume among the
    coins with 90 days of history, decided from the lake's bars before the day (`universe_top`)."""
    if os.environ.get("QUANT_ORGANISM_COINS", "").strip():
        return False
    if not re.fullmatch(r"top\d+", os.environ.get("QUANT_ORGANISM_UNIVERSE", "").strip()):
        return False
    if source_name() == "hyperliquid":  # the exchange's listing, as `universe --top N` saved it through the SDK
        saved = data_dir() / UNIVERSE_FILE
        return saved.is_file() and bool(_listed(saved))
    return source_name() == "files"


def _listed(saved: Path) -> tuple[str, ...]:
    """Every perpetual the exchange listed when `universe --top N` saved `saved` (empty for lists saved before)."""
    return tuple(json.loads(saved.read_text()).get("listed") or ())


def universe_top() -> int | None:
    """N of a point-in-time universe (`point_in_time_universe`): each day's members are the top N by trailing dollar
    volume among the coins with enough history (market/universe.py), decided from the lake's bars before the day;
    None otherwise (every configured coin is a member once it has that history)."""
    if not point_in_time_universe():
        return None
    return int(os.environ["QUANT_ORGANISM_UNIVERSE"].strip()[3:])


def partitions_start_date() -> str:
    """First day of the daily partitions (`QUANT_ORGANISM_START_DATE`, default 2024-01-01), as YYYY-MM-DD."""
    value = os.environ.get("QUANT_ORGANISM_START_DATE", "2024-01-01").strip()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"QUANT_ORGANISM_START_DATE={value!r}: expected a day as YYYY-MM-DD (e.g. 2023-01-01)") from None


def partitions_end_date() -> str | None:
    """The last day of the daily partitions when fixed by hand (`QUANT_ORGANISM_END_DATE`, YYYY-MM-DD), else None:
    the partitions then end where the data end (`defs/shared/partitions.partitions_end`)."""
    value = os.environ.get("QUANT_ORGANISM_END_DATE", "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"QUANT_ORGANISM_END_DATE={value!r}: expected a day as YYYY-MM-DD (e.g. 2025-10-19)") from None


def interval() -> str:
    """Bar interval of the candles (`QUANT_ORGANISM_INTERVAL`, default 1h), one the market schema knows."""

    from quant_organism.market.schema import INTERVALS

    value = os.environ.get("QUANT_ORGANISM_INTERVAL", DEFAULT_INTERVAL).strip()
    if value not in INTERVALS:
        raise ValueError(f"QUANT_ORGANISM_INTERVAL={value!r}: expected one of {', '.join(INTERVALS)}")
    return value


def check_environment() -> None:
    """Read every QUANT_ORGANISM_* setting once, so a bad value is refused with its message before a command
    starts rather than as a traceback from deep inside it (ValueError)."""
    for read in (source_name, files_dir, coins, partitions_start_date, interval, production_preset, sentiment_source,
                 cpu_hour_price, ingest_workers, run_heartbeat_timeout, automation_on, synthetic_seed):  # fmt: skip
        read()


def dagster_home() -> Path:
    """Persistent DAGSTER_HOME under the data root, so the UI shows what the main command materialised."""
    return data_dir() / "dagster_home"


PRESETS = ("test", "full")


def production_preset() -> str:
    """The evolution preset of the automation, the decay sensor and the main command
    (`QUANT_ORGANISM_PRESET`, default `full`, the real search; `test` is the quick one CI runs)."""
    name = os.environ.get("QUANT_ORGANISM_PRESET", "full").strip().lower()
    if name not in PRESETS:
        raise ValueError(f"QUANT_ORGANISM_PRESET={name!r}: expected one of {', '.join(PRESETS)}")
    return name


def retrospective_cron() -> str:
    """Cadence of the `organism/retrospective` partitions (`QUANT_ORGANISM_RETROSPECTIVE_CRON`, default the
    first of every month): each partition is an evolution date, traded forward until the next one."""
    return os.environ.get("QUANT_ORGANISM_RETROSPECTIVE_CRON", "0 0 1 * *")


def run_heartbeat_timeout() -> float:
    """Seconds without an event after which a STARTED run no process answers for counts as orphaned
    (`QUANT_ORGANISM_RUN_HEARTBEAT_TIMEOUT`, default 7200)."""
    raw = os.environ.get("QUANT_ORGANISM_RUN_HEARTBEAT_TIMEOUT", "7200")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"QUANT_ORGANISM_RUN_HEARTBEAT_TIMEOUT={raw!r}: expected seconds") from None
    if value <= 0:
        raise ValueError(f"QUANT_ORGANISM_RUN_HEARTBEAT_TIMEOUT={raw!r}: must be > 0 seconds")
    return value


def alert_webhook_url() -> str | None:
    """Where alerts are POSTed as JSON (`QUANT_ORGANISM_ALERT_WEBHOOK`; unset: only the alert log)."""
    return os.environ.get("QUANT_ORGANISM_ALERT_WEBHOOK") or None


SENTIMENT_SOURCES = ("synthetic", "files", "api", "none")


def sentiment_source() -> str:
    """Where the Fear & Greed index comes from (`QUANT_ORGANISM_SENTIMENT_SOURCE`): synthetic, files, api or
    none; default: files with the files market source when its directory holds a `*fear_greed*` file (else
    none: every day's sentiment is missing, and says so), api with hyperliquid, else synthetic."""
    from quant_organism.market.sentiment import default_source  # the reader's own name rule, so the two agree

    name = os.environ.get("QUANT_ORGANISM_SENTIMENT_SOURCE") or default_source(source_name(), files_dir())
    name = name.strip().lower()
    if name not in SENTIMENT_SOURCES:
        raise ValueError(f"QUANT_ORGANISM_SENTIMENT_SOURCE={name!r}: expected one of {', '.join(SENTIMENT_SOURCES)}")
    return name


def hyperliquid_url() -> str | None:
    """Base URL of the Hyperliquid API for the hyperliquid source (`QUANT_ORGANISM_HYPERLIQUID_URL`, e.g. testnet
    or a local replay server); None is the SDK's mainnet. Read-only info calls either way."""
    return os.environ.get("QUANT_ORGANISM_HYPERLIQUID_URL") or None


def sentiment_url() -> str:
    """Base URL of the Fear & Greed API (`QUANT_ORGANISM_SENTIMENT_URL`)."""
    return os.environ.get("QUANT_ORGANISM_SENTIMENT_URL", "https://api.alternative.me")


def cpu_hour_price() -> float:
    """QUANT_ORGANISM_CPU_HOUR_PRICE: USD per CPU-hour for the run's cost estimate (default 0.05)."""
    raw = os.environ.get("QUANT_ORGANISM_CPU_HOUR_PRICE", "0.05")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"QUANT_ORGANISM_CPU_HOUR_PRICE={raw!r}: expected a number of USD per CPU-hour") from None
    if not value >= 0:
        raise ValueError(f"QUANT_ORGANISM_CPU_HOUR_PRICE={raw!r}: must be >= 0")
    return value


def workflows_dir() -> Path | None:
    """QUANT_ORGANISM_WORKFLOWS_DIR: a folder of the user's workflow YAML files, each offered as a job."""
    raw = os.environ.get("QUANT_ORGANISM_WORKFLOWS_DIR")
    return Path(raw).expanduser() if raw else None


def ingest_workers() -> int:
    """QUANT_ORGANISM_INGEST_WORKERS: processes ingesting coins side by side (default: the CPUs, at most 4, on a
    machine with PROCESS_POOL_MIN_CPUS or more; else 1, the ingest in the run's own process)."""
    from quant_organism.evolution.executors.choice import PROCESS_POOL_MIN_CPUS, usable_cpus

    raw = os.environ.get("QUANT_ORGANISM_INGEST_WORKERS")
    if raw is None:
        cpus = usable_cpus()
        return min(4, cpus) if cpus >= PROCESS_POOL_MIN_CPUS else 1
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"QUANT_ORGANISM_INGEST_WORKERS={raw!r}: expected a whole number of processes") from None
    if value < 1:
        raise ValueError(f"QUANT_ORGANISM_INGEST_WORKERS={raw!r}: must be >= 1")
    return value


def testnet_environment() -> dict[str, str]:
    """The testnet credentials and the mainnet opt-in, read here and passed to the domain (which never reads the
    environment): HYPERLIQUID_TESTNET_PRIVATE_KEY, HYPERLIQUID_TESTNET_ACCOUNT, QUANT_ORGANISM_ALLOW_MAINNET."""
    from quant_organism.validation.testnet_stage import ENVIRONMENT_NAMES

    return {name: os.environ[name] for name in ENVIRONMENT_NAMES if name in os.environ}


def automation_on() -> bool:
    """QUANT_ORGANISM_AUTOMATION: `on` (default) starts the automation-condition sensor and the other sensors RUNNING as soon
    as a daemon (`make ui`: dg dev) loads the definitions; `off` loads them STOPPED (switch them on in the UI)."""
    raw = os.environ.get("QUANT_ORGANISM_AUTOMATION", "on").strip().lower()
    if raw not in ("on", "off"):
        raise ValueError(f"QUANT_ORGANISM_AUTOMATION={raw!r}: expected on or off")
    return raw == "on"


def synthetic_seed() -> int:
    """QUANT_ORGANISM_SEED: the seed of the synthetic market (default 7; `bench demo` walks seeds 0..9)."""
    raw = os.environ.get("QUANT_ORGANISM_SEED", "7")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"QUANT_ORGANISM_SEED={raw!r}: expected a whole number") from None


@dataclass(frozen=True)
class ProjectSettings:
    """What the Dagster definitions are built from, read from the environment once when they load
    (`definitions.build_definitions`): the partitions' first and fixed last day, the universe, and the resources."""

    data_dir: Path
    start_date: str
    end_date: str | None
    coins: tuple[str, ...]
    interval: str
    source: str
    synthetic_seed: int
    files_dir: Path | None
    hyperliquid_url: str | None
    sentiment_source: str
    sentiment_url: str
    cpu_hour_price: float
    production_preset: str
    retrospective_cron: str

    @classmethod
    def from_environment(cls) -> ProjectSettings:
        return cls(
            data_dir=data_dir(),
            start_date=partitions_start_date(),
            end_date=partitions_end_date(),
            coins=tuple(coins()),
            interval=interval(),
            source=source_name(),
            synthetic_seed=synthetic_seed(),
            files_dir=files_dir(),
            hyperliquid_url=hyperliquid_url(),
            sentiment_source=sentiment_source(),
            sentiment_url=sentiment_url(),
            cpu_hour_price=cpu_hour_price(),
            production_preset=production_preset(),
            retrospective_cron=retrospective_cron(),
        )
