"""Serving fixtures: one in-process client shared by a module's requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.serving.factory import create_app


@pytest.fixture(scope="module")
def module_client(artifact_dir: Path) -> Iterator[TestClient]:
    """One in-process client for a whole module (the app is stateless per request)."""
    with TestClient(create_app(Settings(model_dir=artifact_dir))) as test_client:
        yield test_client
