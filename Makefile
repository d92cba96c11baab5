# ecert-gateway: every target creates .venv first, so a fresh clone needs only `make run` / `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INTEROP := tests/interop
NODE_STAMP := $(INTEROP)/node_modules/.installed
DATA_DIR ?= .ecert/demo
HOST ?= 127.0.0.1
PORT ?= 8000
# make load: the city on 3 processes behind HAProxy on PostgreSQL (LOAD_ARGS= for one gateway)
LOAD_ARGS ?= --cluster 3 --mix cluster
BENCH_ARGS ?=

.PHONY: run test lint types pytest interop-deps bench load clean demo-federation demo-cluster

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ecert demo --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

demo-federation: $(STAMP)
	$(BIN)/ecert demo-federation

# One city on 3 processes behind HAProxy (Debian package) on one PostgreSQL database
# (ECERT_CLUSTER_DATABASE_URL, default ecert_cluster_demo on the local server, made if missing).
demo-cluster: $(STAMP)
	$(BIN)/ecert demo-cluster

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

# The interop suite's node packages (test dependencies only), pinned by the lock file and
# installed into an ignored folder. Without node the interop tests skip and say how to enable them.
$(NODE_STAMP): $(INTEROP)/package.json $(INTEROP)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(INTEROP) --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else \
		echo "npm not found: the node interop tests will skip (install Node.js 20 and npm)"; \
	fi

interop-deps: $(NODE_STAMP)

pytest: $(STAMP) interop-deps
	$(BIN)/pytest

test: lint types pytest

# make bench: every part in one run (BENCH_ARGS="--only verify" for one); its PostgreSQL rows make
# and drop a throw-away database on ECERT_BENCH_DATABASE_URL's server.
bench: $(STAMP)
	ECERT_BENCH_DATABASE_URL="$${ECERT_BENCH_DATABASE_URL-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}" \
		$(BIN)/python -m loadtests.bench $(BENCH_ARGS)

load: $(STAMP)
	$(BIN)/python -m loadtests.run_load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) $(INTEROP)/node_modules .ecert .mypy_cache .pytest_cache .ruff_cache
