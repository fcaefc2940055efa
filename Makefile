# Quick start: `make demo` runs the whole chain on the synthetic demo survey; `make test` runs the tests.
# Both create (or refresh, when pyproject.toml changed) the virtual environment in .venv first.
# `make docs` builds the documentation site (docs/, Sphinx) into docs/_build/html, warnings as errors.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.geogan-installed
DEMO   ?= demo-output
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv demo test docs bench-quick clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/geogan run demo

test: $(STAMP)
	$(BIN)/python -m pytest

# the notebooks are copied into the site's sources (the copies are git-ignored) and rendered as
# stored: nothing is executed or fetched
docs: $(STAMP)
	cp notebooks/*.ipynb docs/tutorials/
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

bench-quick: $(STAMP)
	$(BIN)/python bench/_quick.py

clean:
	rm -rf $(DEMO) .pytest_cache docs/_build
