"""A paper run resumed from carried state equals one from scratch.

The paper asset trades one day per run. It resumes each book from the state the ledger saved at the previous
bar, and the anchored history from the frames the previous run carried (only new or rewritten lake days are
read). Here five days traded that way, with the carried frames corrupted half-way, give a ledger equal to:
- the same days traded with nothing carried but the books (every run reads its whole history from the lake);
- one run from scratch over all five days (fresh books, fresh frames): the asset's own trading step.
Every row is compared, the books' saved states included."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd

from quant_organism.catalog import StrategyStore
from quant_organism.catalog.store import STORE_DIR
from quant_organism.definitions import load_definitions
from quant_organism.defs.runtime.assets import PaperConfig, _book_in_force, _trade
from quant_organism.defs.shared.resources import OperatorPolicyResource, project_resources
from quant_organism.market.frames import load_market_frames
from quant_organism.market.lake import MarketLake
from quant_organism.runtime.ledger import TABLES, PaperLedger
from quant_organism_tests.support.instance import product_instance
from quant_organism_tests.support.paper_book import COINS, NO_RISK, PAPER_DAYS, ingest_book_days
from quant_organism_tests.support.paper_book import deploy_long_windows as _deploy


def _rows(ledger: PaperLedger) -> dict[str, pd.DataFrame]:
    out = {}
    for name in TABLES:
        frame = ledger.table(name)
        keys = [c for c in ("strategy", "coin", "bar_time", "exit_time", "time", "seq") if c in frame.columns]
        out[name] = frame.sort_values(keys).reset_index(drop=True)
    return out


def _assert_same(ours: PaperLedger, theirs: PaperLedger) -> None:
    mine, other = _rows(ours), _rows(theirs)
    assert len(mine["positions"]) == len(PAPER_DAYS) * 24 * len(COINS) * 3
    for name in TABLES:
        pd.testing.assert_frame_equal(mine[name], other[name], obj=name)


def test_a_paper_run_resumed_from_carried_state_equals_one_from_scratch(data_dir: Path, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_ORGANISM_COINS", ",".join(COINS))
    defs = load_definitions()
    definitions = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                                 resources=project_resources(data_dir))  # fmt: skip
    uncarried = tmp_path / "uncarried" / "ledger.duckdb"
    without_frames = {
        "resources": {**NO_RISK["resources"], "paper_ledger": {"config": {"path": str(uncarried), "carry_frames": False}}}
    }
    with product_instance() as instance:
        ingest_book_days(definitions, instance)
        store = StrategyStore(data_dir / STORE_DIR)
        _deploy(store)
        before_paper = tmp_path / "store-before-paper"
        shutil.copytree(data_dir / STORE_DIR, before_paper)
        paper = definitions.resolve_job_def("paper_trade")
        frames_folder = data_dir / "paper" / "frames"
        for i, day in enumerate(PAPER_DAYS):
            if i == 3:  # the carried frames lost: reported, rebuilt from the lake, the same trades
                for path in frames_folder.glob("from=*.parquet"):
                    path.write_bytes(b"torn")
            carried = paper.execute_in_process(instance=instance, partition_key=day, run_config=NO_RISK)
            assert carried.success and carried.get_asset_check_evaluations()[0].passed
            messages = [e.user_message for e in instance.all_logs(carried.run_id)]
            if i == 3:
                assert any("could not be read" in m for m in messages), messages
            elif i > 0:
                assert any("lake read from" in m and "day(s) carried" in m for m in messages), messages
            shutil.copytree(before_paper, data_dir / STORE_DIR, dirs_exist_ok=True)  # the same book for the second way
            assert paper.execute_in_process(instance=instance, partition_key=day, run_config=without_frames).success
        assert list(frames_folder.glob("from=*.parquet"))

    carried_ledger = PaperLedger(data_dir / "paper" / "ledger.duckdb")
    _assert_same(carried_ledger, PaperLedger(uncarried))

    # from scratch: the asset's trading step over all five days at once, fresh books and a fresh read of the lake
    lake = MarketLake(data_dir / "lake")
    first, end = pd.Timestamp(PAPER_DAYS[0], tz="UTC"), pd.Timestamp(PAPER_DAYS[-1], tz="UTC") + pd.Timedelta(days=1)
    store = StrategyStore(before_paper)
    deployment, live, _, _ = _book_in_force(store, first)
    no_risk = NO_RISK["resources"]["operator_policy"]["config"]
    policy, source = OperatorPolicyResource(path=str(tmp_path / "no-policy.json"), **no_risk).policy(store)
    scratch = PaperLedger(tmp_path / "scratch" / "ledger.duckdb")
    traded = _trade(
        dg.build_op_context(), live, deployment, lambda anchor: load_market_frames(lake, COINS, anchor, end).frames,
        first, end, policy, source, policy.risk_limits(PaperConfig().decay_size_factor), scratch,
    )  # fmt: skip
    assert not traded.broken and traded.bars == len(PAPER_DAYS) * 24
    _assert_same(carried_ledger, scratch)
