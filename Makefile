# Every target creates and reuses .venv by itself: `make demo` and `make test`
# work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup test test-all demo bench lint format typecheck clean

setup: $(STAMP)

# torch first and pinned when none is present: a bare `torch` requirement would make
# pip pick the newest (multi-GB CUDA) build. The metadata keeps torch>=2.2.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "torch==$(TORCH_VERSION)"
	$(PIP) install -q -e ".[dev]"
	$(PY) -m brenier.warmup  # compile and cache the numba kernels now, not at the first call
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q -m "not slow and not gpu"

test-all: setup
	$(PY) -m pytest -q

demo: setup
	$(PY) -m brenier.demo

bench: setup
	$(PY) benchmarks/sinkhorn_accuracy.py

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

format: setup
	$(VENV)/bin/ruff format src tests benchmarks examples
	$(VENV)/bin/ruff check --fix src tests benchmarks examples

typecheck: setup
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
