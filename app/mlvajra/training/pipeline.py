"""The scikit-learn pipeline mlvajra trains: preprocessing and model in one object."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlvajra.artifact import InputSpec, Task

N_ESTIMATORS = 100


def build_pipeline(inputs: list[InputSpec], task: Task, seed: int) -> Pipeline:
    """Median imputation for numbers, one-hot for text (unknown categories ignored), a forest.

    Numbers are not scaled: trees are invariant to it, and a float64 scaler in front of float32
    trees is what made ONNX probabilities drift from scikit-learn's (README, "The CLI").
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
    model = (
        RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=seed, n_jobs=1)
        if task == "classification"
        else RandomForestRegressor(n_estimators=N_ESTIMATORS, random_state=seed, n_jobs=1)
    )
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("model", model)])
