"""Every command the README shows runs as written: make targets exist and `make demo` is the command the README
says it is, each `python -m quant_organism ...` parses with the CLI's own parser, and each benchmark command names
a real benchmark and its flags. What those commands do is tested elsewhere (the main command in test_cli.py, query
in test_research_memory.py, the organism benchmark's pieces in test_forward_truth.py); `status` runs here, on an
empty data root. So the README cannot drift from the commands."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from quant_organism.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _commands() -> list[list[str]]:
    """Each command line of the README's bash blocks (comments dropped), as words."""
    lines = [line for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S) for line in block.splitlines()]
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


COMMANDS = _commands()


def test_the_readme_shows_the_two_commands_and_more():
    assert ["make", "demo"] in COMMANDS and ["make", "test"] in COMMANDS
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("words", [c for c in COMMANDS if c[0] == "make"], ids=" ".join)
def test_make_targets_exist(words):
    done = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_make_demo_is_the_command_the_readme_says():
    said = re.search(r"`make demo` is `(python -m quant_organism [^`]+)`", README).group(1)
    done = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert said in done.stdout


@pytest.mark.parametrize("words", [c for c in COMMANDS if c[1:3] == ["-m", "quant_organism"]], ids=" ".join)
def test_cli_commands_parse(words):
    args = build_parser().parse_args(words[3:])
    assert callable(args.handler)


@pytest.mark.parametrize("words", [c for c in COMMANDS if c[1:3] == ["-m", "quant_organism.benchmarks"]], ids=" ".join)
def test_benchmark_commands_name_a_benchmark_and_its_flags(words):
    name, flags = words[3], [w.split("=")[0] for w in words[4:] if w.startswith("--")]
    done = subprocess.run([sys.executable, "-m", "quant_organism.benchmarks", name, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(flag in done.stdout for flag in flags), (flags, done.stdout[-2000:])


def test_status_runs_on_an_empty_data_root(tmp_path):
    import os

    env = {**os.environ, "QUANT_ORGANISM_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "quant_organism", "status"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "last runs:" in done.stdout and done.returncode in (0, 1)  # 1: the health score says failing (nothing ran)


@pytest.mark.parametrize("page", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))])
def test_code_fences_open_and_close_on_lines_of_their_own(page):
    """A fence with text after it (or one left open) swallows the prose that follows into the code block."""
    fences = [line.strip() for line in (ROOT / page).read_text().splitlines() if "```" in line]
    assert all(re.fullmatch(r"```[a-z]*", fence) for fence in fences), fences
    assert len(fences) % 2 == 0, f"{page}: an unclosed code fence"
    closing = fences[1::2]
    assert all(fence == "```" for fence in closing), f"{page}: a closing fence names a language: {closing}"
