# `make serve` installs and starts the emulator on sample_functions/; `make test` installs and runs
# every check CI runs (ruff, mypy --strict, pytest, the install tests included); `make binary` builds
# the one-file executable dist/appwrite-emulator.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The binary is built in a virtualenv of its own where the project is installed from its wheel, so
# PyInstaller freezes exactly the modules and package data a wheel carries.
BINARY_VENV ?= .venv-binary
PYINSTALLER := pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.10
WHEELHOUSE := build/wheelhouse
# What the binary is made of (the editable install's caches excluded).
BINARY_SOURCES := pyproject.toml setup.py \
	$(shell find emulator runtimes packaging -type f -not -path '*/__pycache__/*' 2>/dev/null)

.PHONY: install serve test lint node-sdk binary wheelhouse screenshots

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

# Wheels of the runtime dependencies and of the build backend: the install tests build the project's
# wheel and install it into a fresh virtualenv from these, without an index. Fetched again only when
# the list of requirements in pyproject.toml changes.
$(WHEELHOUSE)/requirements.txt: pyproject.toml
	@test -x $(BIN)/pip || $(MAKE) --no-print-directory install
	mkdir -p $(WHEELHOUSE)
	$(BIN)/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
		print("\n".join(p["project"]["dependencies"] + p["build-system"]["requires"]))' \
		> $(WHEELHOUSE)/requirements.in
	cmp -s $(WHEELHOUSE)/requirements.in $@ || { rm -f $(WHEELHOUSE)/*.whl && \
		$(BIN)/pip wheel --quiet --wheel-dir $(WHEELHOUSE) -r $(WHEELHOUSE)/requirements.in; }
	mv $(WHEELHOUSE)/requirements.in $@

wheelhouse: $(WHEELHOUSE)/requirements.txt

# One executable file for Linux x86-64 (PyInstaller one-file): a fresh build virtualenv, the
# project's wheel installed into it, then packaging/appwrite-emulator.spec. setuptools keeps what it
# built in build/lib and would put files since removed into the wheel, hence the rm.
dist/appwrite-emulator: $(BINARY_SOURCES)
	rm -rf $(BINARY_VENV) build/lib build/bdist.* build/binary-wheel
	$(PYTHON) -m venv $(BINARY_VENV)
	$(BINARY_VENV)/bin/pip wheel --quiet --no-deps --wheel-dir build/binary-wheel .
	$(BINARY_VENV)/bin/pip install --quiet $(PYINSTALLER) build/binary-wheel/appwrite_emulator-*.whl
	$(BINARY_VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/appwrite-emulator.spec
	@touch $@

binary: dist/appwrite-emulator

test: lint node-sdk wheelhouse binary
	$(BIN)/pytest

# PNG screenshots of the console's main pages into docs/screenshots/ (needs /usr/bin/chromium).
screenshots: install
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/browser/test_screenshots.py
