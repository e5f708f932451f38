"""Fixtures: a real penguins artifact trained once per session, and clients for it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.serving.factory import create_app
from mlvajra.training.trainer import TrainOptions, train
from tests.fixtures import REFERENCE_ROWS


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding penguins/1, trained for real on the built-in data."""
    root = tmp_path_factory.mktemp("models")
    train(TrainOptions(models_root=root))
    return root


@pytest.fixture(scope="session")
def artifact_dir(models_root: Path) -> Path:
    """The default artifact version folder."""
    return models_root / "penguins" / "1"


@pytest.fixture
def artifact_copy(artifact_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the artifact, free to tamper with."""
    return Path(shutil.copytree(artifact_dir, tmp_path / "artifact"))


@pytest.fixture
def record() -> dict[str, Any]:
    """One valid penguin record (a fresh dict per test)."""
    return dict(REFERENCE_ROWS[0][0])


@pytest.fixture
def client(artifact_dir: Path) -> Iterator[TestClient]:
    """An in-process client of the service on the default artifact, lifespan run."""
    with TestClient(create_app(Settings(model_dir=artifact_dir))) as test_client:
        yield test_client
