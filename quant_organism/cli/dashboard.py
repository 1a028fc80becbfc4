"""`python -m quant_organism dashboard`: the operator's terminal view (Textual), read-only beside the automation.

It shows the live book (positions, P&L, drawdown, VaR, breakers), each probationer's evidence against its bound,
the last night's verdicts of both tiers with the Sharpe each test could see, the population's fitness by
generation, and the feed's health with the alerts. It re-reads the data root every `--refresh` seconds
(reporting/dashboard_data.py), so it works over SSH and writes nothing, except the kill switch: `k` then `y`
asks the live process to flatten the exchange book and stop (a file it watches).
"""

from __future__ import annotations

import argparse

from quant_organism import settings


def add_parser(sub) -> None:
    parser = sub.add_parser("dashboard", help="the operator's terminal dashboard: live book, probation, gate, population, alerts")
    parser.add_argument("--refresh", type=float, default=2.0, help="seconds between re-reads of the data root")
    parser.set_defaults(handler=_dashboard)


def _dashboard(args: argparse.Namespace) -> int:
    from quant_organism.cli.dashboard_app import Dashboard  # Textual loads only for the dashboard

    Dashboard(settings.data_dir(), args.refresh).run()
    return 0
