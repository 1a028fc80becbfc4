"""The figures and tables an asset page shows in place: small SVG figures that Dagster's UI renders inline (Markdown
under 1,000 characters), and the error budgets in one table that adds up to the tiers' constants."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import date
from urllib.parse import unquote

import numpy as np
import pytest

from quant_organism.deployment.budget_table import budget_rows, budget_sentence
from quant_organism.deployment.error_budget import ErrorBudget
from quant_organism.reporting.inline_figure import INLINE_LIMIT, bar_figure, histogram_figure, line_figure
from quant_organism.validation import tiers


def _svg(markdown: str) -> ElementTree.Element:
    match = re.match(r"!\[[^\]]*\]\(data:image/svg\+xml,([^)\s]+)\)", markdown)
    assert match, markdown[:120]
    return ElementTree.fromstring(unquote(match.group(1)))


@pytest.mark.parametrize("days", [5, 400, 5000])
def test_a_line_figure_fits_inline_whatever_the_length_of_its_series(days):
    rng = np.random.default_rng(days)
    curves = {f"a rule with a long name number {i} (beta 0.{i}1)": np.cumprod(1 + rng.normal(0, 0.01, days)) for i in range(3)}
    text = line_figure("documented tier", curves, 1.0, "growth of 1 over the evidence span, net of costs")
    assert len(text) < INLINE_LIMIT
    paths = _svg(text).findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 4  # three lines and the dashed reference
    assert "growth of 1" in text and "last " in text


def test_bars_and_histogram_fit_inline_and_draw_every_value():
    values = {f"s{i}": v for i, v in enumerate(np.linspace(-0.3, 1.4, 12))}
    bars = bar_figure("probation", values, 1.0, "a caption of a reasonable length " * 4)
    assert len(bars) < INLINE_LIMIT
    path = _svg(bars).findall("{http://www.w3.org/2000/svg}path")[0].get("d")
    assert path.count("M") == 12  # one rectangle a probationer
    logits = np.random.default_rng(1).normal(0.4, 1.0, 500)
    histogram = histogram_figure("PBO", logits, 0.0, "logits of the train-best's held-out rank")
    assert len(histogram) < INLINE_LIMIT and len(_svg(histogram)) == 2  # bars and the marker at 0


def test_nothing_to_draw_says_so_in_words():
    assert line_figure("paper equity", {"a": [1.0]}) == "paper equity: nothing to draw yet"
    assert bar_figure("probation", {}) == "probation: nothing to draw yet"
    assert histogram_figure("PBO", [np.nan]) == "PBO: nothing to draw yet"


def test_the_error_budgets_add_up_to_the_tiers_and_say_what_probation_spent():
    rows = budget_rows()
    level = {row["budget"].strip(): row["level_pct"] for row in rows}
    night = level["a night's gate (family-wise, all tiers)"]
    assert night == pytest.approx(100 * tiers.FAMILY_WISE_ERROR)
    shares = level["seed search gate"] + level["portfolio search gate"] + level["documented tier"]
    assert shares == pytest.approx(night)
    assert sum(level[f] for f in tiers.DOCUMENTED_FAMILY_LEVELS) == pytest.approx(level["documented tier"])
    assert rows[-1]["spent"].startswith("shown on deployment/deployed_configs")

    ledger, first = ErrorBudget().spend("a", "g1", date(2025, 1, 10))
    ledger, second = ledger.spend("b", "g2", date(2025, 3, 1))
    spent = budget_rows(ledger, date(2025, 6, 1))[-1]["spent"]
    assert f"{100 * (first + second):.2f}% by 2 entries" in spent
    assert f"next entry's share {100 * ledger.next_alpha(date(2025, 6, 1)):.2f}%" in spent
    assert "2.5%" in budget_sentence() and "5% in any 365 days" in budget_sentence()


def test_the_decisions_in_full_keep_every_row_and_escape_what_would_break_the_table():
    from quant_organism.defs.shared.tables import markdown_table

    rows = [
        {"strategy": "searched.momentum.follow.cross_section.long_short.L3.q10.vol10.r1.age60", "outcome": "rejected",
         "reason": "failed validation: p 0.31 | level 0.25%\nsee the gate"},
        {"strategy": "documented.xs_momentum_14d", "outcome": "probation", "reason": "entered at 2.0%"},
    ]  # fmt: skip
    text = markdown_table(rows, [("strategy", "string"), ("outcome", "string"), ("reason", "string")]).value
    lines = text.splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 4 for line in lines)  # three cells a line, none split
    assert "p 0.31 \\| level 0.25% see the gate" in text
