# Every target creates the virtualenv and installs the project itself: nothing is done by hand.
#
# PY picks the interpreter (ADR 0015): `make test PY=python3.13` finds it on PATH or among pyenv's
# installed versions (.ci/find-python) and uses a virtualenv of its own, .venv-3.13; the default
# Python 3.11 keeps .venv. A virtualenv whose interpreter is not the requested version (or no longer
# runs) is rebuilt, never reused.
PY ?= python3.11
DEFAULT_VERSION := 3.11
# The versions `make test-pythons` runs the suite on (those that are installed).
PYTHONS ?= 3.11 3.12 3.13
# Extra pytest arguments for `make test`, e.g. PYTEST_ARGS=tests/unit/test_kv_suite.py.
PYTEST_ARGS ?=

PYTHON := $(shell .ci/find-python $(PY))
PYVER := $(filter 3.%,$(firstword $(if $(PYTHON),$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'))))
VENV := $(if $(filter $(DEFAULT_VERSION),$(PYVER)),.venv,.venv-$(PYVER))
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(PYVER)
# The `bench` extra (matplotlib, for the curves' SVGs) on top of the dev install.
BENCH_STAMP := $(VENV)/.installed-bench-$(PYVER)

# The version the existing virtualenv actually runs: when it differs, drop the stamp so it is rebuilt.
VENV_VERSION := $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifneq ($(PYVER),)
ifneq ($(VENV_VERSION),$(PYVER))
$(shell rm -f '$(STAMP)')
endif
endif

.PHONY: venv test test-pythons lint devnet bench-core bench bench-smoke bench-curves clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYVER)" || { echo "make: no interpreter for PY=$(PY) (see the find-python message above)" >&2; exit 1; }
	@if test -e $(VENV) && test "$(VENV_VERSION)" != "$(PYVER)"; then \
		echo "$(VENV) does not run Python $(PYVER): rebuilding it"; rm -rf $(VENV); fi
	.ci/system-deps $(PYTHON)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@echo "$(PYTHON) $(PYVER)" > $(STAMP)

test: $(STAMP)
	@.ci/chaos-deps
	$(BIN)/python -m pytest -n 2 --dist worksteal -q --durations=30 $(PYTEST_ARGS)

# Runs the suite once per installed interpreter in PYTHONS and prints a summary; fails if any run fails.
test-pythons:
	@.ci/test-pythons $(PYTHONS)

lint: $(STAMP)
	$(BIN)/ruff check chain devnet testkit benchmarks tests node.py
	$(BIN)/mypy

devnet: $(STAMP)
	$(BIN)/python -m devnet up --test-mode

bench-core: $(STAMP)
	$(BIN)/python -m benchmarks core

bench: $(STAMP)
	$(BIN)/python -m benchmarks all

# ~30 s devnet bench printed next to docs/figures/bench-baseline.json; never fails on speed (ADR 0023).
bench-smoke: $(STAMP)
	$(BIN)/python -m devnet.bench_smoke

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

# The scaling curves of issue 15 part 5 (about an hour on 2 shared cores; docs/performance.md): JSON + SVG in docs/figures.
bench-curves: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.curves validators
	$(BIN)/python -m benchmarks.curves state
	$(BIN)/python -m benchmarks.curves anchoring

clean:
	rm -rf .venv .venv-3.* .pytest_cache .mypy_cache .ruff_cache .hypothesis
