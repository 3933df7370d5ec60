# One-command entry points. Each bootstraps its own virtualenv (.venv) on first use and
# installs only what it needs: `make drill` the stack and the emulator, `make preview` the
# stack, `make test` everything (linters, type checkers, test tools). Every dependency,
# direct or not, is pinned in constraints.txt, which make and CI (.ci/run) both install
# through; `make lock` refreshes it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONSTRAINTS := constraints.txt
PIP    := $(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS)
# one stamp per install; a bigger install touches the stamps of the smaller ones it covers
BOOT        := $(VENV)/.bootstrapped
STACK_STAMP := $(VENV)/.installed-stack
DRILL_STAMP := $(VENV)/.installed-drill
STAMP       := $(VENV)/.installed

.PHONY: venv test lint typecheck unit lock

## make venv: everything (the dev extra: stack, emulator, linters, type checkers, tests)
venv: $(STAMP)

# The build backend (setuptools, wheel) comes pinned from the constraints too: the
# project is installed without build isolation, so no unpinned backend is downloaded.
$(BOOT): $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) setuptools wheel
	touch $@

$(STACK_STAMP): pyproject.toml $(CONSTRAINTS) $(BOOT)
	$(PIP) --no-build-isolation -e '.[stack]'
	touch $@

$(DRILL_STAMP): pyproject.toml $(CONSTRAINTS) $(BOOT)
	$(PIP) --no-build-isolation -e '.[drill]'
	touch $@ $(STACK_STAMP)

$(STAMP): pyproject.toml requirements.txt $(CONSTRAINTS) $(BOOT)
	$(PIP) --no-build-isolation -e '.[dev]'
	touch $@ $(DRILL_STAMP) $(STACK_STAMP)

## make lock: re-resolve constraints.txt from pyproject.toml (every extra, the build
## backend; Python 3.11, this platform) with pip-tools, in a throwaway virtualenv. Pins
## that still fit are kept (a new dependency only adds lines); LOCK_FLAGS=--upgrade moves
## every pin to the newest allowed release. Commit the result; review the diff like code.
PIP_TOOLS ?= pip-tools==7.7.0
LOCK_FLAGS ?=
lock:
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet '$(PIP_TOOLS)'
	$(VENV)-lock/bin/pip-compile --quiet $(LOCK_FLAGS) --all-extras --all-build-deps \
		--strip-extras --unsafe-package ir-readiness --no-emit-index-url \
		--no-emit-find-links --output-file $(CONSTRAINTS) pyproject.toml
	rm -rf $(VENV)-lock

## make test: lint, type checks and the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# --dist loadfile: a file's tests run together in one worker, so moto's per-process state
# (module-scoped emulator servers) is never reset under them by another file's test.
# PYTEST_ARGS: a subset (bench/fresh_machine.py --pytest-args); empty runs everything.
PYTEST_ARGS ?=
unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

## make preview [STACK=<stack name> | STACK=Pulumi.<stack>.yaml]: credential-free preview +
## policy pack (no AWS, no Pulumi CLI)
STACK ?= example
.PHONY: preview
preview: $(STACK_STAMP)
	$(BIN)/python -m policies.preview --stack $(STACK) --policy-config policy-config.json

.PHONY: drill
## make drill: rehearse every incident scenario end to end on the embedded emulator
## (no AWS account needed); report in drill-reports/. The drill is the rehearsal/ package
## (emulator, bridge, scenarios), run by `irctl drill` with the drill extra's dependencies.
drill: $(DRILL_STAMP)
	$(BIN)/irctl drill --scenario all

## make automation-layer: the response automation's dependency layer for Lambda
## (python3.11, arm64) in build/automation-layer/python: the runtime dependencies of
## pyproject.toml except boto3, which the Lambda runtime provides, at the versions of
## constraints.txt. Run before
## `pulumi up` with ir:automation.enabled (the component refuses a missing layer).
LAYER_DIR ?= build/automation-layer
.PHONY: automation-layer
automation-layer: $(BOOT)
	rm -rf $(LAYER_DIR)
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) --target $(LAYER_DIR)/python \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.11 \
		--only-binary=:all: \
		$$($(BIN)/python -c 'import tomllib; print(" ".join(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if not d.startswith("boto3")))')
