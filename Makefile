# Quick start: `make serve` runs the provider on the embedded default; `make test` runs
# everything (lint, import rules, the whole test suite). Both set themselves up on first use.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test setup lint clean

serve: $(STAMP)
	$(BIN)/idp serve

test: setup lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

setup: $(STAMP)
	@scripts/ensure-test-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) node_modules tests/artifacts
