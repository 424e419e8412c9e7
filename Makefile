# Set-up and everyday tasks. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch==2.13.0 resolves to the CPU build on the project's machines. Elsewhere, install the torch
# build that fits your hardware first (see pytorch.org), or override: make TORCH="torch==2.13.0" ...
TORCH ?= torch==2.13.0

.PHONY: setup demo test test-fast lint bench catalog docs completions

$(BIN)/ptm: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/ptm

demo: setup
	$(BIN)/ptm generate "I like eating fried" --steps 5 --format table
	$(BIN)/ptm tokenize -m bert-base-chinese "我来自中国" --format table

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not real and not slow"

lint: setup
	$(BIN)/ruff check ptmcli tests benchmarks

catalog: setup
	$(BIN)/python tools/catalog.py compile

bench: setup
	$(BIN)/python benchmarks/run.py

docs: setup
	$(BIN)/python tools/reference.py

completions: setup
	$(BIN)/python tools/completions.py
