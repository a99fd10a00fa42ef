# Every target creates the virtual environment it needs from pyproject.toml.
# Python: 3.12 where it is found (on the PATH or installed by pyenv), since efax, the
# toolkit's independent test reference, needs >= 3.12; else python3 (>= 3.11).
# Override with `make PYTHON=/path/to/python test`.
ifndef PYTHON
PYTHON := $(firstword $(foreach p,python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3) python3,\
	$(shell $(p) -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && echo $(p))))
endif
# Test processes (pytest-xdist): one per core, at most 4; each test file runs in one process.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(4, len(os.sched_getaffinity(0))))' 2>/dev/null || echo 2)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-all demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile

test-all: $(STAMP)
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile -m ''

demo: $(STAMP)
	$(BIN)/nnef demo

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/cavi.py
	$(BIN)/python benchmarks/cde.py
	$(BIN)/python benchmarks/cde_peers.py $(if $(SMOLCDE_SRC),--smolcde-src $(SMOLCDE_SRC))

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) artifacts data/*.pkl data/*.meta.json data/*.partial
