# Every target creates and reuses .venv by itself: `make demo` and `make test`
# work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: setup test test-all demo demo-table docs bench lint format typecheck clean

setup: $(STAMP)

# torch first and pinned when none is present: a bare `torch` requirement would make
# pip pick the newest (multi-GB CUDA) build. The metadata keeps torch>=2.2.
# --no-compile: Python compiles the bytecode of the modules it imports when it imports
# them, instead of pip compiling all of torch's up front (a third of the install's CPU).
define venv_with_torch
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q --no-compile "torch==$(TORCH_VERSION)"
endef

# Everything the tests, linters and docs examples need, and every compiled kernel.
# It covers the demo's needs too, hence its stamp.
$(STAMP): pyproject.toml
	$(venv_with_torch)
	$(PIP) install -q -e ".[dev]"
	$(PY) -m brenier.warmup --jobs 2  # compile and cache the numba kernels and KeOps formulas now
	touch $(STAMP) $(DEMO_STAMP)

# What `make demo` needs, and less, so that it finishes soon on a fresh clone: the
# `demo` extra (typer, rich, plotly, matplotlib) without the test suite's peers, and the
# numba kernels the demo calls, compiled in two processes at once. uv installs the extra
# in ~8 s where pip takes ~40 s; it does not read pip's configuration, which is why torch
# comes from pip first (uv keeps the torch it finds), and pip does it all where uv
# cannot be installed or fails.
$(DEMO_STAMP): pyproject.toml
	$(venv_with_torch)
	($(PIP) install -q uv && $(VENV)/bin/uv pip install -q --python $(PY) -e ".[demo]") \
		|| $(PIP) install -q --no-compile -e ".[demo]"
	$(PY) -m brenier.warmup --only demo --jobs 2
	touch $(DEMO_STAMP)

# The layer contracts of pyproject.toml first (an import circle or an upward import
# fails CI), then the tests.
test: setup
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -m "not slow and not gpu"

test-all: setup
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

# The report: OT between the bundled scans, written to demo-output/index.html.
demo: $(DEMO_STAMP)
	$(VENV)/bin/brenier demo --force

# The table of the first demo (Sinkhorn at decreasing blurs against the exact cost).
demo-table: setup
	$(PY) -m brenier.demo

bench: setup
	$(PY) benchmarks/sinkhorn_accuracy.py

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks examples docs/conf.py
	$(VENV)/bin/ruff format --check src tests benchmarks examples docs/conf.py

format: setup
	$(VENV)/bin/ruff format src tests benchmarks examples
	$(VENV)/bin/ruff check --fix src tests benchmarks examples

typecheck: setup
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache

DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP)
	$(PIP) install -q -e ".[docs]"
	touch $(DOCS_STAMP)

# The docs site (Sphinx + sphinx-gallery, warnings are errors): docs/_build/html.
docs: $(DOCS_STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
