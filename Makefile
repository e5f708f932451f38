# One command per job; the README and .ci/run use the same ones.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
MODELS ?= models
MODEL_DIR ?= $(MODELS)/penguins/1

.PHONY: install run train lint test tools bench bench-batch clean

$(BIN)/mlvajra: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/mlvajra

$(MODEL_DIR)/manifest.json: | $(BIN)/mlvajra
	$(BIN)/mlvajra train --models-root $(MODELS) --version 1

train: $(MODEL_DIR)/manifest.json

run: install train
	$(BIN)/mlvajra serve --model-dir $(MODEL_DIR) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint tools
	$(BIN)/pytest

# wrk and nginx come from Debian; installed here when missing and allowed (root), as .ci/run does.
tools:
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
		{ [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq nginx-light wrk; } || \
		{ echo "install wrk and nginx (Debian: apt-get install wrk nginx-light)"; exit 1; }

bench: install train tools
	$(BIN)/python bench/run.py --model-dir $(MODEL_DIR)

# Batch scoring: rows/s CSV -> Parquet, and peak RSS for 1M vs 10M rows (a few minutes).
bench-batch: install train
	$(BIN)/python bench/batch.py --model-dir $(MODEL_DIR)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
