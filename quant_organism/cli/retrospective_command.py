"""`python -m quant_organism retrospective`: the organism's track record over the source's history.

Ingests the history the walk needs into the lake (as the main command does), then, date by date, runs the
production chain on the bars before the date and paper-trades its deployment until the next date
(reporting/retrospective.py), storing each date as it finishes (reporting/retrospective_store.py): a killed
walk resumes at the first date not stored, and `--rerun` recomputes stored dates (with the same result).
The last line of `--json` is the chained summary: {"dates": N, "organism_return": x, "naive_return": y,
"buy_and_hold_return": z, ...} (fractions, forward figures only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date as calendar_day

import pandas as pd


def add_parser(sub) -> None:
    parser = sub.add_parser("retrospective", help="the organism's forward track record: the chain through history, "
                            "each date on data before it, beside cash, naive and buy-and-hold")  # fmt: skip
    parser.add_argument(
        "--from", dest="first", type=_day, help="first evolution date (default: the first with the preset's shortest lookback)"
    )
    parser.add_argument("--to", dest="last", type=_day, help="last evolution date (default: the last the source's data allows)")
    parser.add_argument("--every", type=_days, default=None, help="days between evolution dates (default: monthly, the 1st)")
    parser.add_argument("--interval", choices=["1h", "4h", "1d"], help="bar interval (default QUANT_ORGANISM_INTERVAL, else 1h)")
    parser.add_argument("--preset", choices=["test", "full"], help="evolution preset (default QUANT_ORGANISM_PRESET, else full)")
    parser.add_argument("--executor", choices=["serial", "process", "ray"], help="evolution executor (default: the preset's)")
    parser.add_argument("--rerun", action="store_true", help="recompute dates already stored")
    parser.add_argument(
        "--universe-top", type=_days, default=None, metavar="N",
        help="a point-in-time universe: every coin of the files source (delisted ones included), on each date the top "
             "N by trailing 30-day dollar volume with 90 days of history, chosen from the days before it; read from the "
             "files directly, without the lake",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="end with one JSON line: the chained summary")
    parser.set_defaults(handler=run)


def _day(text: str) -> str:
    """A YYYY-MM-DD day, refused by argparse (with the flag's name) otherwise."""
    try:
        return calendar_day.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day; use YYYY-MM-DD") from None


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of days, at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    if args.interval:
        os.environ["QUANT_ORGANISM_INTERVAL"] = args.interval  # before anything reads the settings
    from quant_organism import settings
    from quant_organism.cli.launch import LaunchError, default_end_date
    from quant_organism.defs.shared.resources import configured_source
    from quant_organism.deployment.chain import ChainSettings
    from quant_organism.evolution.evolution_config import load_preset
    from quant_organism.market.schema import MarketDataError
    from quant_organism.market.sources import history_notes
    from quant_organism.reporting.retrospective import RetrospectiveSettings, date_lookback

    preset = args.preset or settings.production_preset()
    evolution = load_preset(preset, **({"executor": args.executor} if args.executor else {}))
    if args.universe_top:
        return _universe_run(args, settings, preset, evolution)
    lookback = pd.Timedelta(days=evolution.lookback_days)
    minimum = pd.Timedelta(days=evolution.shortest_lookback_days)
    try:
        data_first, data_last, source_first = _data_span(settings, default_end_date())
    except (LaunchError, ValueError, MarketDataError) as exc:  # a file that cannot be read, say
        print(f"quant_organism retrospective: {exc}", file=sys.stderr)
        return 1
    if args.first and args.last and args.first > args.last:
        print(f"quant_organism retrospective: --from {args.first} is after --to {args.last}", file=sys.stderr)
        return 2
    plan = walk_plan(data_first, data_last, lookback, args.first, args.last, args.every, minimum)
    if isinstance(plan, str):
        hints = [_earlier_start(data_first, source_first)] if source_first < data_first else []
        longer = [i for i in ("4h", "1d") if pd.Timedelta(i) > pd.Timedelta(settings.interval())]
        if longer and settings.source_name() == "files":
            hints.append(f"a longer history (--interval {' or '.join(longer)}, where its files reach further back)")
        if evolution.lookback_days > load_preset("test").lookback_days:
            hints.append(f"or a shorter lookback (--preset test: {load_preset('test').lookback_days} days)")
        print(f"quant_organism retrospective: {plan}\n  what to do: {'; '.join(hints)}", file=sys.stderr)
        return 1
    dates, untils = plan
    lookbacks = [date_lookback(date, data_first, evolution) for date in dates]
    track = _store().track_name(settings.source_name(), settings.interval(), preset, args.every)
    root = settings.data_dir()
    print(f"retrospective: source={settings.source_name()} interval={settings.interval()} preset={preset} "
          f"coins={','.join(settings.coins())}: {len(dates)} dates {dates[0].date()}..{dates[-1].date()} "
          f"(forward to {untils[-1].date()}), track {track}", flush=True)  # fmt: skip
    if source_first < data_first and not args.first:
        print(f"  (more dates: {_earlier_start(data_first, source_first)})", flush=True)
    shrunk = sum(1 for days in lookbacks if days < evolution.lookback_days)
    if shrunk:
        print(f"  (the history starts {data_first.date()}: the first {shrunk} date(s) evolve on {lookbacks[0]}.."
              f"{lookbacks[shrunk - 1]} days instead of {evolution.lookback_days}, every window shrunk alike, as the "
              "nightly run does on a short history)", flush=True)  # fmt: skip
    for note in history_notes(configured_source(), settings.coins(), settings.interval()):
        print(f"  ({note})", flush=True)
    status = _ingest(
        settings,
        (dates[0] - pd.Timedelta(days=lookbacks[0])).strftime("%Y-%m-%d"),
        (untils[-1] - pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
    )
    if status:
        return status
    spec = RetrospectiveSettings(ChainSettings(evolution=evolution))
    started = time.perf_counter()
    status = _walk(settings, root, track, dates, untils, lookbacks, spec, args.rerun)
    if status:
        return status
    return _report(root, track, dates, time.perf_counter() - started, args.json)


def walk_plan(data_first, data_last, lookback, first, last, every, minimum=None):
    """(evolution dates, their forward ends), or a sentence saying why there are none. A date needs `minimum` days
    before it (default: the whole lookback; with fewer than `lookback` its windows shrink); the last one trades
    forward at most one cadence step, and only on data that exists."""
    from quant_organism.reporting.retrospective import evolution_dates

    minimum = lookback if minimum is None else minimum
    earliest = (data_first + minimum).normalize()
    first = max(pd.Timestamp(first, tz="UTC"), earliest) if first else earliest
    end_of_data = data_last + pd.Timedelta(days=1)  # the day after the last whole day of data
    last = min(pd.Timestamp(last, tz="UTC"), data_last) if last else data_last
    dates = evolution_dates(first, last, every)
    if not dates:
        needs = (
            f"{lookback.days} days"
            if minimum >= lookback
            else f"at least {minimum.days} days ({lookback.days} for whole windows)"
        )
        return (f"no evolution date between {first.date()} and {last.date()}: the data runs {data_first.date()}.."
                f"{data_last.date()} and each date needs {needs} before it")  # fmt: skip
    step = pd.offsets.MonthBegin(1) if every is None else pd.Timedelta(days=every)
    untils = [*dates[1:], min(dates[-1] + step, end_of_data)]
    kept = [(d, u) for d, u in zip(dates, untils) if u > d]
    return [d for d, _ in kept], [u for _, u in kept]


def _earlier_start(data_first: pd.Timestamp, source_first: pd.Timestamp) -> str:
    return (f"set QUANT_ORGANISM_START_DATE={source_first.date()}: the partitions start {data_first.date()}, the "
            f"source's data reaches back to {source_first.date()}")  # fmt: skip


def _data_span(settings, yesterday: str) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """[first whole day, last whole day] that every coin of the source holds, within the partitions, and the
    first whole day every coin holds without the partitions' start (to say where the data could begin)."""
    from quant_organism.defs.shared.resources import configured_source
    from quant_organism.market.sources import common_days, whole_day_spans

    first, last = common_days(whole_day_spans(configured_source(), settings.coins(), settings.interval()))
    source_first = first if first is not None else pd.Timestamp("1970-01-01", tz="UTC")
    last = min(pd.Timestamp(yesterday, tz="UTC"), last) if last is not None else pd.Timestamp(yesterday, tz="UTC")
    partitions_start = pd.Timestamp(settings.partitions_start_date(), tz="UTC")
    return max(partitions_start, source_first), last, source_first


def _ingest(settings, first: str, last: str) -> int:
    """Ingest the history and its regimes; partitions below the quality gate are named and left out (as the main
    command does, cli/phases.ingest_phase), any other failure stops the retrospective."""
    from quant_organism.cli.launch import failure_text, ingest, ingest_verdict, persistent_instance, regimes, sentiment_gap

    started = time.perf_counter()
    instance = persistent_instance()
    failed, left_out = ingest_verdict(ingest(instance, first, last))
    if left_out:
        print(left_out, flush=True)
    if failed:
        print(f"FAILED: ingest {first}..{last} for {', '.join(s.coin for s in failed)}: {failed[0].failure}", file=sys.stderr)
        return 1
    result = regimes(instance, first, last)
    if not result.success:
        print(f"FAILED: market regimes {first}..{last}: {failure_text(result)}", file=sys.stderr)
        return 1
    print(f"[1/2] ingested {first}..{last} ({len(settings.coins())} coins, regimes) in {time.perf_counter() - started:.1f}s",
          flush=True)  # fmt: skip
    gap = sentiment_gap(result)
    if gap:
        print(gap, flush=True)
    return 0


def _walk(settings, root, track, dates, untils, lookbacks, spec, rerun: bool) -> int:
    from quant_organism.market.frames import load_market_frames
    from quant_organism.market.lake import MarketLake
    from quant_organism.reporting.retrospective import with_lookback

    store = _store()
    lake = MarketLake(settings.lake_dir())
    previous = None
    for i, (date, until, days) in enumerate(zip(dates, untils, lookbacks), start=1):
        head = f"[2/2] {i}/{len(dates)} {date.date()}..{until.date()}"
        if store.is_done(root, track, date) and not rerun:
            stored = store.stored_lookback(root, track, date, spec.chain.evolution.lookback_days)
            if stored != days:
                print(f"FAILED: {head}: stored with a lookback of {stored} days, and this walk's history gives it {days}: "
                      "the history changed since; rerun the walk with --rerun", file=sys.stderr)  # fmt: skip
                return 1
            print(f"{head}: stored (resumed)", flush=True)
            previous = date
            continue
        started = time.perf_counter()
        frames = load_market_frames(lake, settings.coins(), date - pd.Timedelta(days=days), until, settings.interval()).frames
        row = _judged(head, root, track, frames, date, until, previous, with_lookback(spec, days))
        if row is None:
            return 1
        print(f"{head}: {_deployed_words(row)}, documented tier {_documented_words(row)}, "
              f"forward organism {row['organism_return']:+.2%} "
              f"naive {'none' if row['naive'] is None else format(row['naive_return'], '+.2%')} "
              f"buy&hold {row['buy_and_hold_return']:+.2%}, parity {'ok' if row['parity_ok'] else 'BROKEN'}"
              f"{'' if days == spec.chain.evolution.lookback_days else f', lookback {days} days'} "
              f"({time.perf_counter() - started:.0f}s)", flush=True)  # fmt: skip
        if not row["candidates"] and row["notes"]:
            print(f"      {row['notes'][0]}", flush=True)  # why nothing (not even the naive) could be deployed
        previous = date
    return 0


def _universe_run(args, settings, preset, evolution) -> int:
    """The walk on a point-in-time universe (reporting/universe_walk.py): every coin of the files folder, each date's
    chain on the members of its lookback, its deployment traded on the members of the date."""
    from quant_organism.defs.shared.resources import configured_source
    from quant_organism.deployment.chain import ChainSettings
    from quant_organism.reporting.retrospective import RetrospectiveSettings, date_lookback, with_lookback
    from quant_organism.reporting.universe_walk import load_universe

    if settings.source_name() != "files":
        print("quant_organism retrospective: --universe-top reads every coin of a folder: set QUANT_ORGANISM_SOURCE=files "
              "and QUANT_ORGANISM_FILES_DIR (e.g. ../shared/market-data/hyperliquid-universe)", file=sys.stderr)  # fmt: skip
        return 2
    source = configured_source()
    started = time.perf_counter()
    history = load_universe(
        source, source.coins(), settings.interval(), args.universe_top, lambda line: print(f"  ({line})", flush=True)
    )
    print(f"[1/2] read {len(history.frames)} coins at {settings.interval()} ({history.first_day.date()}..{history.last_day.date()}) "
          f"in {time.perf_counter() - started:.1f}s", flush=True)  # fmt: skip
    lookback = pd.Timedelta(days=evolution.lookback_days)
    minimum = pd.Timedelta(days=evolution.shortest_lookback_days)
    plan = walk_plan(history.first_day, history.last_day, lookback, args.first, args.last, args.every, minimum)
    if isinstance(plan, str):
        print(f"quant_organism retrospective: {plan}", file=sys.stderr)
        return 1
    dates, untils = plan
    track = f"{_store().track_name('files', settings.interval(), preset, args.every)}_top{args.universe_top}"
    print(f"retrospective: point-in-time top {args.universe_top} of {len(history.frames)} coins, interval={settings.interval()} "
          f"preset={preset}: {len(dates)} dates {dates[0].date()}..{dates[-1].date()} (forward to {untils[-1].date()}), "
          f"track {track}", flush=True)  # fmt: skip
    spec = RetrospectiveSettings(ChainSettings(evolution=evolution, universe_top=args.universe_top))
    root, store, previous = settings.data_dir(), _store(), None
    started = time.perf_counter()
    for i, (date, until) in enumerate(zip(dates, untils), start=1):
        head = f"[2/2] {i}/{len(dates)} {date.date()}..{until.date()}"
        days = date_lookback(date, history.first_day, evolution)
        if store.is_done(root, track, date) and not args.rerun:
            print(f"{head}: stored (resumed)", flush=True)
            previous = date
            continue
        frames, traded = history.for_date(date, until, days)
        took = time.perf_counter()
        row = _judged(head, root, track, frames, date, until, previous, with_lookback(spec, days), traded)
        if row is None:
            return 1
        print(f"{head}: {len(frames)} coins in the lookback, {len(traded)} traded; {_deployed_words(row)}, detectable "
              f"Sharpe {_fmt(row['detectable_sharpe_50'])}; documented tier "
              f"{_documented_words(row)} (trend p {_fmt(row.get('documented_trend_p'))}, "
              f"could see {_fmt(row.get('documented_detectable_50'))}); forward organism "
              f"{row['organism_return']:+.2%} plain rule {row['plain_rule_return']:+.2%} buy&hold {row['buy_and_hold_return']:+.2%}, "
              f"lookback {days} days ({time.perf_counter() - took:.0f}s)", flush=True)  # fmt: skip
        previous = date
    return _report(root, track, dates, time.perf_counter() - started, args.json)


def _judged(head, root, track, frames, date, until, previous, spec, traded=None) -> dict | None:
    """The date judged and stored (its row), or None after saying why it failed."""
    store = _store()
    try:
        return store.judge_and_save(root, track, frames, date, until, previous, spec, traded).row()
    except (ValueError, store.MissingPreviousDate) as exc:
        print(f"FAILED: {head}: {exc}", file=sys.stderr)
        return None


def _documented_words(row: dict) -> str:
    """What the documented tier passed on a date, and each family it did not judge with the reason (e.g. the carry
    family on spot candles, which have no funding: skipped, its share of the error left unspent)."""
    passed = ", ".join(row.get("documented_passed") or []) or "nothing passed"
    skipped = row.get("documented_not_judged") or {}
    return passed + "".join(f"; {family} skipped: {why}" for family, why in skipped.items())


def _deployed_words(row: dict) -> str:
    return (f"deployed {len(row['deployed'])} ({', '.join(row['families']) or 'cash'}; "
            f"{len(row.get('on_probation') or [])} on probation, capital {row['allocation']:.0%})")  # fmt: skip


def _fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{float(value):.2f}"


def _report(root, track, dates, seconds: float, as_json: bool) -> int:
    from quant_organism.reporting.plots import retrospective_curves
    from quant_organism.reporting.retrospective import chained

    store = _store()
    rows, curves = store.load_track(root, track, up_to=dates[-1])
    wanted = {d.strftime("%Y-%m-%d") for d in dates}
    rows = [r for r in rows if r["date"] in wanted]
    curves = curves.loc[(curves.index >= dates[0]) & (curves.index < pd.Timestamp(rows[-1]["until"], tz="UTC"))]
    summary = chained(rows, curves)
    summary["wall_s"] = round(seconds, 1)
    plot = root / store.DIR / track / "equity.png"
    plot.write_bytes(retrospective_curves(curves, track))
    table = pd.DataFrame(rows).reindex(columns=["date", "until", "deployed", "spa_pvalue", "detectable_sharpe_50", "organism_return", "naive_return",
                               "buy_and_hold_return", "plain_rule_return", "organism_drawdown", "turnover", "costs", "parity_ok",
                               "documented_trend_p", "documented_detectable_50"])  # fmt: skip
    table["deployed"] = table["deployed"].map(len)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"chained over {summary['dates']} dates (forward): organism {summary['organism_return']:+.2%}, "
          f"naive {summary['naive_return']:+.2%}, buy-and-hold {summary['buy_and_hold_return']:+.2%}, "
          f"the documented trend rule at its default {summary['plain_rule_return']:+.2%}, cash +0.00%; "
          f"plot {plot}")  # fmt: skip
    if as_json:
        print(json.dumps(summary, default=float))
    return 0


def _store():
    from quant_organism.reporting import retrospective_store

    return retrospective_store
