"""Small real fakes that the gunicorn workers unpickle: a pipeline that fails on one category."""

from __future__ import annotations

from typing import Any

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
