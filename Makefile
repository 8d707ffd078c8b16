# interlend — two commands to know: `make run` and `make test` (which lints first: ruff,
# mypy, and the import contracts of pyproject.toml's [tool.importlinter]).
#
# Every target creates .venv when it is missing and reinstalls only when pyproject.toml
# or constraints.txt changed, so repeated runs are fast.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP     := $(VENV)/.dev-installed
NODE_STAMP    := node_modules/.installed

.PHONY: run test lint format bench coverage clean browser docs

run: $(RUNTIME_STAMP)
	$(BIN)/interlend demo

# The tests run on every core (pytest-xdist; a worker takes another's queued tests once
# its own are done), their coverage combined by pytest-cov into .coverage.
test: lint $(NODE_STAMP) browser
	$(BIN)/coverage erase
	$(BIN)/pytest -n auto --dist worksteal --cov --cov-report=
	$(BIN)/coverage report --include='protocols/sip2/*' --fail-under=100
	$(BIN)/coverage report --fail-under=90

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

# The page tests drive Debian's chromium (never a downloaded browser). Installed here when
# it is missing and we may; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get install -y -qq chromium >/dev/null 2>&1; } \
	  || echo "chromium is not installed and could not be: the page tests will skip"

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(DEV_STAMP)
	$(BIN)/python bench/sip2_codec.py
	$(BIN)/python bench/sim_server.py
	$(BIN)/python bench/passthrough.py

# The configuration reference, written from config/models.py (a test fails when stale).
docs: $(RUNTIME_STAMP)
	$(BIN)/python -m config.reference --write

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .coverage build *.egg-info

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e .
	@touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e '.[dev]'
	@touch $@

# solc and anvil for the ledger tests, from package-lock.json (npm ci starts afresh).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@
