# The README's two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: the HTTP API on the embedded SQLite store, with a demo tenant and client (no servers needed)
run: install
	$(BIN)/vigil serve --demo

## make test: lint, type-check and run the whole suite
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Starts (or reuses) PostgreSQL and Redis under var/ and points the suite at them;
# a service that cannot start leaves its tests skipped locally and failed under CI=true.
pytest: install
	eval "$$(bash scripts/services.sh start)"; $(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/engine_throughput.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
