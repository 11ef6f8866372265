# Two commands matter: `make demo` and `make test`. Both create .venv if it is missing.
# The venv sees system site-packages so that a torch the user already has is kept;
# scripts/ensure_torch.sh installs a CPU build only when no torch imports.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEVSTAMP:= $(VENV)/.installed-dev
export OMP_WAIT_POLICY ?= PASSIVE
DEMO    ?=

.PHONY: demo test bench clean venv

$(BIN)/python:
	$(PY) -m venv --system-site-packages $(VENV)

$(STAMP): pyproject.toml scripts/ensure_torch.sh | $(BIN)/python
	bash scripts/ensure_torch.sh $(BIN)/python
	$(BIN)/python -m pip install -q -c $(VENV)/torch-constraint.txt -e .
	touch $@

$(DEVSTAMP): $(STAMP) pyproject.toml scripts/ensure_browser.sh
	$(BIN)/python -m pip install -q -c $(VENV)/torch-constraint.txt -e '.[dev]'
	bash scripts/ensure_browser.sh
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m genimg.demo $(DEMO)

test: $(DEVSTAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install -q -c $(VENV)/torch-constraint.txt -e '.[bench]'
	bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
