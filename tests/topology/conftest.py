"""Topology fixtures: a second artifact version, and a one-record request body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlvajra.training.trainer import TrainOptions, train
from tests.fixtures import REFERENCE_ROWS


@pytest.fixture(scope="session")
def artifact_v2_dir(models_root: Path, artifact_dir: Path) -> Path:
    """penguins/2 next to penguins/1: same data, a different version to switch to."""
    assert artifact_dir.exists()  # version 1 first, so the trainer's numbering stays put
    return train(TrainOptions(models_root=models_root, version="2"))


@pytest.fixture
def one_record() -> dict[str, Any]:
    """A /predict body with one valid record."""
    return {"instances": [dict(REFERENCE_ROWS[0][0])]}
