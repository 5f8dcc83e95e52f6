# Two commands on a fresh machine (see README):
#   make demo   - create venv/, install, run the main closed-loop job on the embedded default
#   make test   - create venv/, install with test extras, run the fast test tier
PYTHON ?= python3
VENV := venv
PIP := $(VENV)/bin/pip
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-all

.PHONY: setup demo validate test test-all bench lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e ".[all]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/atom demo

validate: setup
	$(VENV)/bin/atom worlds validate

test: setup
	PYTHONDONTWRITEBYTECODE=1 $(PY) -m pytest -q -n 2 --dist loadfile

test-all: setup
	PYTHONDONTWRITEBYTECODE=1 $(PY) -m pytest -q -n 2 --dist loadfile -m "slow or not slow"

bench: setup
	$(PY) benchmarks/bench_lbm.py
	$(PY) benchmarks/bench_wedge.py
	$(PY) benchmarks/bench_discovery.py

clean:
	rm -rf $(VENV) build dist .pytest_cache
