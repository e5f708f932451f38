"""HTTP hygiene in process: nosniff everywhere, HEAD probes, no Host reflected in a redirect."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.serving.requests import VALID, post, raw


@pytest.mark.parametrize("path", ["/health", "/ready", "/version", "/nowhere", "/predict"])
def test_every_response_says_nosniff(module_client: TestClient, path: str) -> None:
    response = module_client.get(path)
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


def test_predict_and_errors_say_nosniff(module_client: TestClient) -> None:
    for response in (post(module_client, raw(VALID)), post(module_client, b"{")):
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_head_probes_answer_200_without_a_body(module_client: TestClient, path: str) -> None:
    response = module_client.head(path)
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("path", ["/health/", "/ready/", "/version/", "/predict/"])
def test_a_trailing_slash_is_no_redirect_to_the_clients_host(
    module_client: TestClient, path: str
) -> None:
    response = module_client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "evil.example" not in response.text
    assert response.json()["error"]["code"] == "not_found"
