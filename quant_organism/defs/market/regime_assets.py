"""`market/sentiment` and `market/regime`: the Fear & Greed index and the market's regimes, one row per day.

Thin: the sources are in market/sentiment.py, the computation in market/regime.py (plain Python). Both
assets are daily partitions; a range of days is computed in one run (the regime model's monthly fits are
cached in the lake, keyed by the history they saw).
"""

import json
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from quant_organism import settings
from quant_organism.defs.automation.conditions import regime_condition, sentiment_condition
from quant_organism.defs.market.assets import CANDLES
from quant_organism.defs.shared.keys import REGIME
from quant_organism.defs.shared.partitions import all_coins_of_day, partitioned
from quant_organism.defs.shared.resources import LakeResource, MarketSource, SentimentSourceResource
from quant_organism.defs.shared.upstream import missing_metadata, missing_upstream
from quant_organism.market.frames import READ_COINS
from quant_organism.market.lake import MarketLake, ensure_catalog_file
from quant_organism.market.regime import HmmFit, compute_regimes, daily_closes
from quant_organism.market.schema import MarketDataError
from quant_organism.reporting.plots import markdown_image, regime_chart

SENTIMENT = dg.AssetKey(["market", "sentiment"])
FITS_FILE = "regime_fits.json"


def _day_range(context: dg.AssetExecutionContext) -> tuple[str, str]:
    keys = context.partition_keys
    return keys[0], keys[-1]


@partitioned(
    dg.asset,
    "daily",
    key=SENTIMENT,
    automation_condition=sentiment_condition(),
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="market",
    kinds={"parquet"},
)
def sentiment(
    context: dg.AssetExecutionContext,
    sentiment_source: SentimentSourceResource,
    market_source: MarketSource,
    lake: LakeResource,
    duckdb: DuckDBResource,
) -> dg.MaterializeResult:
    """The Crypto Fear & Greed index of the day (0-100, five classes) from the configured source; a day the source lacks
    is stored as missing, never filled."""
    first, last = _day_range(context)
    try:
        rows = sentiment_source.client(market_source.client()).daily(first, last)
    except MarketDataError as exc:
        raise dg.Failure(description=f"sentiment source {sentiment_source.source}: {exc}") from None
    store = lake.lake()
    by_day = {
        pd.Timestamp(d).strftime("%Y-%m-%d"): (v, c)
        for d, v, c in rows[["date", "value", "classification"]].itertuples(index=False)
    }
    missing = []
    with store.batch():
        for day in context.partition_keys:
            value, label = by_day.get(day, (np.nan, "missing"))
            if day not in by_day:
                missing.append(day)
            store.write_day(
                "sentiment",
                day,
                pd.DataFrame(
                    {
                        "date": [date.fromisoformat(day)],
                        "value": [float(value)],
                        "classification": [label],
                        "missing": [day not in by_day],
                    }
                ),
            )
    ensure_catalog_file(Path(duckdb.database), store, settings.interval(), connect=duckdb.get_connection)
    if missing:
        context.log.warning(f"{len(missing)} day(s) without a Fear & Greed value (kept as missing): {missing[:10]}")
    last_row = by_day.get(last)
    return dg.MaterializeResult(
        metadata={
            "source": sentiment_source.source,
            "days": dg.MetadataValue.int(len(context.partition_keys)),
            "missing_count": dg.MetadataValue.int(len(missing)),
            "missing_days": dg.MetadataValue.json(missing[:100]),
            "last_value": dg.MetadataValue.float(float(last_row[0])) if last_row else dg.MetadataValue.float(float("nan")),
            "last_class": last_row[1] if last_row else "missing",
        }
    )


def _load_fits(store: MarketLake) -> dict[str, HmmFit | None]:
    path = store.root / "regimes" / FITS_FILE
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {m: (HmmFit(m, tuple(f["params"]), f["days"]) if f else None) for m, f in raw.items()}
    except (ValueError, KeyError, TypeError):
        return {}  # an unreadable cache is refitted, not trusted


def _save_fits(store: MarketLake, fits: dict[str, HmmFit | None]) -> None:
    from quant_organism.core.durable import replace_text

    path = store.root / "regimes" / FITS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_text(
        path, json.dumps({m: ({"params": list(f.params), "days": f.days} if f else None) for m, f in sorted(fits.items())})
    )


def _valid_cache(cache: dict[str, HmmFit | None], market: pd.Series) -> dict[str, HmmFit | None]:
    """Keep a cached month only if the history before it still has the same number of days (the lake
    may have grown backwards or been re-ingested: then the fit is redone)."""
    kept = {}
    for month, fit in cache.items():
        before = int(market[market.index < pd.Timestamp(f"{month}-01")].notna().sum())
        if (fit is None and before < 120) or (fit is not None and fit.days == before):
            kept[month] = fit
    return kept


def _daily_closes_of(store, coins, start: str, end: str) -> pd.DataFrame:
    """Each coin's daily closes over [start, end), read READ_COINS coins at a time: every bar of the universe's
    history read at once held the reader's table and its pandas rows together (500 MB more for 50 coins x 877 days
    at 4h, the peak of the real 50-coin run); a day's close needs only its coin's bars."""
    parts = []
    coins = list(coins)
    for lo in range(0, len(coins), READ_COINS):
        candles, _ = store.read("candles", coins[lo : lo + READ_COINS], start, end, settings.interval(), columns=["close"])
        parts.append(daily_closes(candles))
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, axis=1).sort_index().sort_index(axis=1) if parts else pd.DataFrame()  # as one read sorts them


@partitioned(
    dg.asset,
    "daily",
    key=REGIME,
    automation_condition=regime_condition(),
    deps=[dg.AssetDep(CANDLES, partition_mapping=all_coins_of_day), SENTIMENT],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="market",
    kinds={"parquet", "duckdb"},
)
def regime(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The day's market regimes from data up to its close: volatility percentile and regime, market trend, a two-state
    Markov-switching model refitted monthly on past data only, and Fear & Greed."""
    first, last = _day_range(context)
    store = lake.lake()
    firsts = store.first_days("candles", settings.coins(), settings.interval())
    if not firsts:
        raise missing_upstream(CANDLES.to_user_string(), context.partition_keys, "the lake holds no candles")
    start = min(firsts.values()).isoformat()
    end = (pd.Timestamp(last) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    closes = _daily_closes_of(store, settings.coins(), start, end)
    closes = closes[closes.index <= pd.Timestamp(last)]
    # A day with a close lies inside the history's span, and a gap there (an outage, a market closed at weekends)
    # is a day of unknown regimes. A day of the range outside that span is too when its candles were ingested
    # and fell below the quality gate; one whose candles were never ingested is a missing upstream.
    inside = (closes.index.min(), closes.index.max()) if len(closes) else None
    outside = [d for d in context.partition_keys if inside is None or not inside[0] <= pd.Timestamp(d) <= inside[1]]
    coins, interval = settings.coins(), settings.interval()
    absent = [d for d in outside if any(not store.partition_path("candles", c, d, interval).exists() for c in coins)]
    if absent:
        raise missing_upstream(CANDLES.to_user_string(), absent, "no regime without every coin's candles")
    span_first = pd.Timestamp(first) if inside is None else min(inside[0], pd.Timestamp(first))
    closes = closes.reindex(pd.date_range(span_first, pd.Timestamp(last), freq="D"))
    sentiment_rows = store.read_days("sentiment", None, last)
    stored_sentiment = set(pd.to_datetime(sentiment_rows["date"]).dt.strftime("%Y-%m-%d")) if len(sentiment_rows) else set()
    if len(sentiment_rows):
        sentiment_rows = sentiment_rows[~sentiment_rows["missing"].astype(bool)]
    unknown_sentiment = [d for d in context.partition_keys if d not in stored_sentiment]
    if unknown_sentiment:
        context.log.warning(
            missing_upstream(SENTIMENT.to_user_string(), unknown_sentiment, "regimes computed with sentiment unknown").description
        )
    cache = _load_fits(store)
    market = np.log(closes).diff().mean(axis=1)
    regimes, fits = compute_regimes(closes, sentiment_rows, _valid_cache(cache, market))
    _save_fits(store, {**cache, **fits})
    written = []
    with store.batch():
        for day in context.partition_keys:
            stamp = pd.Timestamp(day)
            if stamp not in regimes.index:
                continue
            row = regimes.loc[[stamp]].reset_index()
            row["date"] = row["date"].dt.date
            store.write_day("regimes", day, row)
            written.append(day)
    ensure_catalog_file(Path(duckdb.database), store, settings.interval(), connect=duckdb.get_connection)
    shown = regimes[regimes.index > pd.Timestamp(last) - pd.Timedelta(days=365)]
    today = regimes.loc[pd.Timestamp(last)]
    chart = {"regime_plot": dg.MetadataValue.md(markdown_image(regime_chart(shown, f"regimes up to {last}"), "regimes"))}
    if len(context.partition_keys) > 1:
        # A range's metadata is copied onto every day's materialisation: the chart 877 times was 92 MB of event log
        # (the peak of the real 50-coin run, reading it back). It goes once, on the last day, as an observation.
        context.log_event(dg.AssetObservation(asset_key=REGIME, partition=last, metadata=chart))
        chart = {"regime_plot": dg.MetadataValue.text(f"the chart is the observation of {last} (one copy for the range)")}
    return dg.MaterializeResult(
        metadata={
            "days": dg.MetadataValue.int(len(written)),
            "vol_regime": str(today["vol_regime"]),
            "trend_regime": str(today["trend_regime"]),
            "hmm_state": str(today["hmm_state"]),
            "hmm_turbulent_prob": dg.MetadataValue.float(float(np.nan_to_num(today["hmm_turbulent_prob"], nan=-1.0))),
            "sentiment": str(today["sentiment_class"]),
            **chart,
            "sentiment_missing_days": dg.MetadataValue.int(int(shown["sentiment_missing"].sum())),
            **missing_metadata(SENTIMENT.to_user_string(), unknown_sentiment),
        }
    )
