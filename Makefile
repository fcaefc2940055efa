# Quick start: `make demo` runs the whole chain on the synthetic demo survey; `make test` runs the tests.
# Both create (or refresh, when pyproject.toml changed) the virtual environment in .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.geogan-installed
DEMO   ?= demo-output
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv demo test bench-quick clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/geogan run pipelines/demo.toml

test: $(STAMP)
	$(BIN)/python -m pytest

bench-quick: $(STAMP)
	$(BIN)/python bench/_quick.py

clean:
	rm -rf $(DEMO) .pytest_cache
