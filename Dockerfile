# syntax=docker/dockerfile:1
# The serving image: gunicorn + uvicorn workers + onnxruntime. No scikit-learn, no pandas: an ONNX
# artifact needs neither (a joblib artifact does: build with MLVAJRA_EXTRAS=joblib). The artifact
# is mounted read-only at /models (see README, Deployment).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies from a hashed lock only (`make lock`): every file pip fetches must match a sha256 in
# it, and pip refuses anything the lock does not list. The serving lock by default (ONNX
# artifacts); `--build-arg MLVAJRA_EXTRAS=joblib` takes locks/joblib.txt, which adds what a joblib
# artifact needs (scikit-learn, joblib, pandas; `joblib,boost`: LightGBM and XGBoost too). The
# venv gets no pip and no setuptools of its own.
COPY locks ./locks
ARG MLVAJRA_EXTRAS=""
RUN python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-compile --require-hashes \
        -r "locks/${MLVAJRA_EXTRAS:-serving}.txt"
# mlvajra itself, built here with the locked setuptools, installed without touching the pins.
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-compile --require-hashes -r locks/build.txt \
    && pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && pip --python /opt/venv/bin/python install --no-compile --no-deps /wheels/mlvajra-*.whl
# Bytecode for every module, made once here: the runtime writes none (PYTHONDONTWRITEBYTECODE, a
# read-only user), so without it every start compiled each module it imports again (the cold start
# of bench/servers.py 1.0 -> 3.1 s here, emulated). unchecked-hash: the image's files never change.
RUN python -m compileall -q -j 0 --invalidation-mode unchecked-hash -x '/tests?/' /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    MLVAJRA_MODEL_DIR=/models/penguins/1 \
    MLVAJRA_DOCS=false \
    PROMETHEUS_MULTIPROC_DIR=/tmp/mlvajra-metrics
WORKDIR /srv/mlvajra
# The base image's own pip, setuptools 65.5 and wheel (old advisories) serve nothing here.
RUN python -m pip uninstall --no-cache-dir --yes pip setuptools wheel \
    && python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        "$(python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
# No curl in a slim image: the package's own probe asks /ready.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "mlvajra.serving.probe", "/ready"]
CMD ["gunicorn", "-c", "python:mlvajra.serving.gunicorn_conf", "mlvajra.serving.main:app"]
