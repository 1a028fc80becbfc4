"""The house rules, enforced: the import-linter layers, Dagster's project checks, where settings are read,
and which modules may sit at the package root."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "quant_organism"
BIN = Path(sys.executable).parent
DOMAIN_PACKAGES = (
    "core",
    "strategies",
    "market",
    "catalog",
    "backtest",
    "runtime",
    "evolution",
    "validation",
    "deployment",
    "reporting",
    "research",
    "operations",
)


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "VIRTUAL_ENV": sys.prefix, **env}
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def test_lint_imports_keeps_the_layers_contract():
    done = _run([str(BIN / "lint-imports")], ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout


def test_no_module_of_the_package_imports_itself_back():
    """No import circle, function-level imports included (grimp, the graph lint-imports builds)."""
    import grimp

    graph = grimp.build_graph("quant_organism", cache_dir=None)
    circles = sorted(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.find_shortest_chain(importer=imported, imported=module)
    )
    assert circles == [], circles


def test_ruff_lint_and_format_are_clean():
    """The whole tree passes `ruff check` and `ruff format --check` (configuration: pyproject.toml)."""
    lint = _run([str(BIN / "ruff"), "check", "--no-cache", "."], ROOT)
    assert lint.returncode == 0, lint.stdout[-4000:] + lint.stderr[-2000:]
    formatted = _run([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], ROOT)
    assert formatted.returncode == 0, formatted.stdout[-4000:] + formatted.stderr[-2000:]


def test_ruff_bites(tmp_path: Path):
    """A file with an unused import and a badly formatted line fails both checks, naming the file."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "quant_organism").mkdir()
    (tmp_path / "quant_organism" / "sloppy.py").write_text("import os\nx = {  'a':1 }\n")
    lint = _run([str(BIN / "ruff"), "check", "--no-cache", "."], tmp_path)
    assert lint.returncode != 0 and "F401" in lint.stdout and "sloppy.py" in lint.stdout
    formatted = _run([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], tmp_path)
    assert formatted.returncode != 0 and "sloppy.py" in formatted.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("strategies/_intruder.py", "import dagster\n", "Domain code is plain Python"),
        ("backtest/_intruder.py", "from quant_organism import settings\n", "Domain code is plain Python"),
        ("market/_intruder.py", "from quant_organism.evolution import evolve as engine\n", "Layers in pipeline order"),
        ("evolution/nsga2.py", "from quant_organism.evolution.executors import runners\n", "Executors in their own room"),
        ("strategies/_intruder.py", "from numba import njit\n", "Compiled code in its own rooms"),
    ],
)
def test_the_contract_bites(tmp_path: Path, module: str, line: str, contract: str):
    """A copy of the project with one forbidden import fails lint-imports, naming the broken contract."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PACKAGE, tmp_path / "quant_organism", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "quant_organism" / module).write_text(line)
    done = _run([str(BIN / "lint-imports")], tmp_path, PYTHONPATH=str(tmp_path))
    assert done.returncode != 0
    assert f"{contract}" in done.stdout and "BROKEN" in done.stdout


def test_no_function_outside_compiled_kernels_is_longer_than_100_lines():
    """A function is read whole: at most 100 lines, docstring included. Compiled kernels (a package's compiled/) are
    loops numba needs in one piece, and are exempt."""
    import ast

    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in PACKAGE.rglob("*.py")
        if "compiled" not in path.parts
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 100
    ]
    assert not long, long


def test_dg_check_defs_passes():
    done = _run([str(BIN / "dg"), "check", "defs"], ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


ENVIRONMENT_CALLS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def environment_uses(source: str) -> list[int]:
    """Line numbers where `source` reads or writes the process environment: `os.environ` (any use),
    `os.getenv` / `putenv` / `unsetenv`, or those names imported from `os`."""
    import ast

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_CALLS and getattr(node.value, "id", None) == "os":
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in ENVIRONMENT_CALLS for a in node.names):
            lines.append(node.lineno)
    return sorted(lines)


def test_domain_code_never_reads_settings_or_the_environment():
    """Settings, faults, testnet keys and Ray settings arrive as arguments from the Dagster layer or the CLI."""
    offenders = []
    for package in DOMAIN_PACKAGES:
        for path in (PACKAGE / package).rglob("*.py"):
            source = path.read_text()
            for number, text in enumerate(source.splitlines(), start=1):
                if re.search(r"\bsettings\.", text):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {text.strip()}")
            offenders += [f"{path.relative_to(ROOT)}:{n}: {source.splitlines()[n - 1].strip()}" for n in environment_uses(source)]
    assert offenders == []


@pytest.mark.parametrize(
    "line",
    [
        "import os\nkey = os.environ.get('X')\n",
        "import os\nos.environ.setdefault('RAY_AUTH_MODE', 'disabled')\n",
        "import os\nvalue = os.getenv('X')\n",
        "from os import environ\n",
        "import os\nenv = dict(os.environ)\n",
    ],
)
def test_the_environment_rule_bites(line: str):
    assert environment_uses(line) != []
    assert environment_uses("import os\ncores = os.cpu_count()\nenviron = {}\nenviron.get('X')\n") == []


def test_only_the_entry_modules_sit_at_the_package_root():
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert root_modules == ["__init__.py", "__main__.py", "definitions.py", "settings.py"]


def test_tests_never_import_other_test_modules():
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in Path(__file__).parent.glob("test_*.py")
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) quant_organism_tests\.test_", line)
    ]
    assert offenders == []


def test_the_demo_benchmark_runs_the_makefiles_demo():
    """`bench demo` measures the command `make demo` runs: the same end date, paper days and cadence."""
    from quant_organism.benchmarks import demo

    makefile = (ROOT / "Makefile").read_text()
    values = dict(re.findall(r"^(DEMO_\w+) \?= (\S+)$", makefile, flags=re.M))
    assert (values["DEMO_END"], int(values["DEMO_PAPER_DAYS"]), int(values["DEMO_EVOLVE_EVERY"])) == (
        demo.DEMO_END,
        demo.DEMO_PAPER_DAYS,
        demo.DEMO_EVOLVE_EVERY,
    )
    assert "--evolve-every $(DEMO_EVOLVE_EVERY)" in makefile and "benchmarks demo" in makefile
