"""The dashboard's Textual app (cli/dashboard.py starts it): sections from reporting/dashboard_data.py, re-read on a timer."""

from __future__ import annotations

import getpass
from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from quant_organism.reporting import dashboard_data as data

SECTIONS = ("live", "probation", "night", "health")


class Dashboard(App):
    TITLE = "quant_organism"
    CSS = """
    Screen { layout: vertical; }
    .title { text-style: bold; color: $accent; }
    .note { color: $text-muted; }
    #top { height: auto; }
    #summary { width: 1fr; height: auto; }
    #fitness-box { width: 1fr; height: 7; }
    Sparkline { height: 2; }
    DataTable { height: auto; max-height: 12; }
    """
    BINDINGS = [
        ("q", "quit", "quit"),
        ("r", "refresh", "refresh now"),
        ("k", "kill", "kill switch"),
        ("y", "confirm", "confirm kill"),
    ]

    def __init__(self, root: Path, refresh_s: float = 2.0) -> None:
        super().__init__()
        self.root, self.refresh_s = Path(root), refresh_s
        self.kill_armed = False
        self.refreshes = 0

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Horizontal(id="top"):
            yield Static(id="summary")
            with Vertical(id="fitness-box"):
                yield Static("Population fitness by generation", classes="title", id="fitness-title")
                yield Static("best", classes="note")
                yield Sparkline([], id="best")
                yield Static("median", classes="note")
                yield Sparkline([], id="median")
        for key in SECTIONS:
            yield Static(classes="title", id=f"{key}-title")
            yield DataTable(id=f"{key}-table", zebra_stripes=True)
            yield Static(classes="note", id=f"{key}-note")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()
        self.set_interval(self.refresh_s, self.action_refresh)

    def action_refresh(self) -> None:
        summary = data.live_summary(self.root)
        self.query_one("#summary", Static).update("\n".join(f"[b]{k}[/b]  {v}" for k, v in summary.items()))
        day, best, median = data.fitness_by_generation(self.root)
        self.query_one("#fitness-title", Static).update(f"Population fitness by generation ({day}, {len(best)} generations)")
        self.query_one("#best", Sparkline).data = best
        self.query_one("#median", Sparkline).data = median
        sections = {"live": data.live_positions(self.root), "probation": data.probation(self.root),
                    "night": data.last_night(self.root), "health": data.health(self.root)}  # fmt: skip
        for key, section in sections.items():
            self.query_one(f"#{key}-title", Static).update(f"{section.title} ({len(section.rows)})")
            table = self.query_one(f"#{key}-table", DataTable)
            table.clear(columns=True)
            table.add_columns(*section.columns)
            table.add_rows(section.rows)
            self.query_one(f"#{key}-note", Static).update(section.note)
        self.refreshes += 1

    def action_kill(self) -> None:
        self.kill_armed = True
        self.notify("Kill switch: press y to flatten the exchange book and stop the live process, any other key to cancel")

    def action_confirm(self) -> None:
        if not self.kill_armed:
            return
        self.kill_armed = False
        path = data.request_kill(self.root, f"dashboard ({getpass.getuser()})")
        self.notify(f"kill requested ({path})", severity="warning")

    def on_key(self, event) -> None:
        if self.kill_armed and event.key not in ("k", "y"):
            self.kill_armed = False
