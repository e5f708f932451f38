"""A user's own feature module, written to a folder outside every installed distribution."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

SOURCE = '''"""Feature code from a data scientist's project, pickled by reference."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


def shifted_squares(frame):
    values = np.asarray(frame, dtype=float)
    return np.column_stack([values, (values - 0.5) ** 2])


class CentredRatio(TransformerMixin, BaseEstimator):
    def fit(self, frame, y=None):
        self.centre_ = float(np.mean(frame["a"]))
        return self

    def transform(self, frame):
        return np.column_stack([frame["a"] - self.centre_, frame["b"] / (1.0 + frame["a"] ** 2)])
'''


def import_user_module(folder: Path, name: str) -> ModuleType:
    """Write the module as `folder/<name>.py` and import it, as the user's notebook does."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(SOURCE)
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
