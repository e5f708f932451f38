"""KServe's InferenceRESTClient and MLServer's codecs, unchanged, against a real gunicorn.

The clients run in `.venv-clients` (`make clients`), one subprocess each: see v2_clients.py.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import REFERENCE_ROWS
from tests.topology.processes import ROOT, Gunicorn

pytestmark = pytest.mark.topology
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
ROWS = [row for row, _ in REFERENCE_ROWS]
LABELS = [label for _, label in REFERENCE_ROWS]


@pytest.fixture(scope="module")
def server(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One gunicorn (one worker) for both clients."""
    with Gunicorn(artifact_dir, tmp_path_factory.mktemp("v2-clients"), workers=1) as gunicorn:
        yield gunicorn


def _run(client: str, server: Gunicorn) -> dict[str, Any]:
    """What the client saw, as its script prints it."""
    if not CLIENTS_PYTHON.exists():
        pytest.fail(f"{CLIENTS_PYTHON} is missing: run `make clients`")
    completed = subprocess.run(
        [
            str(CLIENTS_PYTHON),
            str(Path(__file__).with_name("v2_clients.py")),
            client,
            str(server.port),
        ],
        input=json.dumps(ROWS),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    seen: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return seen


def _refused(answer: dict[str, Any], status: int, field: str | None) -> None:
    """The V2 error shape: a one-line string under "error", the envelope's keys beside it."""
    assert answer["status"] == status, answer
    body = answer["body"]
    assert isinstance(body["error"], str)
    assert {"code", "details", "request_id"} <= set(body)
    if field is not None:
        assert [detail["field"] for detail in body["details"]] == [field], body


def test_kserve_inference_rest_client(server: Gunicorn) -> None:
    seen = _run("kserve", server)
    assert (seen["live"], seen["ready"], seen["model_ready"]) == (True, True, True)
    assert seen["unknown_model_ready"] is False
    for mode in ("json", "binary"):
        assert seen[mode] == {"id": "kserve-1", "labels": LABELS, "proba_shape": [3, 3]}, mode
    _refused(seen["bad"], 400, "year")
    _refused(seen["unknown"], 404, None)


def test_mlserver_codecs(server: Gunicorn) -> None:
    seen = _run("mlserver", server)
    assert seen["pandas"]["labels"] == LABELS
    assert seen["pandas"]["id"]  # the request id when the client sends none
    assert seen["numpy"] == {"id": "mlserver-np", "labels": LABELS, "proba_shape": [3, 3]}
    assert seen["missing"] == ["Adelie"]
    _refused(seen["bad"], 400, "year")
