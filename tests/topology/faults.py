"""Small real fakes the gunicorn workers unpickle, and helpers that damage an artifact."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib

from mlvajra.artifact import JOBLIB_FILE, MANIFEST_NAME
from mlvajra.folder import sha256_file

TRIGGER = "explode-"
"""An `island` value starting with this makes `ExplodingPipeline` raise."""


class ExplodingPipeline:
    """Wraps a fitted pipeline; raises on the trigger, quoting the values as scikit-learn does."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.classes_ = pipeline.classes_

    def predict_proba(self, frame: Any) -> Any:
        """The wrapped pipeline's probabilities, or the error a strict encoder would raise."""
        values = frame["island"].tolist()
        if any(str(value).startswith(TRIGGER) for value in values):
            raise ValueError(f"Found unknown categories {values!r} in column 0 during transform")
        return self.pipeline.predict_proba(frame)


def rewrite_manifest(model_dir: Path, **changes: Any) -> None:
    """Change top-level manifest fields in place (the hashes are not redone)."""
    path = model_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def rehash(model_dir: Path, name: str) -> None:
    """Make the manifest's sha256 of `name` match the file again, whatever it now holds."""
    manifest = json.loads((model_dir / MANIFEST_NAME).read_text())
    rewrite_manifest(model_dir, files={**manifest["files"], name: sha256_file(model_dir / name)})


def log_entries(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a gunicorn log."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


class SlowPipeline:
    """Wraps a fitted pipeline; answers right, but `seconds` late on the trigger (a regression in
    speed only, on some records: the others keep the color's /metrics answering)."""

    def __init__(self, pipeline: Any, seconds: float) -> None:
        self.pipeline = pipeline
        self.classes_ = pipeline.classes_
        self.seconds = seconds

    def predict_proba(self, frame: Any) -> Any:
        """The wrapped pipeline's probabilities, after a sleep on the trigger."""
        if any(str(value).startswith(TRIGGER) for value in frame["island"].tolist()):
            time.sleep(self.seconds)
        return self.pipeline.predict_proba(frame)


def joblib_fake(source: Path, target: Path, version: str, wrap: Callable[[Any], Any]) -> Path:
    """A copy of `source` as version `version`, its joblib pipeline wrapped, served as joblib."""
    shutil.copytree(source, target)
    path = target / JOBLIB_FILE
    joblib.dump(wrap(joblib.load(path)), path)
    rehash(target, JOBLIB_FILE)
    rewrite_manifest(target, version=version, format="joblib")
    return target
