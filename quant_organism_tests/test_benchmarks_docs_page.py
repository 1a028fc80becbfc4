"""docs/benchmarks.md is generated: a command rewrites its own section, stamped with commit and machine, and
keeps the others."""

from __future__ import annotations

import re
import subprocess

from quant_organism.benchmarks.docs_page import HEADER, ROOT, write_section


def test_a_section_is_stamped_replaced_whole_and_the_others_kept(tmp_path):
    page = tmp_path / "benchmarks.md"
    write_section("scale", "python -m quant_organism.benchmarks scale", "| a | b |\n|---|---|\n| 1 | 2 |", page)
    write_section("organism (quick, 1h)", "python -m quant_organism.benchmarks organism --quick", "size 0%", page)
    write_section("scale", "python -m quant_organism.benchmarks scale", "| a | b |\n|---|---|\n| 3 | 4 |", page)
    text = page.read_text()
    assert text.startswith(HEADER.splitlines()[0])
    assert text.count("<!-- begin scale -->") == 1 and "| 3 | 4 |" in text and "| 1 | 2 |" not in text
    assert "size 0%" in text and text.index("<!-- begin scale -->") < text.index("<!-- begin organism")
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert f"- commit: {head}" in text
    assert re.search(r"- machine: .+, \d+ cores, [\d.]+ GiB, ", text)
    assert re.search(r"- run: \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)


def test_the_page_in_the_repository_was_written_by_the_commands():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    sections = re.findall(r"<!-- begin (.+?) -->\n## \1\n\n`(python -m quant_organism\.benchmarks [^`]+)`\n\n- commit: ", text)
    assert {name for name, _ in sections} >= {"scale", "organism (quick, 1h)"}, sections
