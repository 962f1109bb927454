# Two commands on a fresh machine: `make demo` (set up, run the sample request) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/var/dagster_home
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := 1

.PHONY: setup demo test ui lint system-deps clean

# torch 2.13.0 first: it is the CPU build on this disk, and the project's torch range accepts it,
# so pip pulls no multi-GB CUDA build. Then the report's numba kernels are compiled into numba's cache,
# so the first run after the install does not compile them.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -c 'from synth_pipelines.quality.attacks import compile_kernels; compile_kernels()'
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: deploy/local/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp deploy/local/dagster.yaml $@

setup: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

demo: setup
	$(BIN)/synth-pipelines run requests/examples/adult-demo.json

system-deps:
	bash scripts/install_system_deps.sh

test: setup system-deps lint
	$(BIN)/pytest

# Loopback by default: the UI has no login of its own (deploy/ puts it behind nginx basic auth).
HOST ?= 127.0.0.1
PORT ?= 3000

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

lint: setup
	$(BIN)/ruff check synth_pipelines synth_pipelines_tests benchmarks
	$(BIN)/ruff format --check synth_pipelines synth_pipelines_tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf var $(VENV)
