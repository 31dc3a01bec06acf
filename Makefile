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

.PHONY: help run test lint format system-deps clean

help:
	@echo "make run          serve the chat at http://$(HOST):$(PORT) (in-process broker, no Redis)"
	@echo "make test         ruff + the whole pytest suite (installs redis-server and Chromium if missing)"
	@echo "make lint         ruff only"
	@echo "make synth        synthesize every stack into cdk.out/ (STAGE=dev|staging|prod)"
	@echo "make diff         cdk diff against the deployed stacks (STAGE=...)"
	@echo "make deploy       cdk deploy (STAGE=...)"
	@echo "make snapshots    refresh the synth snapshot files"
	@echo "make bench        run the benchmark scenarios, write bench/results and docs/benchmarks.md"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamp files make installs incremental: they re-run only when a requirements file changes.
$(VENV)/.runtime-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# redis-server and Chromium come from Debian's packages; installed only when missing.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-tools"; \
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

format: $(VENV)/.dev-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(VENV)/.dev-deps system-deps lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# --- infrastructure (CDK) -----------------------------------------------------
# --- end infrastructure -------------------------------------------------------

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .ruff_cache
