# caseops: two commands on a fresh machine.
#   make run   - venv, install, migrate, demo data, gunicorn on http://127.0.0.1:8000
#   make test  - venv, install with test extras, the whole suite on SQLite and PostgreSQL
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
export CASEOPS_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test test-fast test-sqlite test-postgres lint install browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	CASEOPS_ENV=demo $(BIN)/caseops db upgrade
	CASEOPS_ENV=demo $(BIN)/caseops demo seed
	@echo
	@echo "caseops is starting on http://127.0.0.1:8000  (sign in at http://127.0.0.1:8000/login)"
	@echo "Ctrl-C stops it. Data and generated demo secrets live in $(CASEOPS_INSTANCE_PATH)/."
	CASEOPS_ENV=demo $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

browser-deps:
	@scripts/ensure-chromium

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

test: $(STAMP) browser-deps lint
	$(MAKE) --no-print-directory test-sqlite
	@url="$${CASEOPS_TEST_POSTGRES_URL:-$$($(BIN)/python -m tests.pgprobe)}"; \
	if [ -n "$$url" ]; then \
	  CASEOPS_TEST_POSTGRES_URL="$$url" $(MAKE) --no-print-directory test-postgres; \
	else \
	  echo "== PostgreSQL: no server answered and CASEOPS_TEST_POSTGRES_URL is unset; SQLite run only"; \
	fi

# The tests that need no database and no browser (marked ``pure`` in tests/conftest.py).
test-fast: $(STAMP)
	@echo "== pure tier: no database, no browser"
	CASEOPS_FAST_EXAMPLES=25 $(BIN)/pytest -m pure -n auto -q $(PYTEST_ARGS)

test-sqlite: $(STAMP)
	@echo "== test suite on SQLite"
	CASEOPS_TEST_DB=sqlite $(BIN)/pytest -n auto $(PYTEST_ARGS)

test-postgres: $(STAMP)
	@echo "== test suite on PostgreSQL"
	CASEOPS_TEST_DB=postgres $(BIN)/pytest -n auto $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
