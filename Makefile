# One command runs the pipeline, one runs the tests; both set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

PORT ?= 3000
HOST ?= 127.0.0.1

.PHONY: setup run test test-fast dev check-defs bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,deploy]'
	touch $@

setup: $(BIN)/.installed
	@mkdir -p $(DAGSTER_HOME)

## make run: materialise the whole pipeline on the embedded default (replay mode, no network)
run: setup
	$(BIN)/python -m ci_pipeline.run

## make test: the whole test suite (what CI runs, through .ci/run); the 20 slowest tests listed at the end
test: setup
	$(BIN)/pytest --durations=20

## make test-fast: every test not marked slow (whole-pipeline runs, browsers, crash loops, live end-to-end)
test-fast: setup
	$(BIN)/pytest -m "not slow"

## make dev: the Dagster UI on http://127.0.0.1:3000 (PORT=3001 make dev for another port; HOST likewise)
dev: setup
	VIRTUAL_ENV="$(CURDIR)/$(VENV)" PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dg dev --use-active-venv --host $(HOST) --port $(PORT)

## make check-defs: load the code location (every asset, check, job, schedule, sensor) as Dagster does
check-defs: setup
	VIRTUAL_ENV="$(CURDIR)/$(VENV)" PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dg check defs --use-active-venv

## make bench: every benchmark in benchmarks/, as one table of ratios
bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf data/warehouse $(DAGSTER_HOME)
