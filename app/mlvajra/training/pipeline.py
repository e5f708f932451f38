"""The scikit-learn pipeline mlvajra trains: preprocessing and model in one object."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlvajra.artifact import InputSpec, Task

N_ESTIMATORS = 100
MAX_LEAF_NODES = 256
"""Bounds each tree whatever the row count: unbounded trees on 50,000 rows wrote a 345 MB
model.joblib and took 610 MB per serving worker."""
ROWS_PER_TREE = 20_000
"""Each tree is grown on at most about this many bootstrap rows, so training time stops growing
with the data (README, "Performance": bench/train.py)."""


def build_pipeline(
    inputs: list[InputSpec], task: Task, seed: int, rows: int | None = None
) -> Pipeline:
    """Median imputation for numbers, one-hot for text (unknown categories ignored), a forest.

    Numbers are not scaled: trees are invariant to it, and a float64 scaler in front of float32
    trees is what made ONNX probabilities drift from scikit-learn's (README, "The CLI"). The
    forest is bounded in leaves per tree and, with `rows` (the training table's), in rows per tree.
    """
    numeric = [spec.name for spec in inputs if spec.type != "string"]
    text = [spec.name for spec in inputs if spec.type == "string"]
    transformers = []
    if numeric:
        transformers.append(("numeric", SimpleImputer(strategy="median"), numeric))
    if text:
        # Missing text arrives as the MISSING_CATEGORY string, so it is a category of its own.
        transformers.append(
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), text)
        )
    # A fraction, not a count: cross-validation fits on fewer rows than the final fit.
    max_samples = ROWS_PER_TREE / rows if rows and rows > ROWS_PER_TREE else None
    forest = RandomForestClassifier if task == "classification" else RandomForestRegressor
    model = forest(
        n_estimators=N_ESTIMATORS,
        max_leaf_nodes=MAX_LEAF_NODES,
        max_samples=max_samples,
        random_state=seed,
        n_jobs=1,
    )
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("model", model)])
