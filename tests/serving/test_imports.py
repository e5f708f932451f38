"""The serving install needs neither scikit-learn nor pandas to answer /predict for ONNX."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.fixtures import REFERENCE_ROWS

TRAINING_ONLY = ("sklearn", "pandas", "skl2onnx", "onnx", "joblib", "scipy", "pyarrow")

# A child interpreter in which importing any training-only package fails, as it would in the
# slim serving image; it serves the artifact in process and prints what it got.
_SCRIPT = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ImportError(f"{{name}} is not installed in the serving image")
            return None

    sys.meta_path.insert(0, Block())

    from fastapi.testclient import TestClient
    import mlvajra.cli  # the CLI module too: `mlvajra serve` must start in the slim image
    from mlvajra.config import Settings
    from mlvajra.serving.factory import create_app

    with TestClient(create_app(Settings(model_dir={model_dir!r}))) as client:
        response = client.post("/predict", json={{"instances": [{row!r}]}})
        print(response.status_code, response.json()["predictions"][0]["label"])
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r})
    print("loaded:", loaded)
    """
)


def _serve_without_training_packages(model_dir: Path) -> subprocess.CompletedProcess[str]:
    script = _SCRIPT.format(
        blocked=set(TRAINING_ONLY), model_dir=str(model_dir), row=REFERENCE_ROWS[0][0]
    )
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_onnx_artifact_serves_without_training_packages(artifact_dir: Path) -> None:
    result = _serve_without_training_packages(artifact_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["200 Adelie", "loaded: []"]


def test_the_block_is_real(artifact_dir: Path, tmp_path: Path) -> None:
    """Control: a joblib artifact needs scikit-learn, so the same child must fail on it."""
    copy = Path(shutil.copytree(artifact_dir, tmp_path / "joblib"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format"] = "joblib"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = _serve_without_training_packages(copy)
    assert result.returncode != 0
    assert "not installed in the serving image" in result.stderr


# What a worker would import at start only to serve its first prediction if it were eager: the
# FastAPI app is built on the first request that needs it (mlvajra.serving.asgi), and these with it.
FIRST_USE_ONLY = ("fastapi", "email_validator", "opentelemetry", "typer")

# A child worker's start: gunicorn's app module, a prediction, the probes and a scrape (none
# needs FastAPI), then a request that does.
_START_SCRIPT = textwrap.dedent(
    """
    import sys

    from starlette.testclient import TestClient

    def loaded():
        return sorted({{m.split(".")[0] for m in sys.modules}} & {heavy!r})

    import mlvajra.serving.main

    print("imported:", loaded())
    with TestClient(mlvajra.serving.main.app) as client:
        status = client.post("/predict", json={{"instances": [{row!r}]}}).status_code
        print("predicted:", status, loaded())
        probes = [client.get(path).status_code for path in ("/health", "/ready", "/metrics")]
        print("probed:", probes, loaded())
        print("version:", client.get("/version").status_code, "fastapi" in sys.modules)
    """
)


def test_a_worker_imports_fastapi_only_when_a_request_needs_it(
    artifact_dir: Path, tmp_path: Path
) -> None:
    script = _START_SCRIPT.format(heavy=set(FIRST_USE_ONLY), row=REFERENCE_ROWS[0][0])
    environment = {
        **os.environ,
        "MLVAJRA_MODEL_DIR": str(artifact_dir),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "imported: []",
        "predicted: 200 []",
        "probed: [200, 200, 200] []",
        "version: 200 True",
    ]
