"""What the CLI's commands share: the terminal they talk to, where the source's history begins and ends, and the
ingest phase (the `run` command and `workflow` both start with it)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from quant_organism import settings
from quant_organism.cli.launch import (
    LaunchError,
    date_window,
    failure_text,
    ingest,
    ingest_verdict,
    regimes,
    sentiment_gap,
    write_run_log,
)


class Terminal:
    """What the person at the terminal reads: one line per step, numbered phases, a log file for the rest."""

    def __init__(self, log_file: Path) -> None:
        self.log_file = log_file

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def fail(self, what: str, where: str, why: str, todo: str) -> int:
        print(f"FAILED: {what} ({where})\n  why: {why}\n  what to do: {todo}\n  details: {self.log_file}", file=sys.stderr)
        return 1


def history_window(terminal: Terminal, first: str, last: str, days: int, end_given: bool) -> tuple[str, str] | None:
    """[first, last] fitted to the source's history, with a sentence for each move; None when the source cannot
    be used or holds nothing in the window (the reason is printed).

    A history that begins later moves `first` to the first whole day every coin has; in a point-in-time universe
    (coins listed on different days), to the oldest coin's first day, the others joining when they list. A history that stops
    (files) before `last`: without --end, the whole window of `days` days moves back to the last whole day every
    coin has (the default end, yesterday, is past any file); with --end, a day no coin has is refused, and coins
    whose data stops earlier are named (their missing days fall below the quality gate and are left out)."""
    spans = _coin_spans(terminal)
    if spans is None:
        return None
    ends = {coin: end for coin, (_, end) in spans.items() if end is not None}
    if ends:
        common_coin, latest_coin = min(ends, key=ends.get), max(ends, key=ends.get)
        common, latest = ends[common_coin], ends[latest_coin]
        if not end_given and common < last:
            terminal.say(
                f"history: the source's data for {common_coin} ends {common} (its last whole day); the run ends there "
                f"instead of {last}"
            )
            try:
                first, last = date_window(common, days)
            except LaunchError as exc:
                begins = max((start for start, _ in spans.values() if start is not None), default=None)
                terminal.fail(
                    "ingest",
                    f"days ..{common}",
                    str(exc),
                    f"set QUANT_ORGANISM_START_DATE={begins} (the first whole day every coin's data has)"
                    if begins is not None
                    else "set QUANT_ORGANISM_START_DATE within the data",
                )
                return None
        elif latest < last:
            terminal.fail(
                "ingest",
                f"days {first}..{last}",
                f"the source's history ends {latest} (the last whole day of {latest_coin}'s data), before --end {last}",
                f"pick --end {common} or earlier (or leave --end out: the run then ends where the data does)",
            )
            return None
        elif common < last:
            stopped = sorted(coin for coin, end in ends.items() if end < last)
            terminal.say(
                f"history: the source's data for {', '.join(f'{c} ends {ends[c]}' for c in stopped)}; "
                f"{'its' if len(stopped) == 1 else 'their'} later days are missing and fall below the quality gate"
            )
    starts = {coin: start for coin, (start, _) in spans.items() if start is not None}
    if not starts:
        return first, last
    if settings.point_in_time_universe():  # coins listed later join on their first day (the windows are ragged)
        earliest = min(starts, key=starts.get)
        if starts[earliest] <= first:
            return first, last
        terminal.say(f"history: the oldest coin's data ({earliest}) begins {starts[earliest]}; ingesting from there")
        return starts[earliest], last
    latest_coin = max(starts, key=starts.get)
    begins = starts[latest_coin]  # the first whole day every coin has
    if begins <= first:
        return first, last
    if begins > last:
        terminal.fail(
            "ingest",
            f"{latest_coin}, {first}..{last}",
            f"the source's history for {latest_coin} begins {begins}, after the last day asked for",
            "pick a later --end",
        )
        return None
    terminal.say(
        f"history: the source's data for {latest_coin} begins {begins}; ingesting {begins}..{last} "
        f"instead of from {first} (a shorter history shrinks the evolution windows, down to the preset's minimum)"
    )
    return begins, last


def _listed_days() -> dict[str, str]:
    """Each coin's first whole day in the source (a point-in-time universe ingests a coin from there); read quietly,
    as `history_window` has already said what the spans mean and failed on a source it cannot read."""
    from quant_organism.defs.shared.resources import configured_source
    from quant_organism.market.sources import whole_day_spans

    spans = whole_day_spans(configured_source(), settings.coins(), settings.interval())
    return {coin: start.strftime("%Y-%m-%d") for coin, (start, _) in spans.items() if start is not None}


def _coin_spans(terminal: Terminal) -> dict[str, tuple[str | None, str | None]] | None:
    """Each coin's (first whole day, last whole day) in the source, None where its history does not stop; None
    when the source or a coin's data cannot be read (the reason is printed)."""
    from quant_organism.defs.shared.resources import configured_source
    from quant_organism.market.schema import MarketDataError
    from quant_organism.market.sources import CoinHistoryError, history_notes, whole_day_spans

    try:
        source = configured_source()
        spans = whole_day_spans(source, settings.coins(), settings.interval())
        notes = history_notes(source, settings.coins(), settings.interval())
    except CoinHistoryError as exc:
        terminal.fail(
            "market data",
            f"coin {exc.coin}, source={settings.source_name()}",
            str(exc),
            f"fix or replace {exc.coin}'s data (or leave {exc.coin} out of QUANT_ORGANISM_COINS), then rerun",
        )
        return None
    except (MarketDataError, ValueError) as exc:
        terminal.fail(
            "market source",
            f"source={settings.source_name()}",
            str(exc),
            "check QUANT_ORGANISM_SOURCE / QUANT_ORGANISM_FILES_DIR / QUANT_ORGANISM_COINS",
        )
        return None
    for note in notes:
        terminal.say(f"history: {note}")
    return {coin: tuple(None if day is None else day.strftime("%Y-%m-%d") for day in days) for coin, days in spans.items()}


def ingest_phase(terminal: Terminal, instance, first: str, last: str) -> int | None:
    """Ingest candles and funding for [first, last], then the regimes; None on success, else the exit status
    after the failure was stated.

    Partitions below the quality gate (an exchange outage, a day of bad prints) are written with their
    verdict, and everything that reads the lake leaves them out (evolution and validation then judge whether
    enough remains: their coverage rule). So a coin whose run failed only at that gate does not stop the
    command: the partitions are named, with the query that says why. Any other failure does."""
    started = time.perf_counter()
    n_days = (pd.Timestamp(last) - pd.Timestamp(first)).days + 1
    summaries = ingest(instance, first, last, listed=_listed_days() if settings.point_in_time_universe() else None)
    for summary in summaries:
        write_run_log(instance, summary.run_id, terminal.log_file)
    failed, left_out = ingest_verdict(summaries)
    gap = None
    if not failed:
        regime_run = regimes(instance, first, last)
        write_run_log(instance, regime_run.run_id, terminal.log_file)
        if not regime_run.success:
            if left_out:  # regimes need candles: those below the gate are the likelier cause than the sentiment
                terminal.say(left_out)
            return terminal.fail(
                "market regimes",
                f"days {first}..{last}",
                failure_text(regime_run),
                "the partitions named above are below the quality gate: fix their data (the query gives the reasons)"
                if left_out
                else "check the sentiment source (QUANT_ORGANISM_SENTIMENT_SOURCE), then rerun",
            )
        gap = sentiment_gap(regime_run)
    terminal.say(
        f"[ingest] {n_days} days x {len(summaries)} coins, sentiment and regimes: "
        f"{len(summaries) - len(failed)}/{len(summaries)} ok in {time.perf_counter() - started:.1f}s "
        f"(lake {settings.lake_dir()}, DuckDB views in {settings.duckdb_path()})"
    )
    for line in (left_out, gap):
        if line:
            terminal.say(line)
    if failed:
        why = failed[0].failure or "see the log"
        return terminal.fail(
            "ingest",
            f"coin {', '.join(s.coin for s in failed)}, days {first}..{last}",
            why,
            (
                "the exchange could not be reached: check the network (QUANT_ORGANISM_SOURCE=synthetic or files runs offline)"
                if failed[0].unreachable
                else "fix the source (or its files) for that coin and day"
            )
            + ", then rerun the same command: finished partitions are rewritten identically",
        )
    return None
