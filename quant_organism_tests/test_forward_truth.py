"""Forward truth: the retrospective walks the chain through history on data before each date only, and no
figure reuses the data that chose what it describes (PBO over what the search tried, incumbents judged on
their forward record, deployment dates that only move forward)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.benchmarks.planted_strength import market_frames
from quant_organism.catalog import StrategyConfig, StrategyStore
from quant_organism.catalog.manifest import load_current_deployment
from quant_organism.core.windows import Window
from quant_organism.deployment import Candidate, DecisionEngine
from quant_organism.deployment.chain import ChainSettings
from quant_organism.deployment.decision import DecisionConfig
from quant_organism.deployment.deploy import OlderThanLive, deploy
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import plan_from_verdicts
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.evolution.evolve import run_evolution
from quant_organism.market.sources.planted import PlantedMarket
from quant_organism.reporting.retrospective import RetrospectiveSettings, evolution_dates, judge_date
from quant_organism.strategies import SeedGenes, SeedType
from quant_organism.validation.held_out import forward_returns
from quant_organism.validation.population_pbo import population_pbo, tried_sample
from quant_organism_tests.support.instance import product_instance

START = pd.Timestamp("2024-01-01", tz="UTC")
SMALL = dict(total_strategies=60, batch_size=30, generations=3, lookback_days=300, split=(0.4, 0.3, 0.3), min_trades=5,
             seed_types=["ema_crossover", "sma_trend", "rsi_filter", "stochastic"], executor="serial")  # fmt: skip


@pytest.fixture
def fresh_cli():
    """The CLI loads the Definitions once per process (its environment never changes there); tests that call
    it in-process with another environment need them loaded anew, before and after."""
    import os

    from quant_organism.cli import launch

    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "QUANT_ORGANISM_INTERVAL")}  # the CLI sets both
    launch._definitions_for.cache_clear()
    yield
    launch._definitions_for.cache_clear()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def planted(kind: str, strength: float, seed: int, days: int = 300) -> dict[str, pd.DataFrame]:
    market = PlantedMarket(kind=kind, strength=strength, seed=seed, coins=("BTC", "ETH", "SOL"), start=START,
                           end=START + pd.Timedelta(days=days))  # fmt: skip
    return market_frames(market)


def search_pbo(kind: str, strength: float, seed: int) -> float:
    frames = planted(kind, strength, seed)
    result = run_evolution(
        frames, EvolutionConfig(**SMALL, random_seed=seed), evolution_date=(START + pd.Timedelta(days=299)).date()
    )
    sample = tried_sample(result, 200)
    assert len({g.seed_id for g in sample}) == len(sample) >= 100
    return population_pbo(sample, frames, result.windows.train)[0].pbo


# --- PBO through the product's path ------------------------------------------------------------------
def test_pbo_of_a_search_on_noise_is_near_one_half():
    pbos = [search_pbo("null", 0.0, seed) for seed in range(10, 18)]
    # one search's PBO on noise scatters widely (about 0.2): the mean of 8 is within 2.5 standard errors of 1/2
    tolerance = max(0.1, 2.5 * float(np.std(pbos, ddof=1)) / math.sqrt(len(pbos)))
    assert abs(float(np.mean(pbos)) - 0.5) <= tolerance and 0.0 < min(pbos) and max(pbos) < 1.0, pbos


def test_pbo_of_a_search_on_a_planted_edge_is_low():
    assert search_pbo("trend", 0.15, 3) < 0.2


def test_the_pbo_sample_is_uniform_over_what_was_tried_not_the_top():
    frames = planted("null", 0.0, 5)
    result = run_evolution(
        frames, EvolutionConfig(**SMALL, random_seed=5), evolution_date=(START + pd.Timedelta(days=299)).date()
    )
    valid = result.population[result.population["valid"]].drop_duplicates("genes_hash")
    sample = {g.seed_id for g in tried_sample(result, 40)}
    top = set(valid.sort_values("score", ascending=False)["name"].head(40))
    assert len(sample) == 40 and sample != top
    ranks = valid["score"].rank(ascending=False)[valid["name"].isin(sample)]
    assert ranks.median() > 40  # a uniform sample reaches deep into the population, the top 40 would not


# --- incumbents: judged on their forward record only ----------------------------------------------------
def _genes(name: str, seed: int) -> SeedGenes:
    return SeedGenes.random(SeedType.EMA_CROSSOVER, name, np.random.default_rng(seed))


def test_incumbent_returns_exist_only_after_its_own_evolution_date():
    frames = planted("trend", 0.1, 1, days=120)
    span = Window(START + pd.Timedelta(days=60), START + pd.Timedelta(days=120), "held_out")
    since = START + pd.Timedelta(days=100)
    returns = forward_returns({"inc": (_genes("x", 1), since)}, frames, span)
    assert returns.loc[returns.index < since, "inc"].isna().all()
    assert returns.loc[returns.index >= since, "inc"].notna().all()


def _held_out(incumbent: np.ndarray) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(incumbent), freq="4h", tz="UTC")
    rng = np.random.default_rng(0)
    return pd.DataFrame({"new": rng.normal(0.0, 0.01, len(index)), "inc": incumbent}, index=index)


def test_an_incumbent_does_not_pass_by_fiat():
    verdicts = [{"candidate_id": "new", "score": 0.1, "passed": False, "mode": "fast", "reasons": ["gate"]}]
    paper = {"inc": PaperRecord(days=20, sharpe=None, max_drawdown=None)}
    losing = np.full(240, np.nan)
    losing[120:] = -0.002 + np.random.default_rng(1).normal(0, 0.001, 120)  # 20 forward days, losing
    plan = plan_from_verdicts(verdicts, _held_out(losing), paper=paper)
    assert plan.chosen == ()
    assert any(r.name == "inc" and "no positive edge" in r.reason for r in plan.rejected)

    young = np.full(240, np.nan)
    young[-6:] = 0.01  # one forward day: too short to judge, whatever it earned: kept as deployed, not sized up
    held = {"inc": PaperRecord(days=1, sharpe=None, max_drawdown=None, allocation=0.1)}
    plan = plan_from_verdicts(verdicts, _held_out(young), paper=held)
    assert [(c.name, c.allocation) for c in plan.chosen] == [("inc", 0.1)] and plan.cash == pytest.approx(0.9)
    assert "too short to judge" in plan.chosen[0].validation["judged_on"]

    winning = np.full(240, np.nan)
    winning[120:] = 0.002 + np.random.default_rng(2).normal(0, 0.001, 120)
    plan = plan_from_verdicts(verdicts, _held_out(winning), paper=paper)
    assert plan.names == ["inc"]
    assert plan.chosen[0].validation["judged_on"].startswith("forward record: 20 days")


# --- deployment dates only move forward --------------------------------------------------------------
def test_an_older_evolution_date_never_replaces_a_newer_live_deployment(tmp_path: Path):
    store = StrategyStore(tmp_path / "strategies")
    names = ["a", "b", "c"]
    store.save_evolved_strategies([
        StrategyConfig.from_genes(_genes(n, i), fitness_score=1.0, backtest_sharpe=1.0, name=n) for i, n in enumerate(names)])  # fmt: skip
    rng = np.random.default_rng(0)
    returns = pd.DataFrame(rng.normal(2e-3, 0.01, (300, 3)), columns=names)
    first = DecisionEngine().select([Candidate("a", 0.9), Candidate("b", 0.8)], returns)
    deploy(first, store, when=datetime(2024, 3, 2, tzinfo=timezone.utc), evolution_date=date(2024, 3, 1))
    before = {p.name: p.read_bytes() for p in (tmp_path / "strategies").rglob("*") if p.is_file()}
    older = DecisionEngine().select([Candidate("c", 0.9)], returns)
    with pytest.raises(OlderThanLive, match="2024-03-01"):
        deploy(older, store, when=datetime(2024, 3, 3, tzinfo=timezone.utc), evolution_date=date(2024, 2, 1))
    after = {p.name: p.read_bytes() for p in (tmp_path / "strategies").rglob("*") if p.is_file()}
    assert after == before
    assert load_current_deployment(store)["evolution_date"].startswith("2024-03-01")
    newer = DecisionEngine().select([Candidate("c", 0.9)], returns)
    deploy(newer, store, when=datetime(2024, 4, 2, tzinfo=timezone.utc), evolution_date=date(2024, 4, 1))
    assert [d["name"] for d in load_current_deployment(store)["strategies"]] == ["c"]


# --- the retrospective -------------------------------------------------------------------------------
def test_evolution_dates_are_monthly_by_default_or_every_n_days():
    assert [d.strftime("%m-%d") for d in evolution_dates("2024-01-15", "2024-04-01")] == ["02-01", "03-01", "04-01"]
    assert [d.strftime("%m-%d") for d in evolution_dates("2024-01-01", "2024-02-01", 15)] == ["01-01", "01-16", "01-31"]


def test_a_date_is_judged_on_data_before_it_and_traded_on_data_after_it():
    """Bars after the forward span, and changes to them, change nothing; the chain sees no bar of the span."""
    frames = planted("trend", 0.15, 3, days=360)
    settings = RetrospectiveSettings(
        ChainSettings(
            evolution=EvolutionConfig(**SMALL, random_seed=3), max_candidates=12, decision=DecisionConfig(probation_days=0)
        )
    )  # capital at once
    date_, until = START + pd.Timedelta(days=300), START + pd.Timedelta(days=330)
    outcome = judge_date(frames, date_, until, settings)
    assert outcome.deployed, "a strong planted trend is deployed"
    assert outcome.records["organism"].parity_ok and outcome.records["organism"].books_checked > 0
    forward = outcome.curves()
    assert forward.index.min() >= date_ and forward.index.max() < until
    row = outcome.row()
    assert row["span"] == "forward" and row["organism_return"] > 0.0

    tampered = {c: f.copy() for c, f in frames.items()}
    for frame in tampered.values():  # scramble everything from the end of the span on
        late = frame.index >= until
        frame.loc[late, ["open", "high", "low", "close"]] *= 3.0
    again = judge_date(tampered, date_, until, settings)
    pd.testing.assert_frame_equal(again.curves(), forward)
    assert again.row()["deployed"] == row["deployed"]

    kept = judge_date(frames, until, until + pd.Timedelta(days=20), settings, holding=outcome.live)
    judged = {d["name"] for d in kept.deployed if d["incumbent"]} | set(kept.retired)
    assert judged == set(outcome.live)  # every incumbent was either kept on its forward record or retired


def test_what_a_date_chooses_holds_no_capital_until_its_own_forward_record_promotes_it():
    """Probation through the retrospective: chosen at D at incubation capital (the organism stays nearly in cash),
    its sequential record carried from date to date, capital once the forward record with the gate's evidence
    crosses its bound; a null probationer waits or is retired, never promoted on the gate alone."""
    frames = planted("trend", 0.15, 3, days=440)
    settings = RetrospectiveSettings(ChainSettings(evolution=EvolutionConfig(**SMALL, random_seed=3), max_candidates=12))
    date_, look = START + pd.Timedelta(days=300), START + pd.Timedelta(days=335)
    entry = judge_date(frames, date_, look, settings)
    assert entry.deployed and all(d["stage"] == "probation" and d["allocation"] == 0.02 for d in entry.deployed)
    assert entry.row()["allocation"] == pytest.approx(0.02 * len(entry.deployed))  # incubation capital only
    assert entry.row()["capital_families"] == []
    assert entry.row()["on_probation"] == [d["name"] for d in entry.deployed]
    assert [s.name for s in entry.budget.spends] == [d["name"] for d in entry.deployed]  # each spent its share
    assert min(s.probation["gate_p"] for s in entry.live.values()) < 0.05  # the gate's evidence travels with it

    holding, budget, retired, promoted, at = entry.live, entry.budget, entry.retired_genomes, [], look
    while not promoted and at < START + pd.Timedelta(days=420):
        after = judge_date(frames, at, at + pd.Timedelta(days=20), settings, holding, budget=budget, retired=retired)
        row = after.row()
        for name in set(holding) & set(after.live):  # a probationer's record reaches back to its entry, week by week
            if holding[name].probation and after.live[name].probation:
                assert after.live[name].probation["entered"] == holding[name].probation["entered"]
                assert after.live[name].probation["blocks"] >= holding[name].probation["blocks"]
        promoted = row["promoted"]
        holding, budget, retired, at = after.live, after.budget, after.retired_genomes, at + pd.Timedelta(days=20)
    assert promoted, "a strong planted trend earns its capital on its forward record within months"
    chosen = {d["name"]: d for d in after.deployed if d["name"] in promoted}
    assert all(d["allocation"] >= 0.02 and d["stage"] == "capital" for d in chosen.values())
    assert after.records["organism"].books_checked > 0 and after.records["organism"].parity_ok


def test_a_short_history_is_walked_with_its_windows_shrunk_as_the_nightly_run_shrinks_them():
    """A date with less history than the preset's lookback but at least its minimum evolves on every day it has,
    as the nightly run does (`fitted_lookback`), and its row says so; with less than the minimum there is no date."""
    from quant_organism.cli.retrospective_command import walk_plan
    from quant_organism.reporting.retrospective import date_lookback, with_lookback

    config = EvolutionConfig(**SMALL)  # lookback 300 days, minimum 120
    first, last = START, START + pd.Timedelta(days=200)
    dates, _ = walk_plan(first, last, pd.Timedelta(days=300), None, None, 30, pd.Timedelta(days=config.shortest_lookback_days))
    assert dates[0] == START + pd.Timedelta(days=120)
    assert [date_lookback(d, first, config) for d in dates] == [120, 150, 180]
    assert date_lookback(START + pd.Timedelta(days=400), first, config) == 300  # the whole lookback where it exists
    with pytest.raises(ValueError, match="at least 120"):
        date_lookback(START + pd.Timedelta(days=100), first, config)
    assert walk_plan(first, last, pd.Timedelta(days=300), None, None, 30).startswith("no evolution date")  # whole lookback
    assert config.model_copy(update={"lookback_days": 60}).shortest_lookback_days == 60  # a preset shorter than the minimum

    frames = planted("trend", 0.15, 3, days=200)
    date_ = START + pd.Timedelta(days=150)
    spec = with_lookback(RetrospectiveSettings(ChainSettings(evolution=config, max_candidates=8)), 150)
    outcome = judge_date(frames, date_, date_ + pd.Timedelta(days=20), spec)
    assert outcome.row()["lookback_days"] == 150 and spec.chain.evolution.split == config.split
    row, train = outcome.row(), outcome.search  # the search's windows and its best genome's figures, per date
    assert row["train_start"] == train["train_start"] and row["train_end"] < (date_ - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    assert row["best_train_sharpe"] is not None and "best_held_out_sharpe" in row


def test_the_command_walks_a_short_history_and_will_not_resume_a_date_walked_on_another(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys, fresh_cli
):
    """The production preset on 130 days of history: the date evolves on all 130 (windows shrunk alike), says so,
    and stores it; a stored date whose lookback differs from what the history now gives is not resumed silently."""
    from quant_organism.cli.main import main
    from quant_organism.reporting import retrospective_store as store

    monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2024-01-01")
    command = ["retrospective", "--preset", "full", "--executor", "serial", "--from", "2024-05-10", "--to", "2024-05-10",
               "--every", "10", "--json"]  # fmt: skip
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "(the history starts 2024-01-01: the first 1 date(s) evolve on 130..130 days instead of 540" in out
    assert "parity ok, lookback 130 days" in out
    track = store.track_name("synthetic", "1h", "full", 10)
    rows, _ = store.load_track(data_dir, track)
    assert [r["lookback_days"] for r in rows] == [130]

    row_file = store.date_dir(data_dir, track, "2024-05-10") / store.ROW
    stored = pd.read_parquet(row_file)
    stored["lookback_days"] = 540  # as if it had been walked on a longer history
    stored.to_parquet(row_file)
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "stored with a lookback of 540 days, and this walk's history gives it 130" in err and "--rerun" in err


def test_the_retrospective_command_resumes_and_reruns_identically(data_dir: Path, capsys, fresh_cli):
    from quant_organism.cli.main import main
    from quant_organism.reporting import retrospective_store as store
    from quant_organism.reporting.memory import open_memory

    command = ["retrospective", "--preset", "test", "--from", "2024-03-01", "--to", "2024-04-01", "--every", "20", "--json"]
    assert main(command) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["dates"] == 2 and {"organism_return", "naive_return", "buy_and_hold_return", "cash_return"} <= set(first)
    assert first["cash_return"] == 0.0
    track = store.track_name("synthetic", "1h", "test", 20)
    rows, curves = store.load_track(data_dir, track)
    assert [r["date"] for r in rows] == ["2024-03-01", "2024-03-21"] and rows[1]["until"] == "2024-04-10"
    chained_bh = float((1 + curves["buy_and_hold"]).prod() - 1)
    assert chained_bh == pytest.approx(first["buy_and_hold_return"])

    last_row = store.date_dir(data_dir, track, "2024-03-21") / store.ROW
    saved = last_row.read_bytes()
    last_row.unlink()  # a walk killed before its last date was stored
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "1/2 2024-03-01..2024-03-21: stored (resumed)" in out
    resumed = json.loads(out.strip().splitlines()[-1])
    for key in ("organism_return", "naive_return", "buy_and_hold_return"):
        assert resumed[key] == pytest.approx(first[key], abs=1e-12)
    assert (
        pd.read_parquet(last_row)
        .drop(columns="seconds")
        .equals(pd.read_parquet(pd.io.common.BytesIO(saved)).drop(columns="seconds"))
    )
    with open_memory(data_dir) as con:
        view = con.execute("SELECT date, organism_return, naive_return FROM retrospective ORDER BY date").df()
    assert list(view["date"]) == ["2024-03-01", "2024-03-21"]


def test_the_retrospective_asset_needs_its_previous_date_and_writes_the_track(data_dir: Path):
    import dagster as dg

    from quant_organism.reporting import retrospective_store as store
    from quant_organism_tests.support.chain import ingest_coins, project_definitions

    definitions = project_definitions(data_dir)  # the partitions of this data root (an empty lake: no end yet)
    from quant_organism.defs.organism.assets import RETROSPECTIVE

    dates = definitions.resolve_assets_def(RETROSPECTIVE).partitions_def
    first = dates.get_first_partition_key()
    second = dates.get_next_partition_key(first)
    day0 = (pd.Timestamp(first) - pd.Timedelta(days=60)).strftime("%Y-%m-%d")
    day1 = (pd.Timestamp(second) + pd.offsets.MonthEnd(0)).strftime("%Y-%m-%d")
    coins = ("BTC", "ETH", "SOL", "DOGE", "XRP")
    config = {"ops": {"organism__retrospective": {"config": {"preset": "test"}}}}
    asset = definitions.resolve_assets_def(RETROSPECTIVE)
    with product_instance() as instance:
        ingest_coins(definitions, instance, coins, day0, day1)
        regime_job = definitions.resolve_job_def("market_regime")
        assert regime_job.execute_in_process(instance=instance, tags={"dagster/asset_partition_range_start": day0,
                                             "dagster/asset_partition_range_end": day1}).success  # fmt: skip
        early = dg.materialize([asset], partition_key=second, instance=instance, run_config=config, raise_on_error=False)
        assert not early.success  # its incumbents are the previous date's deployment, not stored yet
        for key in (first, second):
            result = dg.materialize([asset], partition_key=key, instance=instance, run_config=config)
            assert result.success
        metadata = result.asset_materializations_for_node("organism__retrospective")[0].metadata
        assert metadata["chained"].data["dates"] == 2
        assert set(metadata["forward_return"].data) == {"organism", "cash", "naive", "buy_and_hold", "plain_rule"}
        assert "data:image/png;base64" in metadata["equity_plot"].value
    rows, _ = store.load_track(data_dir, store.track_name("synthetic", "1h", "test", None))
    assert [r["date"] for r in rows] == [first, second]
    assert metadata["notes"].data == rows[1]["notes"]  # why nothing was deployed, where the UI shows it


REAL = Path(__file__).resolve().parents[2] / "shared" / "market-data"


@pytest.mark.skipif(
    not (REAL / "hyperliquid__BTC_4h.csv").exists(), reason="../shared/market-data (real Hyperliquid files) is absent"
)
def test_the_retrospective_runs_on_the_real_4h_files(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys, fresh_cli):
    from quant_organism.cli.main import main

    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(REAL))
    monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2024-10-01")
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH,SOL")
    monkeypatch.setenv("QUANT_ORGANISM_INTERVAL", "4h")  # --interval sets it for the process: restored after the test
    assert main(["retrospective", "--interval", "4h", "--preset", "test", "--from", "2025-06-01", "--every", "30", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert summary["dates"] == 2 and summary["last_until"] == "2025-07-26"  # the files' last whole day is 2025-07-25
    assert summary["parity_ok"]
    assert -0.9 < summary["buy_and_hold_return"] < 3.0 and summary["buy_and_hold_return"] != 0.0


@pytest.mark.skipif(
    not (REAL / "hyperliquid__BTC_4h.csv").exists(), reason="../shared/market-data (real Hyperliquid files) is absent"
)
def test_a_4h_retrospective_on_the_real_1h_files_alone_builds_its_bars_and_says_so(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, fresh_cli
):
    """Only the real 1h files in the folder: the 4h retrospective builds its bars from them (files.py, resample.py),
    says so, and its buy-and-hold record is the one the exchange's own 4h files give (their closes agree)."""
    from quant_organism.cli import launch
    from quant_organism.cli.main import main

    hourly = tmp_path / "hourly"
    hourly.mkdir()
    for coin in ("BTC", "ETH"):
        (hourly / f"hyperliquid__{coin}_1h.csv").symlink_to(REAL / f"hyperliquid__{coin}_1h.csv")
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2024-10-01")
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
    monkeypatch.setenv("QUANT_ORGANISM_INTERVAL", "4h")
    command = ["retrospective", "--interval", "4h", "--preset", "test", "--from", "2025-06-01", "--every", "30", "--json"]
    summaries = {}
    for folder in (hourly, REAL):
        launch._definitions_for.cache_clear()  # two CLI runs in one process, each with its own data root
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path / folder.name))
        monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(folder))
        assert main(command) == 0
        out = capsys.readouterr().out
        summaries[folder] = json.loads(out.strip().splitlines()[-1])
        assert ("(BTC: 4h bars built from its 1h file(s)" in out) is (folder == hourly)
    built, own = summaries[hourly], summaries[REAL]
    assert built["dates"] == own["dates"] == 2 and built["parity_ok"]
    assert built["buy_and_hold_return"] == pytest.approx(own["buy_and_hold_return"], abs=1e-12)


@pytest.mark.skipif(
    not (REAL / "hyperliquid__BTC_4h.csv").exists(), reason="../shared/market-data (real Hyperliquid files) is absent"
)
def test_a_retrospective_without_dates_says_where_more_history_is(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    """Partitions that start after the files do, and less history left than the preset's shortest lookback: the
    refusal names the start date that would use the files' whole history, a longer interval and a shorter preset."""
    from quant_organism.cli.main import main

    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(REAL))
    monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2025-04-01")  # 116 days before the files end
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
    monkeypatch.setenv("QUANT_ORGANISM_INTERVAL", "4h")
    assert main(["retrospective", "--interval", "4h", "--preset", "full"]) == 1
    err = capsys.readouterr().err
    assert "no evolution date between" in err and "each date needs at least 120 days (540 for whole windows) before it" in err
    starts = [
        pd.read_csv(REAL / f"hyperliquid__{c}_4h.csv", usecols=["timestamp_ms"])["timestamp_ms"].min() for c in ("BTC", "ETH")
    ]
    first_day = pd.Timestamp(max(starts), unit="ms").ceil("D").date()
    assert f"set QUANT_ORGANISM_START_DATE={first_day}: the partitions start 2025-04-01" in err
    assert "--interval 1d" in err and "--interval 4h" not in err and "--preset test: 60 days" in err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--every", "0"], "argument --every: '0': give a whole number of days, at least 1"),
        (["--from", "2024-02-30"], "argument --from: '2024-02-30' is not a day; use YYYY-MM-DD"),
        (["--from", "2024-06-01", "--to", "2024-03-01"], "--from 2024-06-01 is after --to 2024-03-01"),
    ],
)
def test_the_retrospective_refuses_arguments_it_cannot_walk(args, said, data_dir: Path, capsys):
    from quant_organism.cli.main import main

    try:
        status = main(["retrospective", "--preset", "test", *args])
    except SystemExit as exit_:  # argparse's own refusal
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2 and said in err and "Traceback" not in err


def test_a_search_with_no_valid_individual_says_why():
    """Validity needs min_trades on every coin: a search that cannot reach it says so in the user's terms (the
    retrospective's naive and the run's report print it), and a search that can says nothing."""
    frames = planted("trend", 0.1, 4, days=120)
    config, day = dict(SMALL, lookback_days=100, generations=1), (START + pd.Timedelta(days=119)).date()
    starved = run_evolution(frames, EvolutionConfig(**config | {"min_trades": 10_000}), evolution_date=day)
    said = starved.why_none_valid()

    weakest = int(starved.population["min_coin_trades"].max())
    assert said == starved.totals()["none_valid"]
    assert said.startswith(f"no valid individual among the {starved.evaluations} evaluated: validity needs 10000 trades")
    assert f"the most any made on its weakest coin was {weakest}" in said and 0 < weakest < 10_000
    assert "bars per coin" in said
    fed = run_evolution(frames, EvolutionConfig(**config | {"min_trades": 1}), evolution_date=day)
    assert fed.population["valid"].any() and fed.why_none_valid() is None and fed.totals()["none_valid"] is None


@pytest.mark.skipif(
    not (REAL / "hyperliquid__BTC_1d.csv").exists(), reason="../shared/market-data (real Hyperliquid files) is absent"
)
def test_a_daily_retrospective_too_short_to_trade_says_why_and_shows_no_naive(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys, fresh_cli
):
    """The test preset's lookback on daily bars gives too few trades for any individual: each date says so, and the
    naive column says none rather than a cash-like +0.00% that reads as a strategy that earned nothing."""
    from quant_organism.cli.main import main

    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(REAL))
    monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2025-01-01")
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH,SOL")
    monkeypatch.setenv("QUANT_ORGANISM_INTERVAL", "1d")
    assert main(["retrospective", "--interval", "1d", "--preset", "test", "--from", "2025-06-01", "--every", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    dated = [i for i, line in enumerate(lines) if line.startswith("[2/2] ")]
    assert len(dated) == 2
    for i in dated:
        assert "naive none" in lines[i]
        assert lines[i + 1].strip().startswith("no valid individual among the")
        assert "1d bars per coin" in lines[i + 1] and "give the search more bars" in lines[i + 1]

    assert main(["run", "--preset", "test", "--end", "2025-07-20"]) == 0  # the run, its report too
    out = capsys.readouterr().out
    said = next(line.strip() for line in out.splitlines() if "no valid individual among" in line)
    assert said in (data_dir / "reports" / "date=2025-07-20" / "report.md").read_text()
