"""docs/benchmarks.md: written by the benchmark commands (run with `--docs`), never edited by hand.

Each command owns one section of the page, between `<!-- begin NAME -->` and `<!-- end NAME -->`, and rewrites it
whole: the command line, the commit it ran on (marked when the tree had uncommitted changes), the machine (CPU
model, cores, memory, OS, Python) and the UTC time, then the command's own report. Other sections are kept, so
the page holds the latest run of every benchmark that wrote to it, each stamped with where it came from.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

import pandas as pd
import psutil

from quant_organism.core.durable import replace_text

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Generated: each section is written by the command it names, run with `--docs` (for example
`python -m quant_organism.benchmarks scale --json --universe50 --docs`); do not edit the figures by hand, rerun
the command. What the figures mean and how to measure is in [performance.md](performance.md); the dated history
of earlier runs is in [history/2026-11-29-measurements.md](history/2026-11-29-measurements.md).
"""


def commit() -> str:
    """The commit the code ran on, `+ uncommitted changes` when the tree differed from it (this page excepted)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()  # fmt: skip
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    changed = [line for line in status.splitlines() if not line.endswith("docs/benchmarks.md")]
    return head + (" + uncommitted changes" if changed else "")


def machine() -> str:
    """CPU model, cores, memory, OS and Python of this machine."""
    model = platform.processor() or platform.machine()
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), flags=re.M)
        model = found.group(1).strip() if found else model
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.1f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def write_section(name: str, command: str, body: str, page: Path = PAGE) -> Path:
    """Replace (or append) section `name` of the page with `body`, stamped; the other sections are kept."""
    text = page.read_text() if page.exists() else HEADER
    when = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- begin {name} -->\n## {name}\n\n`{command}`\n\n- commit: {commit()}\n- machine: {machine()}\n"
        f"- run: {when}\n\n{body.strip()}\n<!-- end {name} -->"
    )
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", flags=re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    replace_text(page, text)
    return page
