"""Topology fixtures: a second artifact version, a one-record request body, a stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlvajra.training.trainer import TrainOptions, train
from tests.fixtures import REFERENCE_ROWS
from tests.topology.stacks import Stack


@pytest.fixture(scope="session")
def artifact_v2_dir(models_root: Path, artifact_dir: Path) -> Path:
    """penguins/2 next to penguins/1: same data, a different version to switch to."""
    assert artifact_dir.exists()  # version 1 first, so the trainer's numbering stays put
    return train(TrainOptions(models_root=models_root, version="2")).folder


@pytest.fixture
def one_record() -> dict[str, Any]:
    """A /predict body with one valid record."""
    return {"instances": [dict(REFERENCE_ROWS[0][0])]}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack that is always taken down, even when the test fails."""
    running = Stack(tmp_path / "stack")
    yield running
    if (running.state_dir / "state.json").exists():
        running.run("down")
