# One command per job; the README and .ci/run use the same ones.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
MODELS ?= models
MODEL_DIR ?= $(MODELS)/penguins/1
TEST_WORKERS ?= 2

.PHONY: lock install install-dev clients run train lint test tools bench bench-scale bench-batch bench-forest bench-report bench-abuse bench-pipelines bench-train bench-monitoring clean

# Serving and training the default model only: what `make run` needs.
$(VENV)/.installed-train: pyproject.toml
	@echo "make: creating $(VENV) and installing mlvajra with the [train] extra (first run: about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train]'
	touch $@

# Everything the tests and benchmarks use on top: Spark, linters, container checks.
$(VENV)/.installed-dev: $(VENV)/.installed-train
	@echo "make: installing the [dev] extra into $(VENV) (Spark, linters, container checks)"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed-train
install-dev: $(VENV)/.installed-dev

# KServe's and MLServer's clients for tests/topology/test_v2_clients.py: their pins conflict with the
# service's, so a virtualenv of their own that sees $(VENV)'s packages and adds requirements-clients.txt
# without resolving (why: that file's header). About 150 MB; never part of the serving install.
CLIENTS_VENV ?= .venv-clients
$(CLIENTS_VENV)/.installed: requirements-clients.txt | $(VENV)/.installed-dev
	@echo "make: creating $(CLIENTS_VENV) (KServe and MLServer clients, for the tests)"
	rm -rf $(CLIENTS_VENV)
	$(BIN)/python -m venv --without-pip $(CLIENTS_VENV)
	$(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		> "$$($(CLIENTS_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/dev-venv.pth"
	$(BIN)/pip --python $(CLIENTS_VENV)/bin/python install --quiet --no-deps -r requirements-clients.txt
	touch $@

clients: $(CLIENTS_VENV)/.installed

# The serving image's hashed locks (the Dockerfile installs them with --require-hashes), one per
# MLVAJRA_EXTRAS value ("", joblib, joblib,boost), and the wheel build's setuptools. Needs PyPI
# and uv ([dev]); tests/topology/test_image.py checks them against pyproject.toml offline.
LOCK = $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--index-url https://pypi.org/simple --custom-compile-command 'make lock'
lock:
	$(LOCK) pyproject.toml -o locks/serving.txt
	$(LOCK) pyproject.toml --extra joblib -o locks/joblib.txt
	$(LOCK) pyproject.toml --extra joblib --extra boost -o locks/joblib,boost.txt
	$(LOCK) locks/build.in -o locks/build.txt

$(MODEL_DIR)/manifest.json: | $(VENV)/.installed-train
	@echo "make: no $(MODEL_DIR): training the built-in penguins model"
	$(BIN)/mlvajra train --models-root $(MODELS) --version $(notdir $(MODEL_DIR))

train: $(MODEL_DIR)/manifest.json

run: install train
	@echo "make: serving $(MODEL_DIR) on http://127.0.0.1:$(PORT) (the CLI is $(BIN)/mlvajra)"
	$(BIN)/mlvajra serve --model-dir $(MODEL_DIR) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two pytest workers (pytest-xdist): most tests wait on real processes, so two share two cores well.
test: lint tools clients
	$(BIN)/pytest -n $(TEST_WORKERS)

# wrk, nginx, Prometheus (promtool checks the rules in deploy/prometheus/) and the explore tests'
# headless browser come from Debian; installed here when missing and allowed (root), as .ci/run
# does. Nothing downloads a browser.
TOOLS := wrk nginx promtool chromium chromedriver
tools:
	@for tool in $(TOOLS); do command -v $$tool >/dev/null || missing=1; done; [ -z "$$missing" ] || \
		{ [ "$$(id -u)" = 0 ] && apt-get update -qq && \
			apt-get install -y -qq nginx-light wrk prometheus chromium chromium-driver; } || \
		{ echo "install wrk, nginx, prometheus and chromium (Debian: apt-get install wrk" \
			"nginx-light prometheus chromium chromium-driver)"; exit 1; }

bench: install-dev train tools
	$(BIN)/python bench/run.py --model-dir $(MODEL_DIR)

# Throughput, p99 and CPU per request against records per request and workers (about 2 minutes).
bench-scale: install-dev train tools
	$(BIN)/python bench/scale.py --model-dir $(MODEL_DIR)

# Batch scoring: rows/s CSV -> Parquet, and peak RSS for 1M vs 10M rows (a few minutes).
bench-batch: install-dev train
	$(BIN)/python bench/batch.py --model-dir $(MODEL_DIR)

# The forest alone: onnxruntime CPU s per million rows by setting and row order (about 2 minutes).
bench-forest: install-dev train
	$(BIN)/python bench/forest.py --model-dir $(MODEL_DIR)

# `mlvajra report` on 1M labelled rows: wall time and peak RSS against 100k rows.
bench-report: install-dev train
	$(BIN)/python bench/report.py --model-dir $(MODEL_DIR)

# Hostile bodies within the limits vs a valid 1,000-record request, through real gunicorn.
bench-abuse: install-dev train
	$(BIN)/python bench/abuse.py --model-dir $(MODEL_DIR)

# Each pipeline of the matrix: format chosen and why, parity, size, one-record p50 (README table).
bench-pipelines: install-dev tools
	$(BIN)/python bench/pipelines.py

# The built-in pipeline at 10k, 100k and 1M rows: train time, peak RSS, artifact size, worker RSS.
bench-train: install-dev
	$(BIN)/python bench/train.py

# Drift counting: c=32 throughput with monitoring on vs off in one run, and us per record.
bench-monitoring: install-dev train tools
	$(BIN)/python bench/monitoring.py --model-dir $(MODEL_DIR)

clean:
	rm -rf $(VENV) $(CLIENTS_VENV) .mypy_cache .ruff_cache .pytest_cache
