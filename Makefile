# Two commands on a fresh machine: `make run` (demo on the built-in simulator) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# A fresh demo each time (data/demo is deleted first): DURATION wall seconds (default 180), SPEED
# plant seconds per second. The demo ends by printing where its data is and what to try next.
run: $(STAMP)
	@echo "make run starts fresh: deleting data/demo (copy it elsewhere to keep a run)"
	rm -rf data/demo
	$(BIN)/blackmass demo --data-dir data/demo --port $${PORT:-9464} --duration $${DURATION:-180} --speed $${SPEED:-600}

# CI (.ci/run) calls `make test`: the linters we claim, then the suite on every core (pytest-xdist;
# WORKERS=1 for one process). Whole files go to one worker (--dist loadfile): a module's demo runs once.
# Files go out in collection order, the demo and server files first (tests/conftest.py).
test: $(STAMP) check
	./scripts/ensure-tools.sh
	$(BIN)/pytest -q -n $${WORKERS:-auto} --dist loadfile --no-loadscope-reorder --durations=10

# Benchmarks print their figures and write benchmarks/results.json (not timed tests).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_replay.py
	$(BIN)/python benchmarks/bench_collector.py
	$(BIN)/python benchmarks/bench_reports.py
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_sources.py
	$(BIN)/python benchmarks/bench_web.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_http_reads.py

# Everything the style promises, in the order that fails fastest.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

lint: check

clean:
	rm -rf $(VENV) data
