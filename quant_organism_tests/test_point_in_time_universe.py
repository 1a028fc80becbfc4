"""The point-in-time universe: membership from data before the day only, delisting, late listing, prefix invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import equal_weight_market, portfolio_returns
from quant_organism.market.panel import daily_panel, load_folder_panel
from quant_organism.market.universe import point_in_time_members

DAYS = pd.date_range("2024-01-01", periods=200, freq="D", tz="UTC")


def _volume_panel() -> pd.DataFrame:
    """BIG trades throughout; GONE is the most liquid but delists on day 120; LATE lists on day 100."""
    volume = pd.DataFrame({"BIG": 5e6, "SMALL": 1e6, "GONE": 9e6, "LATE": 2e7}, index=DAYS)
    volume.loc[DAYS[121] :, "GONE"] = np.nan
    volume.loc[: DAYS[99], "LATE"] = np.nan
    return volume


def test_a_delisted_coin_is_a_member_until_it_stops_and_its_returns_count() -> None:
    members = point_in_time_members(_volume_panel(), top_n=2, min_history_days=30)
    assert members.loc[DAYS[60], "GONE"] and members.loc[DAYS[121], "GONE"]  # its last bar is day 120
    assert not members.loc[DAYS[122] :, "GONE"].any()  # it leaves the day after its missing bar is known
    closes = pd.DataFrame({"GONE": np.linspace(100, 160, len(DAYS))}, index=DAYS)
    closes.loc[DAYS[121] :, "GONE"] = np.nan
    weights = pd.DataFrame({"GONE": 1.0}, index=DAYS).where(members[["GONE"]], 0.0)
    returns = portfolio_returns(weights, closes, CostModel.free())
    expected = closes["GONE"].pct_change(fill_method=None).loc[DAYS[31] : DAYS[120]]
    assert returns.loc[DAYS[31] : DAYS[120]].to_numpy() == pytest.approx(expected.to_numpy())
    assert (returns.loc[DAYS[121] :] == 0.0).all()  # closed at its last bar: nothing after it, no NaN


def test_a_coin_listed_later_is_absent_before_it_has_history() -> None:
    members = point_in_time_members(_volume_panel(), top_n=2, min_history_days=30)
    assert not members.loc[: DAYS[129], "LATE"].any()  # 30 bars before the day: listed day 100, eligible day 130
    assert members.loc[DAYS[130], "LATE"]
    assert (members.sum(axis=1).loc[DAYS[31] :] == 2).all()  # always the top two of those eligible


def test_membership_reads_nothing_of_the_future() -> None:
    volume = _volume_panel()
    full = point_in_time_members(volume, top_n=2, min_history_days=30)
    for cut in (50, 99, 100, 120, 121, 150):
        prefix = point_in_time_members(volume.iloc[: cut + 1], top_n=2, min_history_days=30)
        pd.testing.assert_frame_equal(prefix, full.iloc[: cut + 1])
    changed = volume.copy()
    changed.iloc[150:] = changed.iloc[150:][::-1].to_numpy()  # a different future
    pd.testing.assert_frame_equal(point_in_time_members(changed, 2, 30).iloc[:151], full.iloc[:151])


def test_the_market_holds_members_of_the_day_before() -> None:
    closes = pd.DataFrame({"A": [100.0, 110.0, 121.0], "B": [50.0, 50.0, 25.0]}, index=DAYS[:3])
    members = pd.DataFrame({"A": [True, True, True], "B": [False, True, True]}, index=DAYS[:3])
    market = equal_weight_market(closes, members)
    assert market.tolist() == pytest.approx([0.0, 0.10, (0.10 - 0.5) / 2])


def test_bars_of_any_interval_make_daily_closes_and_dollar_volume() -> None:
    index = pd.date_range("2024-03-01", periods=12, freq="4h", tz="UTC")
    bars = pd.DataFrame({"close": np.arange(1.0, 13.0), "volume": 2.0}, index=index)
    panel = daily_panel({"X": bars})
    assert panel.closes["X"].tolist() == [6.0, 12.0]
    assert panel.dollar_volume["X"].tolist() == [2.0 * sum(range(1, 7)), 2.0 * sum(range(7, 13))]


def test_the_real_universe_includes_delisted_coins(market_data_dir) -> None:
    folder = market_data_dir / "hyperliquid-universe"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    panel = load_folder_panel(folder, "1d")
    assert panel.closes.shape[1] >= 180
    last = panel.closes.apply(lambda column: column.last_valid_index())
    delisted = last[last < panel.closes.index[-1] - pd.Timedelta(days=5)]
    assert len(delisted) >= 10  # the manifest's 13 delisted coins (a few may end days before the rest)
    members = point_in_time_members(panel.dollar_volume, top_n=30)
    coin = delisted.index[0]
    if members[coin].any():
        assert members[coin].loc[last[coin] + pd.Timedelta(days=2) :].sum() == 0
    first = panel.closes.apply(lambda column: column.first_valid_index())
    for late in first[first > panel.closes.index[0] + pd.Timedelta(days=200)].index[:5]:
        assert not members[late].loc[: first[late] + pd.Timedelta(days=89)].any()
