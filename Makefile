# The README's commands. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
UV_VERSION ?= 0.13.8
BOOTSTRAP := .cache/bootstrap
UV := $(BOOTSTRAP)/bin/uv
RUN := $(UV) run --frozen --no-sync

.PHONY: setup browsers demo ui test bench clean

# uv itself lives in a small bootstrap venv, so nothing is installed by hand or system-wide.
$(UV):
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Install the locked dependency set (uv.lock) into .venv, dev group included; bytecode is compiled
# up front so that every fresh worker process (Ray, process pool, Dagster steps) imports quickly.
setup: $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)

# The main job end to end on the embedded default (the synthetic market, built to show a life cycle): the
# production search evolves on 2025-07-14 (540 days of history before it), the deployment is paper-traded on
# the 97 days after it, and the chain re-evolves every 30 of them as the nightly schedule would: probation,
# the looks at 60 forward days, promotion or retirement, capital, paper P&L, the parity check.
# `python -m quant_organism.benchmarks demo` runs the same command over 10 seeds (benchmarks/demo.py).
DEMO_END ?= 2025-10-19
DEMO_PAPER_DAYS ?= 97
DEMO_EVOLVE_EVERY ?= 30
demo: setup
	$(RUN) python -m quant_organism run --end $(DEMO_END) --paper-days $(DEMO_PAPER_DAYS) --evolve-every $(DEMO_EVOLVE_EVERY)

# The Dagster UI on http://127.0.0.1:3000, over the instance the main job wrote to.
ui: setup
	$(RUN) python -m quant_organism ui

# Debian's chromium for the headless UI test (Playwright drives it; no `playwright install` download).
# Installed with apt-get when missing and running as root (CI); otherwise only a warning.
browsers:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "warning: /usr/bin/chromium is missing and this is not root: the UI browser test will fail (sudo make browsers)" >&2; \
	  fi; \
	fi

# The suite runs in three passes:
# - most tests in two worker processes (pytest-xdist), a test file per worker at a time;
# - then the tests marked `serial`, alone: a Ray cluster started with `ray start` (which a local `ray.init()`
#   elsewhere would join), and wall-time budgets that another test beside them would eat into;
# - then the executor tests, in a pytest process of their own: they start their own local Ray, process pools
#   and worker kills, so nothing they leave behind can touch the rest of the suite.
# Their scratch (pytest's tmp_path, Dagster's test instances with their SQLite event logs, Ray's session folder)
# is on the RAM-backed /dev/shm when it has 6 GB free (a short path: Ray's socket paths have a length limit):
# every Dagster event is a SQLite commit, and on this VM's disk a commit or close waits ~1.2 ms (a year of
# regimes for five coins: 225 s on disk, 129 s on /dev/shm). Elsewhere the default temp folder; TEST_TMP=
# (empty) keeps the default.
ISOLATED := quant_organism_tests/test_evolution_executors.py
WORKERS ?= 2
TEST_TMP ?= $(shell d=/dev/shm/qo-tests; free=$$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $$4}'); \
  [ "$${free:-0}" -gt 6000000 ] && mkdir -p $$d 2>/dev/null && [ -w $$d ] && echo $$d)
TEST_ENV := $(if $(TEST_TMP),TMPDIR=$(TEST_TMP))

test: setup browsers
	$(TEST_ENV) $(RUN) pytest --ignore=$(ISOLATED) -m "not serial" -n $(WORKERS) --dist loadfile --no-loadscope-reorder --durations=15
	$(TEST_ENV) $(RUN) pytest --ignore=$(ISOLATED) -m serial --durations=5
	$(TEST_ENV) $(RUN) pytest $(ISOLATED)

bench: setup
	$(RUN) python -m quant_organism.benchmarks ingest
	$(RUN) python -m quant_organism.benchmarks backtest
	$(RUN) python -m quant_organism.benchmarks evolution
	$(RUN) python -m quant_organism.benchmarks paper
	$(RUN) python -m quant_organism.benchmarks organism --quick
	$(RUN) python -m quant_organism.benchmarks demo

clean:
	rm -rf data/lake data/dagster_home data/*.duckdb data/*.catalog.* data/evolution data/validation \
	  data/deployment data/reports data/strategies data/paper data/failures .cache/numba
