"""In-process `stack up` as root makes its runtime folder in the test's tmp dir, not in /run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvajra.stack import runtime
from tests.fixtures import root_workers_env


@pytest.fixture(autouse=True)
def _runtime_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "PARENTS", (tmp_path,))
    for name, value in root_workers_env().items():
        monkeypatch.setenv(name, value)
