# Every target creates the virtualenv and installs the project itself: nothing is done by hand.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint devnet bench-core bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check chain devnet tests node.py
	$(BIN)/mypy

devnet: $(STAMP)
	$(BIN)/python -m devnet up --test-mode

bench-core: $(STAMP)
	$(BIN)/python -m chain.bench core

bench: $(STAMP)
	$(BIN)/python -m chain.bench all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
