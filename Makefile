# `make serve` installs and starts the emulator on sample_functions/; `make test` installs and runs
# every check CI runs (ruff, mypy --strict, pytest).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install serve test lint

$(BIN)/appwrite-emulator: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/appwrite-emulator

serve: install
	$(BIN)/appwrite-emulator serve sample_functions

lint: install
	$(BIN)/ruff check emulator tests benchmarks
	$(BIN)/ruff format --check emulator tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest
