"""The files source on files other tools write: freqtrade's data directory (Feather, JSON), Hyperliquid's own API
answers saved as JSON, yfinance's CSV and Bybit's field names. Each was refused or misread before."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.market.schema import MarketDataError, UnknownCoinError
from quant_organism.market.sources.files import FileSource, parse_file_name
from quant_organism_tests.support.hl_replay_server import read_cassette

T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")
ALL_TIME = (pd.Timestamp("2009-01-03", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))


def bars(n: int = 48, step: str = "1h") -> pd.DataFrame:
    """Sound bars with distinct prices, so a column read in the wrong place shows."""
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "date": pd.date_range(T0, periods=n, freq=step),
            "open": open_,
            "high": np.maximum(open_, close) * 1.004,
            "low": np.minimum(open_, close) * 0.996,
            "close": close,
            "volume": rng.uniform(1, 50, n),
        }
    )


def assert_same_bars(read: pd.DataFrame, written: pd.DataFrame) -> None:
    assert list(read["timestamp"]) == list(written["date"])
    np.testing.assert_allclose(
        read[["open", "high", "low", "close", "volume"]].to_numpy(),
        written[["open", "high", "low", "close", "volume"]].to_numpy(),
        rtol=1e-12,
    )


# -- freqtrade's data directory --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTC_USDC_USDC-1h-futures.feather", ("BTC", "candles", "1h")),  # Hyperliquid's BTC perpetual
        ("kPEPE_USDC_USDC-4h-futures.feather", ("kPEPE", "candles", "4h")),
        ("BTC_USDC_USDC-1h-funding_rate.feather", ("BTC", "funding", None)),
        ("BTC_USDT_USDT-8h-funding_rate.json", ("BTC", "funding", None)),
        ("BTC_USDT-1h.json", ("BTC", "candles", "1h")),  # spot: was coin 'USDT' as BTC_USDT-1h.csv
        ("BTC_USDT-1d.csv", ("BTC", "candles", "1d")),
        ("ETH_BTC-4h.json.gz", ("ETHBTC", "candles", "4h")),  # priced in BTC: not called ETH
        ("ETH_USDT-1h-spot.parquet", ("ETH", "candles", "1h")),
        ("BTC_USDC_USDC-1h-mark.feather", None),  # mark, index and premium candles are not traded prices
        ("BTC_USDC_USDC-1h-premiumIndex.feather", None),
        ("BTC_USDT-trades.feather", None),  # ticks, not candles: was a coin called 'USDT-trades'
        ("Coinbase_BTCUSD-1h.csv", ("BTCUSD", "candles", "1h")),  # a label, not a pair: unchanged
        ("BTCUSDT-1h-2024-01.csv", ("BTCUSDT", "candles", "1h")),  # Binance's pieces: unchanged
    ],
)
def test_freqtrade_names_give_the_pair_s_coin(name: str, expected: tuple[str, str, str | None] | None) -> None:
    entry = parse_file_name(Path(name))

    assert (entry and (entry.coin, entry.kind, entry.interval)) == expected


def freqtrade_dir(root: Path) -> Path:
    """A freqtrade `user_data/data/hyperliquid/futures` directory as `download-data` leaves it."""
    futures = root / "futures"
    futures.mkdir()
    for coin, scale in (("BTC", 600.0), ("ETH", 30.0)):
        hourly = bars()
        hourly[["open", "high", "low", "close"]] *= scale
        hourly.to_feather(futures / f"{coin}_USDC_USDC-1h-futures.feather")
        hourly.assign(close=hourly["close"] * 1.01).to_feather(futures / f"{coin}_USDC_USDC-1h-mark.feather")
        bars(12, "4h").to_feather(futures / f"{coin}_USDC_USDC-4h-futures.feather")
        rates = pd.DataFrame({"date": pd.date_range(T0, periods=48, freq="1h")})
        rates = rates.assign(open=np.linspace(-1e-4, 2e-4, 48), high=0.0, low=0.0, close=0.0, volume=0.0)
        rates.to_feather(futures / f"{coin}_USDC_USDC-1h-funding_rate.feather")
    return futures


def test_freqtrade_feather_directory_reads_candles_and_funding(tmp_path: Path) -> None:
    futures = freqtrade_dir(tmp_path)
    source = FileSource(futures)

    assert source.coins() == ["BTC", "ETH"]
    hourly = source.candles("BTC", *ALL_TIME, interval="1h")
    assert_same_bars(hourly, pd.read_feather(futures / "BTC_USDC_USDC-1h-futures.feather"))  # not the mark prices
    assert_same_bars(source.candles("ETH", *ALL_TIME, interval="4h"), bars(12, "4h"))
    funding = source.funding("ETH", *ALL_TIME)
    assert len(funding) == 48
    np.testing.assert_allclose(funding["funding_rate"], np.linspace(-1e-4, 2e-4, 48))  # freqtrade keeps it in `open`


def test_a_source_pointed_one_folder_too_high_names_the_folder(tmp_path: Path) -> None:
    """freqtrade keeps futures in `data/{exchange}/futures`, below the spot files: the folder is easy to miss."""
    futures = freqtrade_dir(tmp_path)

    with pytest.raises(UnknownCoinError, match=rf"files for it are in \['{futures}'\]: point the source at that"):
        FileSource(tmp_path).candles("BTC", *ALL_TIME, interval="1h")


def test_freqtrade_json_candles_plain_and_gzipped(tmp_path: Path) -> None:
    written = bars()
    rows = [[int(t.value // 10**6), o, h, lo, c, v] for t, o, h, lo, c, v in written.itertuples(index=False)]
    (tmp_path / "BTC_USDT-1h.json").write_text(json.dumps(rows))
    with gzip.open(tmp_path / "ETH_USDT-1h.json.gz", "wt") as handle:
        json.dump(rows, handle)
    source = FileSource(tmp_path)

    assert_same_bars(source.candles("BTC", *ALL_TIME, interval="1h"), written)
    assert_same_bars(source.candles("ETH", *ALL_TIME, interval="1h"), written)


def test_json_that_is_not_a_list_of_candles_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "BTC_1h.json").write_text(json.dumps({"error": "rate limited"}))
    (tmp_path / "ETH_1h.json").write_text(json.dumps([[1, 2], [3, 4]]))
    source = FileSource(tmp_path)

    with pytest.raises(MarketDataError, match=r"must hold a list of candles .* it holds an object with keys \['error'\]"):
        source.candles("BTC", *ALL_TIME, interval="1h")
    with pytest.raises(MarketDataError, match="only objects or only arrays of six or more"):
        source.candles("ETH", *ALL_TIME, interval="1h")


def test_freqtrade_directory_made_from_the_real_files_equals_them(market_data_dir: Path, tmp_path: Path) -> None:
    """freqtrade's own Feather files are where the shared CSVs came from (SOURCES.txt): written back in its layout
    (times as a UTC datetime column, funding rates in `open`), they read as the CSVs do."""
    real = FileSource(market_data_dir)
    candles = real.candles("SOL", *ALL_TIME, interval="1h")
    funding = real.funding("SOL", *ALL_TIME)
    candles.rename(columns={"timestamp": "date"}).drop(columns="coin").to_feather(tmp_path / "SOL_USDC_USDC-1h-futures.feather")
    pd.DataFrame(
        {"date": funding["timestamp"], "open": funding["funding_rate"], "high": 0.0, "low": 0.0, "close": 0.0, "volume": 0.0}
    ).to_feather(tmp_path / "SOL_USDC_USDC-1h-funding_rate.feather")
    source = FileSource(tmp_path)

    pd.testing.assert_frame_equal(source.candles("SOL", *ALL_TIME, interval="1h"), candles)
    pd.testing.assert_frame_equal(source.funding("SOL", *ALL_TIME), funding)
    assert len(candles) > 7_000 and len(funding) > 15_000


# -- Hyperliquid's own API answers -----------------------------------------------------------------


def recorded_answer(market_data_dir: Path, cassette: str, info_type: str) -> str:
    recorded = read_cassette(market_data_dir / "hl_cassettes" / cassette)
    return next(i.body for i in recorded if isinstance(i.request, dict) and i.request.get("type") == info_type)


def test_hyperliquid_candle_snapshot_saved_as_json(market_data_dir: Path, tmp_path: Path) -> None:
    """The exchange's real answer (strings for prices, `t` the open and `T` the close in ms) read as candles."""
    answer = recorded_answer(market_data_dir, "test_get_candles_snapshot.yaml", "candleSnapshot")
    (tmp_path / "kPEPE_1h.json").write_text(answer)
    rows = json.loads(answer)

    frame = FileSource(tmp_path).candles("kPEPE", *ALL_TIME, interval="1h")

    assert len(frame) == len(rows) == 24
    assert list(frame["timestamp"]) == [pd.Timestamp(r["t"], unit="ms", tz="UTC") for r in rows]
    for column, letter in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v")):
        np.testing.assert_array_equal(frame[column], [float(r[letter]) for r in rows])


def test_hyperliquid_funding_history_saved_as_json(market_data_dir: Path, tmp_path: Path) -> None:
    answer = recorded_answer(market_data_dir, "test_get_funding_history[None].yaml", "fundingHistory")
    (tmp_path / "BTC_funding.json").write_text(answer)
    (tmp_path / "BTC_1h.csv").write_text("t,o,h,l,c,v\n1683849600000,1,1,1,1,1\n")  # the letters in a CSV too
    rows = json.loads(answer)
    source = FileSource(tmp_path)

    funding = source.funding("BTC", *ALL_TIME)

    assert len(funding) == len(rows) > 1_000
    assert list(funding["timestamp"]) == [pd.Timestamp(r["time"], unit="ms", tz="UTC") for r in rows]
    np.testing.assert_array_equal(funding["funding_rate"], [float(r["fundingRate"]) for r in rows])
    assert source.candles("BTC", *ALL_TIME, interval="1h")["close"].tolist() == [1.0]


# -- yfinance and Bybit ------------------------------------------------------------------------------


def yfinance_csv(written: pd.DataFrame, tickers: tuple[str, ...] = ("BTC-USD",)) -> str:
    """yfinance's `download(...).to_csv()` since 0.2.51: three header lines, columns in its own order."""
    columns = ("Close", "High", "Low", "Open", "Volume")
    lines = [
        "Price," + ",".join(c for c in columns for _ in tickers),
        "Ticker," + ",".join(t for _ in columns for t in tickers),
        "Datetime" + "," * (len(columns) * len(tickers)),
    ]
    for row in written.itertuples(index=False):
        values = [getattr(row, c.lower()) for c in columns for _ in tickers]
        lines.append(f"{row.date.strftime('%Y-%m-%d %H:%M:%S+00:00')}," + ",".join(repr(float(v)) for v in values))
    return "\n".join(lines) + "\n"


def test_yfinance_three_line_header(tmp_path: Path) -> None:
    written = bars()
    (tmp_path / "BTC-USD.csv").write_text(yfinance_csv(written))

    assert_same_bars(FileSource(tmp_path).candles("BTC-USD", *ALL_TIME, interval="1h"), written)


def test_yfinance_file_of_several_tickers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "BTC.csv").write_text(yfinance_csv(bars(), tickers=("BTC-USD", "ETH-USD")))

    with pytest.raises(MarketDataError, match=r"several tickers \(BTC-USD, ETH-USD\)"):
        FileSource(tmp_path).candles("BTC", *ALL_TIME, interval="1h")


def test_bybit_field_names(tmp_path: Path) -> None:
    written = bars()
    table = written.rename(
        columns={"date": "startTime", "open": "openPrice", "high": "highPrice", "low": "lowPrice", "close": "closePrice"}
    )
    table.assign(startTime=table["startTime"].astype("int64") // 10**6, turnover=1.0).to_csv(
        tmp_path / "BTCUSDT_60.csv", index=False
    )

    assert_same_bars(FileSource(tmp_path).candles("BTCUSDT", *ALL_TIME, interval="1h"), written)


def test_metatrader_date_and_time_columns(tmp_path: Path) -> None:
    """MetaTrader's export: tab-separated, `<DATE>` year first with dots and `<TIME>` the time of day."""
    written = bars()
    lines = ["<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"]
    lines += [
        f"{r.date:%Y.%m.%d}\t{r.date:%H:%M:%S}\t{r.open!r}\t{r.high!r}\t{r.low!r}\t{r.close!r}\t120\t{r.volume!r}\t0"
        for r in written.itertuples(index=False)
    ]
    (tmp_path / "BTCUSD_1h.csv").write_text("\n".join(lines) + "\n")
    # a `time` that is a whole timestamp beside a `date` is read as it is, not joined to the date
    (tmp_path / "ETH_1h.csv").write_text("date,time,open,high,low,close,volume\n2024-03-01,1709251200000,1,2,0.5,1.5,3\n")
    source = FileSource(tmp_path)

    assert_same_bars(source.candles("BTCUSD", *ALL_TIME, interval="1h"), written)
    assert source.candles("ETH", *ALL_TIME, interval="1h")["timestamp"].tolist() == [T0]
