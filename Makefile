# Developer entry points. Everything runs from the project virtualenv in .venv, which is
# created on first use. `make run` / `make test` start an embedded PostgreSQL and Redis
# (under .data/) for whichever of DATABASE_URL / REDIS_URL is not set.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The interpreter used only to create .venv: Python 3.11 if available, else python3.
BOOTSTRAP_PYTHON := $(shell command -v python3.11 || command -v python3)

PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help venv run test lint fmt schemathesis bench clean-data

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# --- virtualenv and install stamps ------------------------------------------------------------
# A stamp is newer than pyproject.toml once its extras are installed, so re-running a target
# does not reinstall; editing pyproject.toml does. The interpreter is an order-only
# prerequisite: its mtime must not trigger reinstalls.

$(PY):
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "python3.11 or python3 is required" >&2; exit 1; }
	$(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(VENV)/.stamp-run: pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[embedded]'
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	@touch $@

venv: $(VENV)/.stamp-dev ## Create .venv and install the app with dev tools

# --- everyday targets -------------------------------------------------------------------------

run: $(VENV)/.stamp-run ## Migrate, seed demo data, serve on 127.0.0.1:PORT (default 8000) with Celery
	$(PY) -m config.devservices run

test: $(VENV)/.stamp-dev ## Run pytest (PYTEST_ARGS=...) against embedded or given services
	$(PY) -m config.devservices exec -- $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.stamp-dev ## ruff check + format check + the layer contracts (.importlinter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

schemathesis: $(VENV)/.stamp-run ## Fuzz the API against its OpenAPI schema (.ci/schemathesis.sh)
	$(PY) -m config.devservices exec -- .ci/schemathesis.sh

fmt: $(VENV)/.stamp-dev ## ruff format + autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.stamp-dev ## Run the benchmark package (BENCH_ARGS=...)
	$(PY) -m config.devservices exec -- $(PY) -m bench $(BENCH_ARGS)

clean-data: ## Delete the embedded PostgreSQL/Redis data (.data/)
	rm -rf .data
