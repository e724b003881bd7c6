# `make serve` installs and starts the emulator on sample_functions/; `make test` installs and runs
# every check CI runs (ruff, mypy --strict, pytest).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install serve test lint node-sdk screenshots

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

# node-appwrite@9.0.0 and appwrite-cli@2.0.2, which the end-to-end tests drive (skipped without npm).
node-sdk:
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix tests/e2e/node --no-audit --no-fund --silent; \
	else echo "npm not found: the Node SDK tests will be skipped"; fi

test: lint node-sdk
	$(BIN)/pytest

# PNG screenshots of the console's main pages into docs/screenshots/ (needs /usr/bin/chromium).
screenshots: install
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/browser/test_screenshots.py
