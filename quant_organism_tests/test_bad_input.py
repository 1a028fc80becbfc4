"""Bad input gets a clear check failure or error and a quarantine row; nothing is lost or silently fixed.

Each case writes a real candle file with one kind of defect, materialises the partition through the
`files` source with Dagster's harness, and then looks at the checks, the quarantine and the lake.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from quant_organism.defs.market.assets import CANDLES
from quant_organism.defs.shared.resources import LakeResource, MarketSource
from quant_organism.market.lake import MarketLake
from quant_organism.market.quality import check_candles, check_funding
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism_tests.support.chain import loaded_asset

DAY = "2024-05-10"


def _good_day() -> pd.DataFrame:
    frame = SyntheticSource().candles("BTC", DAY, "2024-05-11")
    out = frame[["open", "high", "low", "close", "volume"]].copy()
    out.insert(0, "timestamp_ms", frame["timestamp"].astype("int64") // 10**6)
    return out


def _materialize(data_dir: Path, files: Path):
    resources = {
        "market_source": MarketSource(source="files", files_dir=str(files)),
        "lake": LakeResource(root=str(data_dir / "lake")),
        "duckdb": DuckDBResource(database=str(data_dir / "catalog.duckdb")),
    }
    key = dg.MultiPartitionKey({"date": DAY, "coin": "BTC"})
    return dg.materialize([loaded_asset(CANDLES)], partition_key=key, resources=resources, raise_on_error=False)


def _write(files: Path, frame: pd.DataFrame | str) -> None:
    files.mkdir(exist_ok=True)
    target = files / "BTC_1h.csv"
    if isinstance(frame, str):
        target.write_text(frame)
    else:
        frame.to_csv(target, index=False)


def _nan(f):
    f.loc[3, "close"] = np.nan
    return f


def _duplicate(f):
    return pd.concat([f.iloc[:6], f.iloc[[5]], f.iloc[6:]], ignore_index=True)


def _out_of_order(f):
    order = list(range(24))
    order[10], order[11] = 11, 10
    return f.iloc[order].reset_index(drop=True)


def _high_below_low(f):
    f.loc[7, ["high", "low"]] = f.loc[7, ["low", "high"]].to_numpy()
    return f


def _negative_price(f):
    f.loc[12, "open"] = -f.loc[12, "open"]
    return f


ROW_DEFECTS = {
    "nan": (_nan, "nan_value", "schema_and_types", 1),
    "duplicate": (_duplicate, "duplicate_timestamp", "unique_increasing_timestamps", 2),
    "out_of_order": (_out_of_order, "out_of_order", "unique_increasing_timestamps", 1),
    "high_below_low": (_high_below_low, "ohlc_inconsistent", "ohlc_consistency", 1),
    "negative_price": (_negative_price, "non_positive_price", "ohlc_consistency", 1),
}


@pytest.mark.parametrize("case", ROW_DEFECTS)
def test_row_defect_fails_its_check_and_lands_in_quarantine(case, data_dir, tmp_path):
    corrupt, rule, check, quarantined = ROW_DEFECTS[case]
    raw = corrupt(_good_day())
    _write(tmp_path / "files", raw)
    result = _materialize(data_dir, tmp_path / "files")
    assert result.success  # row defects are data, not crashes: checks report them
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks[check].passed, f"{check} should fail for {case}"
    assert checks[check].metadata["violations"].value >= quarantined  # a row can break several rules

    lake = MarketLake(data_dir / "lake")
    quarantine = lake.quarantine("candles", "BTC", DAY)
    assert len(quarantine) == quarantined
    assert quarantine["reason"].str.contains(rule).all()
    clean, _ = lake.read("candles", ["BTC"], DAY, "2024-05-11", require_passed=False)
    assert len(clean) + len(quarantine) == len(raw)  # nothing lost
    assert clean["timestamp"].is_monotonic_increasing and clean["timestamp"].is_unique


def test_many_bad_rows_fail_the_blocking_score_check_and_downstream_skips_the_partition(data_dir, tmp_path):
    raw = _good_day()
    raw.loc[0:4, "volume"] = -1.0  # 5 of 24 bars bad: score 79% < 95%
    _write(tmp_path / "files", raw)
    result = _materialize(data_dir, tmp_path / "files")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["quality_score"].passed and not checks["non_negative_volume"].passed
    assert checks["quality_score"].metadata["score"].value == pytest.approx(19 / 24, abs=5e-4)  # shown to 3 places
    rows, skipped = MarketLake(data_dir / "lake").read("candles", ["BTC"], DAY, "2024-05-11")
    assert rows.empty and skipped == [f"candles/BTC/{DAY}: quality 79.2% below threshold"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("timestamp_ms,open,high,low,volume\n1715299200000,1,2,0.5,10\n", "close"),
        ("", "empty"),
    ],
    ids=["missing_column", "empty_file"],
)
def test_structural_defect_is_a_clear_error_with_a_quarantine_row_and_keeps_the_old_partition(
    content, message, data_dir, tmp_path
):
    _write(tmp_path / "files", _good_day())
    assert _materialize(data_dir, tmp_path / "files").success
    lake = MarketLake(data_dir / "lake")
    before = lake.partition_path("candles", "BTC", DAY).read_bytes()

    _write(tmp_path / "files", content)
    result = _materialize(data_dir, tmp_path / "files")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert (
        message in failure.step_failure_data.error.message.lower()
        or message in str(failure.step_failure_data.user_failure_data).lower()
    )
    quarantine = lake.quarantine("candles", "BTC", DAY)
    assert len(quarantine) == 1 and quarantine["reason"].iloc[0].startswith("source_error:")
    assert message in quarantine["reason"].iloc[0].lower()
    assert lake.partition_path("candles", "BTC", DAY).read_bytes() == before  # previous data intact


def test_implausible_jump_and_off_grid_and_foreign_day_rows_are_quarantined():
    raw = SyntheticSource().candles("ETH", DAY, "2024-05-11")
    raw.loc[5, ["open", "high", "low", "close"]] *= 3.0  # a 3x spike and back
    raw.loc[9, "timestamp"] += pd.Timedelta(minutes=7)
    raw.loc[23, "timestamp"] += pd.Timedelta(days=1)
    result = check_candles(raw, "ETH", DAY)
    reasons = dict(zip(result.quarantine["timestamp"].astype(str), result.quarantine["reason"]))
    assert any("implausible_jump" in r for r in reasons.values())
    assert any("off_grid" in r for r in reasons.values())
    assert any("outside_partition" in r for r in reasons.values())
    assert result.report.clean_rows + result.report.quarantined_rows == 24
    assert result.report.missing_rows == 24 - result.report.clean_rows


def test_funding_rules_quarantine_nan_duplicates_and_implausible_rates():
    funding = SyntheticSource().funding("BTC", DAY, "2024-05-11")
    funding.loc[2, "funding_rate"] = np.nan
    funding.loc[4, "funding_rate"] = 0.5
    funding = pd.concat([funding, funding.iloc[[10]]], ignore_index=True)
    result = check_funding(funding, "BTC", DAY)
    assert result.report.violations["nan_value"] == 1
    assert result.report.violations["implausible_rate"] == 1
    assert result.report.violations["duplicate_timestamp"] == 2
    assert result.report.clean_rows + result.report.quarantined_rows == len(funding)
    assert not result.report.passed
