# The two front-door commands: `make demo` and `make test`. Both set up .venv first (once; quick afterwards).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lab bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/aelab demo

test: setup
	$(BIN)/python -m pytest -q

lab: setup
	$(BIN)/aelab lab

bench: setup
	$(BIN)/python benchmarks/data_pipeline.py

clean:
	rm -rf $(VENV) .pytest_cache
