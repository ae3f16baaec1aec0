# One command runs the pipeline, one runs the tests; both set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup run test test-fast dev bench clean

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

## make test: the whole test suite (what CI runs, through .ci/run)
test: setup
	$(BIN)/pytest

## make test-fast: every test not marked slow (whole-pipeline runs, browsers, crash loops, live end-to-end)
test-fast: setup
	$(BIN)/pytest -m "not slow"

## make dev: the Dagster UI on http://127.0.0.1:3000
dev: setup
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

## make bench: every benchmark in benchmarks/, as one table of ratios
bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf data/warehouse $(DAGSTER_HOME)
