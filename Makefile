# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest soak bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clickfono-notifier demo

lint: $(STAMP)
	$(BIN)/ruff check notifier tests benchmarks
	$(BIN)/ruff format --check notifier tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy notifier

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

soak: $(STAMP)
	$(BIN)/python -m pytest -q tests/soak --soak-seconds=1200

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_validate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
