# Every target builds its own virtual environment on a fresh machine (.venv), then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[cli,api,test,lint]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ekstwin run examples/scenarios/spot-to-spot.yaml

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/pytest -m slow -q tests/slow
	$(BIN)/ekstwin bench karpenter-scheduling --pods 1000
	$(BIN)/ekstwin bench karpenter-scheduling --pods 5000
	$(BIN)/ekstwin bench karpenter-scheduling --pods 20000
	$(BIN)/ekstwin bench karpenter-scheduling --pods 20000 --workload generic
	$(BIN)/ekstwin bench karpenter-scheduling --pods 20000 --workload generic --max-vcpu 16
	$(BIN)/python tests/unit/scheduling/bench_scheduling.py
	time $(BIN)/ekstwin run examples/scenarios/zonal-spread-3k.yaml --quiet
	$(BIN)/ekstwin bench spot-to-spot-day
	$(BIN)/ekstwin bench consolidation
	$(BIN)/ekstwin bench import-whatif

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
