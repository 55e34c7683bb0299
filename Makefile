# The two front-door commands: `make demo` and `make test`. Both set up .venv first (once; quick afterwards).
# `make sweep GRID=notebooks/sweeps/paper000_table5_architectures.yaml` runs a grid of notebook runs;
# `make sweep SWEEP_FLAGS="--executor dask --scheduler tcp://HOST:8786"` runs it on a Dask cluster.
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
SWEEP_FLAGS ?=
sweep: setup
	$(BIN)/aelab sweep $(GRID) $(SWEEP_FLAGS)

# the browser suite (tests/browser: JupyterLab driven by headless /usr/bin/chromium) runs inside `make test` when
# chromium is installed; alone:
# `.[dev]` brings the cluster and tensorboard extras, so their tests run here instead of being skipped
# one pytest-xdist worker per logical core (at most 4), each test module kept on one worker (tests/conftest.py)
test: setup
	$(BIN)/python -m pytest -q -n logical --maxprocesses 4

test-browser: setup
	$(BIN)/python -m pytest -q tests/browser

lab: setup
	$(BIN)/aelab lab

bench: setup
	$(BIN)/python benchmarks/data_pipeline.py

clean:
	rm -rf $(VENV) .pytest_cache
