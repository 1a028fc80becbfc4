"""Issue 12: sentiment sources (API replay on 127.0.0.1, the real CSV, synthetic), regimes that are prefix
invariant on real and synthetic data, and the `market/regime` asset with its plot."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from quant_organism.market.regime import compute_regimes, daily_closes, regime_at_bars
from quant_organism.market.resilience import RetryPolicy
from quant_organism.market.schema import MarketDataError
from quant_organism.market.sentiment import CLASSES, FearGreedApi, FearGreedFile, SyntheticSentiment, classify
from quant_organism.market.sources.files import FileSource
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism_tests.support.fng_replay_server import FearGreedReplay
from quant_organism_tests.support.instance import product_instance

COINS = ["BTC", "ETH", "SOL", "DOGE", "XRP"]
FAST = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, jitter=0.0)


def _history() -> pd.DataFrame:
    days = pd.date_range("2024-10-20", "2024-11-05", freq="D")
    days = days[days != pd.Timestamp("2024-10-26")]  # a missing day, as in the real history
    values = (np.arange(len(days)) * 7) % 100
    return pd.DataFrame({"date": days, "value": values.astype(float), "classification": [classify(v) for v in values]})


def test_the_api_source_reads_the_public_format_with_limit_retries_and_missing_days():
    with FearGreedReplay(_history(), today="2024-11-05") as replay:
        api = FearGreedApi(replay.url, policy=FAST, today=pd.Timestamp("2024-11-05"))
        replay.script = [429, 503]
        rows = api.daily("2024-10-24", "2024-10-30")
        assert "limit=13" in replay.requests[-1]  # the latest 13 days reach back to 2024-10-24
        assert len(replay.requests) == 3  # two retried failures, then the answer
        assert list(rows["date"].dt.strftime("%m-%d")) == ["10-24", "10-25", "10-27", "10-28", "10-29", "10-30"]
        assert set(rows["classification"]) <= set(CLASSES)
        replay.script = ["malformed"] + [500] * 4
        with pytest.raises(MarketDataError, match="not JSON"):
            api.daily("2024-10-24", "2024-10-30")
        with pytest.raises(MarketDataError, match="gave up after 4 attempt"):
            api.daily("2024-10-24", "2024-10-30")
        replay.script = ["no_data"]
        with pytest.raises(MarketDataError, match="malformed payload, no 'data' list"):
            api.daily("2024-10-24", "2024-10-30")
        replay.script = ["error"]
        with pytest.raises(MarketDataError, match="Rate limit exceeded"):
            api.daily("2024-10-24", "2024-10-30")


def test_the_api_breaker_fails_fast_once_the_endpoint_keeps_failing():
    from quant_organism.market.resilience import CircuitBreaker

    with FearGreedReplay(_history(), today="2024-11-05") as replay:
        api = FearGreedApi(
            replay.url,
            policy=RetryPolicy(max_attempts=2, base_delay=0.0, jitter=0.0),
            breaker=CircuitBreaker(failure_threshold=3, reset_timeout=60),
            today=pd.Timestamp("2024-11-05"),
        )
        replay.script = [500] * 10
        for _ in range(2):
            with pytest.raises(MarketDataError):
                api.daily("2024-11-01", "2024-11-05")
        before = len(replay.requests)
        with pytest.raises(MarketDataError, match="is open"):
            api.daily("2024-11-01", "2024-11-05")
        assert len(replay.requests) == before  # refused without touching the endpoint


def test_the_files_source_reads_the_real_history_as_it_is(market_data_dir):
    source = FearGreedFile(market_data_dir)  # found by name beside the candle files
    rows = source.daily("2018-01-01", "2026-12-31")
    assert len(rows) == 2971 and rows["date"].is_monotonic_increasing
    assert rows["date"].min() == pd.Timestamp("2018-02-01") and rows["date"].max() == pd.Timestamp("2026-03-25")
    expected = pd.date_range("2018-02-01", "2026-03-25", freq="D")
    missing = sorted(set(expected) - set(rows["date"]))
    assert [d.strftime("%Y-%m-%d") for d in missing] == ["2018-04-14", "2018-04-15", "2018-04-16", "2024-10-26"]
    assert rows.set_index("date").loc["2026-03-25", "value"] == 14.0
    assert "greed" not in [c.lower() for c in FileSource(market_data_dir).coins()]  # not mistaken for a coin


def test_the_files_source_reads_other_exports_of_the_index(tmp_path):
    """Kaggle's layout (date, fng_value, fng_classification; lower-case classes), a file with values only (classes
    from alternative.me's bands), the API's JSON answer saved to a file, and semicolons: the same days and values."""
    import json

    history = _history()
    days, values = history["date"], history["value"].astype(int)
    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    lines = [
        "date,fng_value,fng_classification",
        *(f"{d:%Y-%m-%d},{v},{c.lower()}" for d, v, c in zip(days, values, history["classification"])),
    ]
    (kaggle / "Fear-and-Greed Index.csv").write_text("\n".join(lines) + "\n")
    bare = tmp_path / "bare_fear_greed.csv"
    bare.write_text("Date;Value\n" + "".join(f"{d:%Y-%m-%d};{v}\n" for d, v in zip(days, values)))
    api = tmp_path / "fear_greed.json"
    rows = [
        {"value": str(v), "value_classification": c, "timestamp": str(int(d.timestamp()))}
        for d, v, c in zip(days, values, history["classification"])
    ]
    api.write_text(json.dumps({"name": "Fear and Greed Index", "data": rows[::-1], "metadata": {"error": None}}))
    for path in (kaggle, bare, api):
        pd.testing.assert_frame_equal(FearGreedFile(path).daily("2024-01-01", "2025-01-01"), history, check_dtype=False)
    (tmp_path / "odd_fear_greed.csv").write_text("day,mood\n2024-10-20,40\n")
    with pytest.raises(MarketDataError, match=r"odd_fear_greed\.csv: no value column \(value: value \| fng_value"):
        FearGreedFile(tmp_path / "odd_fear_greed.csv").frame()


def test_the_files_market_source_uses_a_fear_greed_file_under_any_name_the_reader_accepts(tmp_path, monkeypatch):
    """The default sentiment source of the files market source is `files` exactly when the folder holds a file the
    reader would take (Kaggle's `Fear-and-Greed Index.csv` too), else `none`: it never ignores a file it could read."""
    from quant_organism import settings

    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(tmp_path))
    monkeypatch.delenv("QUANT_ORGANISM_SENTIMENT_SOURCE", raising=False)
    (tmp_path / "BTC_1h.csv").write_text("timestamp,open,high,low,close,volume\n")
    assert settings.sentiment_source() == "none"
    (tmp_path / "Fear-and-Greed Index.csv").write_text("date,fng_value\n2024-10-20,40\n")
    assert settings.sentiment_source() == "files"
    assert len(FearGreedFile(tmp_path).daily("2024-10-01", "2024-10-31")) == 1


@pytest.mark.parametrize("layout", ["%d-%m-%Y", "%m/%d/%Y", "%d/%m/%Y"])
def test_year_last_dates_in_a_fear_greed_file_take_their_order_from_the_values(tmp_path, layout):
    """Kaggle's file starts `01-02-2018` (1 February): read month first, as pandas guesses from that first row,
    it would shift days or fail at the 13th. The order comes from the column's values instead."""
    days = pd.date_range("2018-02-01", "2018-02-20", freq="D")
    lines = ["date,fng_value", *(f"{d:{layout}},{10 + i}" for i, d in enumerate(days))]
    (tmp_path / "fear_greed.csv").write_text("\n".join(lines) + "\n")
    rows = FearGreedFile(tmp_path / "fear_greed.csv").daily("2018-01-01", "2018-12-31")
    assert rows["date"].tolist() == list(days) and rows["value"].tolist() == [10.0 + i for i in range(len(days))]
    (tmp_path / "fear_greed.csv").write_text("date,fng_value\n01-02-2018,10\n02-02-2018,11\n")
    with pytest.raises(MarketDataError, match="day and month cannot be told apart"):
        FearGreedFile(tmp_path / "fear_greed.csv").frame()


def _prefix_invariant(closes: pd.DataFrame, sentiment: pd.DataFrame, cut: str, k: int = 45) -> None:
    cut = pd.Timestamp(cut)
    longer, _ = compute_regimes(
        closes[closes.index <= cut + pd.Timedelta(days=k)], sentiment[sentiment["date"] <= cut + pd.Timedelta(days=k)]
    )
    shorter, _ = compute_regimes(closes[closes.index <= cut], sentiment[sentiment["date"] <= cut])
    pd.testing.assert_frame_equal(longer.loc[:cut], shorter)
    assert shorter["hmm_state"].iloc[-1] != "unknown" and shorter["vol_regime"].iloc[-1] != "unknown"


def test_regimes_are_prefix_invariant_on_the_real_candles_and_fear_greed_file(market_data_dir):
    files = FileSource(market_data_dir)
    candles = pd.concat([files.candles(c, "2024-01-01", "2025-08-01") for c in COINS])
    closes = daily_closes(candles)
    sentiment = FearGreedFile(market_data_dir).daily("2024-01-01", "2025-08-01")
    for cut in ("2025-03-14", "2025-06-30"):
        _prefix_invariant(closes, sentiment, cut)
    full, _ = compute_regimes(closes, sentiment)
    assert full.loc["2024-10-26", "sentiment_missing"] and np.isnan(full.loc["2024-10-26", "sentiment"])  # visible, not filled
    assert set(full["hmm_state"]) == {"unknown", "calm", "turbulent"}


def test_regimes_are_prefix_invariant_on_the_synthetic_market():
    market = SyntheticSource()
    candles = pd.concat([market.candles(c, "2024-01-01", "2025-01-01") for c in COINS])
    closes = daily_closes(candles)
    sentiment = SyntheticSentiment(market, tuple(COINS)).daily("2024-01-01", "2024-12-31")
    _prefix_invariant(closes, sentiment, "2024-10-15", k=60)
    shorter = SyntheticSentiment(market, tuple(COINS)).daily("2024-01-01", "2024-10-15")
    pd.testing.assert_frame_equal(sentiment[sentiment["date"] <= "2024-10-15"].reset_index(drop=True), shorter)


def test_hmm_labels_are_ordered_by_variance_so_turbulent_means_volatile():
    rng = np.random.default_rng(3)
    days = pd.date_range("2023-01-01", periods=700, freq="D")
    scale = np.where((np.arange(700) // 100) % 2 == 1, 0.06, 0.01)  # alternating calm and wild stretches
    closes = pd.DataFrame({"X": 100 * np.exp(np.cumsum(rng.normal(0, scale)))}, index=days)
    regimes, fits = compute_regimes(closes)
    assert all(f is None or f.params[4] <= f.params[5] for f in fits.values())  # state 1 has the larger variance
    known = regimes[regimes["hmm_state"] != "unknown"]
    wild = pd.Series(scale, index=days).reindex(known.index) > 0.03
    assert (known["hmm_state"].eq("turbulent") == wild).mean() > 0.85


def test_each_bar_sees_the_regimes_of_the_day_before():
    regimes = pd.DataFrame(
        {
            "vol_regime": ["low", "high"],
            "trend_regime": ["up", "down"],
            "hmm_state": ["calm", "turbulent"],
            "sentiment": [80.0, np.nan],
        },
        index=pd.to_datetime(["2024-03-01", "2024-03-02"]),
    )
    bars = pd.date_range("2024-03-01", periods=72, freq="h", tz="UTC")
    view = regime_at_bars(regimes, bars)
    assert (view.iloc[:24]["regime_vol"] == -1).all()  # 03-01's bars: 02-29 unknown
    assert (view.iloc[24:48]["regime_vol"] == 0).all() and (view.iloc[24:48]["regime_sentiment"] == 80).all()
    assert (view.iloc[48:]["regime_hmm"] == 1).all() and view.iloc[48:]["regime_sentiment"].isna().all()


def test_the_regime_asset_materialises_a_year_of_five_coins_with_a_plot_and_a_view(data_dir):
    from quant_organism.definitions import load_definitions
    from quant_organism.defs.shared.resources import project_resources

    defs = load_definitions()
    resources = project_resources(data_dir)
    definitions = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources)
    first, last = "2024-01-01", "2024-12-31"
    with product_instance() as instance:
        ingest = definitions.resolve_job_def("ingest_market_data")
        for coin in COINS:
            tags = {
                "dagster/asset_partition_range_start": f"{coin}|{first}",
                "dagster/asset_partition_range_end": f"{coin}|{last}",
            }
            assert ingest.execute_in_process(instance=instance, tags=tags).success
        job = definitions.resolve_job_def("market_regime")
        result = job.execute_in_process(
            instance=instance, tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        )
    assert result.success
    materialized = result.asset_materializations_for_node("market__regime")
    meta = materialized[0].metadata
    assert len(materialized) == 366 and meta["days"].value == 366
    # the chart once, on the last day (an observation), not on each of the 366 days' materialisations
    assert all("data:image" not in m.metadata["regime_plot"].value for m in materialized)
    observed = [
        e.asset_observation_data.asset_observation for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert [(o.partition, "data:image/png;base64," in o.metadata["regime_plot"].value) for o in observed] == [(last, True)]
    import duckdb

    with duckdb.connect(str(data_dir / "quant_organism.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT date) FROM regimes WHERE date BETWEEN '2024-01-01' AND '2024-12-31'"
        ).fetchone()
    assert rows == (366, 366)
