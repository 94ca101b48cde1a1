# The two commands of the README. Both install the project first (a no-op once installed).
PYTHON ?= python3

.PHONY: install run test bench

install:
	$(PYTHON) -m pip install --quiet -e ".[dev]"

run: install
	$(PYTHON) -m envs.demo

test: install
	$(PYTHON) -m pytest -n 2 -q

bench: install
	$(PYTHON) benchmarks/env_throughput.py
