# One-command entry points. Each bootstraps its own virtualenv (.venv) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint typecheck unit

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: lint, type checks and the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# --dist loadfile: a file's tests run together in one worker, so moto's per-process state
# (module-scoped emulator servers) is never reset under them by another file's test.
unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile -q

## make preview [STACK=Pulumi.<stack>.yaml]: credential-free preview + policy pack (no AWS, no Pulumi CLI)
STACK ?= Pulumi.example.yaml
.PHONY: preview
preview: $(STAMP)
	$(BIN)/python -m policies.preview --stack $(STACK) --policy-config policy-config.json

.PHONY: drill
## make drill: rehearse every incident scenario end to end on the embedded emulator
## (no AWS account needed); report in drill-reports/
drill: $(STAMP)
	$(BIN)/irctl drill --scenario all

## make automation-layer: the response automation's dependency layer for Lambda
## (python3.11, arm64) in build/automation-layer/python: the runtime dependencies of
## pyproject.toml except boto3, which the Lambda runtime provides. Run before
## `pulumi up` with ir:automation.enabled (the component refuses a missing layer).
LAYER_DIR ?= build/automation-layer
.PHONY: automation-layer
automation-layer: $(STAMP)
	rm -rf $(LAYER_DIR)
	$(BIN)/python -m pip install --quiet --target $(LAYER_DIR)/python \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.11 \
		--only-binary=:all: \
		$$($(BIN)/python -c 'import tomllib; print(" ".join(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if not d.startswith("boto3")))')
