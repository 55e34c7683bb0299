# The two front-door commands: `make demo` and `make test`. Both set up .venv first (once; quick afterwards).
# `make sweep GRID=notebooks/sweeps/paper000_table5_architectures.yaml` runs a grid of notebook runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo sweep test test-browser lab bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/aelab demo

GRID ?= notebooks/sweeps/paper000_table5_architectures.yaml
sweep: setup
	$(BIN)/aelab sweep $(GRID)

# the browser suite (tests/browser: JupyterLab driven by headless /usr/bin/chromium) runs inside `make test` when
# chromium is installed; alone:
test: setup
	$(BIN)/python -m pytest -q

test-browser: setup
	$(BIN)/python -m pytest -q tests/browser

lab: setup
	$(BIN)/aelab lab

bench: setup
	$(BIN)/python benchmarks/data_pipeline.py

clean:
	rm -rf $(VENV) .pytest_cache
