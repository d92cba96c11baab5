# ecert-gateway: every target creates .venv first, so a fresh clone needs only `make run` / `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= .ecert/demo
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint types pytest bench load clean demo-federation

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ecert demo --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

demo-federation: $(STAMP)
	$(BIN)/ecert demo-federation

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint types pytest

bench: $(STAMP)
	$(BIN)/python -m loadtests.bench

load: $(STAMP)
	$(BIN)/python -m loadtests.run_load

clean:
	rm -rf $(VENV) .ecert .mypy_cache .pytest_cache .ruff_cache
