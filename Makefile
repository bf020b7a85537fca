# The two commands of the README: `make local` (run the job on local stand-ins) and `make test`.
# Both set up everything they need from this repository's own files. `make local` (and `make invoke`,
# `make unit`) need Python 3.11 or newer; `make test` and `make build` need Lambda's python3.13.
SHELL := /bin/sh
PYTHON := $(shell scripts/find-python)
# The floor of `make test`'s line coverage of the shipped code and the operator tools (pyproject.toml,
# [tool.coverage]); raise it when coverage rises.
COVERAGE_FLOOR := 95
VENV := .venv
SAM_VENV := .venv-sam
SCAN_VENV := .venv-scan
BIN := $(VENV)/bin
# `sam build` looks for the runtime's python3.13 on PATH.
export PATH := $(dir $(PYTHON)):$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1

.PHONY: local invoke stand-ins test unit need-lambda-python lint typecheck template-lint pytest reliability build deploy bench clean

local: $(VENV)/.installed
	$(BIN)/python -m local.run

# One event through a function's real handler on the local stand-ins (the Docker-free `sam local
# invoke`): make invoke EVENT=events/console_single.json [FUNCTION=ExportBackupFunction]; EVENT=- reads
# stdin.
FUNCTION ?= ExportBackupFunction
invoke: $(VENV)/.installed
	@test -n "$(EVENT)" || { echo "make invoke: give EVENT=<file> (or EVENT=- for stdin), e.g. EVENT=events/console_single.json" >&2; exit 2; }
	$(BIN)/python -m local.invoke --function $(FUNCTION) $(EVENT)

# The stand-ins with the stack created, left running for the operator tools until Ctrl-C
# (docs/operations.md, "Rehearsing on the stand-ins").
stand-ins: $(VENV)/.installed
	$(BIN)/python -m local.stand_ins

test: need-lambda-python lint typecheck template-lint build pytest

# The quick loop while changing code: what CI checks of the code (ruff check, ruff format --check, mypy),
# then the unit and template tests (no stand-ins, no Docker). One file: .venv/bin/pytest tests/unit/x.py
unit: lint typecheck
	$(BIN)/pytest -q tests/unit tests/template

# sam build runs the runtime's python3.13 and the layer ships its bytecode: stop at once without it.
need-lambda-python:
	@scripts/find-python --lambda >/dev/null || { echo "make: Python 3.13 not found (needed by sam build and make test: Lambda runs python3.13); install it, e.g. 'pyenv install 3.13' or your system's python3.13 package, then run again. make local needs only Python 3.11+."; exit 1; }

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

# checkov and cfn-lint-serverless fail on any finding; a finding is fixed in template.yaml or
# suppressed there, in the resource's Metadata, with its reason. --skip-download keeps checkov offline.
template-lint: $(VENV)/.installed $(SAM_VENV)/.installed $(SCAN_VENV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml
	$(SCAN_VENV)/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(SCAN_VENV)/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download

build: need-lambda-python $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam build --template template.yaml

# Build, then deploy with this project's own SAM CLI (no `sam` on PATH needed): `sam deploy --guided`
# asks every parameter (docs/deploy.md has each answer) and saves the answers in samconfig.toml.
# GUIDED= deploys with the saved answers, without questions; ARGS passes more options to sam deploy,
# e.g. make deploy GUIDED= ARGS="--parameter-overrides ScheduleState=ENABLED". The region is yours
# (your AWS configuration's, or the one you answer): the eu-west-1 this Makefile sets for `sam validate`
# is not passed on unless it came from your environment.
GUIDED ?= --guided
ARGS ?=
deploy: build
	$(if $(filter file,$(origin AWS_DEFAULT_REGION)),env -u AWS_DEFAULT_REGION )$(SAM_VENV)/bin/sam deploy $(GUIDED) $(ARGS)

pytest: $(VENV)/.installed
	$(BIN)/pytest --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

# The whole suite, writing the reliability table it prints into docs/reliability.md.
reliability: $(VENV)/.installed
	UPDATE_RELIABILITY_TABLE=1 $(BIN)/pytest

# The performance tables of docs/reliability.md: ours against a bare boto3/requests baseline (bench/), in one run;
# `sam build` first, for the package sizes. Prints the figures and rewrites the table.
bench: $(VENV)/.installed build
	$(BIN)/python -m bench.run

$(VENV)/.installed: requirements-dev.txt layers/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

$(SCAN_VENV)/.installed: requirements-scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $@

clean:
	rm -rf $(VENV) $(SAM_VENV) $(SCAN_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
