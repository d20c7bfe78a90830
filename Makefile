# Quick start: `make serve` runs the provider on the embedded default; `make test` runs
# everything (lint, import rules, type check, the whole test suite). Both set themselves up on
# first use, from the hash-locked requirement sets (requirements/*.txt, made by scripts/lock):
# `serve` installs the runtime set only, `test` the development set (a superset at the same
# versions); either one then installs the project itself, editable, without its dependencies.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: serve test setup lint clean

serve: $(RUNTIME_STAMP)
	$(BIN)/idp serve

test: setup lint
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

setup: $(DEV_STAMP)
	@scripts/ensure-test-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements/runtime.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(DEV_STAMP): requirements/dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

clean:
	rm -rf $(VENV) node_modules tests/artifacts
