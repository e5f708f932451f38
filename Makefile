# One command per job; the README and .ci/run use the same ones.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
MODELS ?= models
MODEL_DIR ?= $(MODELS)/penguins/1

.PHONY: install run train lint test bench bench-batch clean

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

test: lint
	$(BIN)/pytest

bench: install train
	$(BIN)/python bench/run.py --model-dir $(MODEL_DIR)

# Batch scoring: rows/s CSV -> Parquet, and peak RSS for 1M vs 10M rows (a few minutes).
bench-batch: install train
	$(BIN)/python bench/batch.py --model-dir $(MODEL_DIR)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
