"""`/docs` offline: no external URL, every asset from the service; the example is a real record."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.folder import read_manifest
from mlvajra.inputs import neutral_record
from mlvajra.serving.factory import create_app

_REFERENCES = re.compile(r"""(?:src|href|url)\s*[:=(]\s*['"]([^'"]+)['"]""")


def _example(client: TestClient) -> object:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    return body["example"]


def test_docs_page_needs_nothing_but_the_service(module_client: TestClient) -> None:
    page = module_client.get("/docs")
    assert page.status_code == 200
    assert "//" not in re.sub(r"https?://(?:127\.0\.0\.1|localhost|testserver)", "", page.text)
    references = set(_REFERENCES.findall(page.text))
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= references
    for url in references:
        asset = module_client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert module_client.get("/docs/assets/redoc.standalone.js").status_code == 404
    assert module_client.get("/docs/assets/..%2Fcore.py").status_code == 404


def test_request_example_is_a_held_out_training_record(
    module_client: TestClient, artifact_dir: Path
) -> None:
    example = read_manifest(artifact_dir).input_example
    assert example is not None
    assert None not in example.values()
    assert _example(module_client) == {"instances": [example]}
    # The example /docs offers is a body /predict takes.
    response = module_client.post("/predict", json=_example(module_client))
    assert response.status_code == 200, response.text


def test_artifacts_without_an_example_show_a_neutral_one(artifact_copy: Path) -> None:
    path = artifact_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["input_example"]
    path.write_text(json.dumps(manifest))
    with TestClient(create_app(Settings(model_dir=artifact_copy))) as client:
        neutral = neutral_record(read_manifest(artifact_copy).inputs)
        assert _example(client) == {"instances": [neutral]}
        assert client.post("/predict", json=_example(client)).status_code == 200
