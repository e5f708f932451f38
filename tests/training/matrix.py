"""The pipelines a user brings without code of their own: tiny data, fitted, ready to package.

tests/training/test_pipeline_matrix.py proves each serves what it predicts; bench/pipelines.py
measures them.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC

ROWS = 160
HOLDOUT = 40
NUMERIC = ["a", "b", "c"]


@dataclass(frozen=True)
class Case:
    """One pipeline of the matrix and the data it is fitted and held out on."""

    name: str
    build: Callable[[], Any]
    task: str
    columns: list[str]
    integer_labels: bool = False
    needs: str | None = None
    """A package the estimator comes from, when it is an optional one (skipped without it)."""

    def available(self) -> bool:
        """Whether the optional package is importable here."""
        return self.needs is None or importlib.util.find_spec(self.needs) is not None

    def split(self) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
        """(x_train, y_train, x_holdout, y_holdout) of generated data for this case."""
        frame = generated_frame()
        features = frame[self.columns]
        if self.task == "regression":
            target = frame["value"]
        else:
            target = (
                frame["label"].map({"neg": 0, "pos": 1}) if self.integer_labels else frame["label"]
            )
        cut = ROWS - HOLDOUT
        return features[:cut], target[:cut], features[cut:], target[cut:]

    def fitted(self) -> tuple[Any, pd.DataFrame, pd.Series]:
        """The fitted pipeline and its held-out rows."""
        x_train, y_train, x_holdout, y_holdout = self.split()
        with warnings.catch_warnings():
            # scikit-learn 1.9 deprecates SVC(probability=True), the estimator issue 11 names;
            # it still fits and predicts the same until 1.11.
            warnings.filterwarnings(
                "ignore", "The `probability` parameter was deprecated", FutureWarning
            )
            return self.build().fit(x_train, y_train), x_holdout, y_holdout


def generated_frame() -> pd.DataFrame:
    """Three numbers and a colour; a label and a value that depend on them, with noise."""
    rng = np.random.default_rng(7)
    a, b, c = (rng.normal(size=ROWS) for _ in range(3))
    color = rng.choice(["red", "green", "blue"], size=ROWS)
    shift = pd.Series(color).map({"red": 1.0, "green": 0.0, "blue": -1.0}).to_numpy()
    score = a + 0.5 * b - 0.3 * c + 0.8 * shift + rng.normal(scale=0.5, size=ROWS)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "c": c,
            "color": color,
            "label": np.where(score > 0, "pos", "neg"),
            "value": 120.0 * score + 1000.0,
        }
    )


def _one_hot_then(model: Any) -> Pipeline:
    encode = ColumnTransformer(
        [("color", OneHotEncoder(handle_unknown="ignore"), ["color"])], remainder="passthrough"
    )
    return Pipeline([("encode", encode), ("model", model)])


def _polynomial_logistic() -> Pipeline:
    features = ColumnTransformer(
        [
            ("poly", make_pipeline(PolynomialFeatures(2), StandardScaler()), NUMERIC),
            ("color", OneHotEncoder(handle_unknown="ignore"), ["color"]),
        ]
    )
    return Pipeline([("features", features), ("model", LogisticRegression(max_iter=500))])


def _lgbm() -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1, random_state=0)


def _xgb() -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=20, max_depth=3, random_state=0)


WITH_COLOR = [*NUMERIC, "color"]
CASES = [
    Case(
        "scaler_logistic",
        lambda: make_pipeline(StandardScaler(), LogisticRegression()),
        "classification",
        NUMERIC,
    ),
    Case("onehot_ridge", lambda: _one_hot_then(Ridge()), "regression", WITH_COLOR),
    Case(
        "hist_gradient_boosting",
        lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0),
        "classification",
        NUMERIC,
    ),
    Case(
        "gradient_boosting_regressor",
        lambda: GradientBoostingRegressor(n_estimators=20, random_state=0),
        "regression",
        NUMERIC,
    ),
    Case(
        "svc_probability",
        lambda: make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)),
        "classification",
        NUMERIC,
    ),
    Case("k_neighbors", lambda: KNeighborsClassifier(5), "classification", NUMERIC),
    Case(
        "extra_trees_regressor",
        lambda: ExtraTreesRegressor(n_estimators=20, random_state=0),
        "regression",
        NUMERIC,
    ),
    Case("column_transformer_poly", _polynomial_logistic, "classification", WITH_COLOR),
    Case("lgbm", _lgbm, "classification", NUMERIC, integer_labels=True, needs="lightgbm"),
    Case("xgb", _xgb, "classification", NUMERIC, integer_labels=True, needs="xgboost"),
]


def expected_predictions(fitted: Any, rows: pd.DataFrame, task: str) -> list[dict[str, Any]]:
    """What the pipeline itself answers for `rows`, in the service's prediction shape."""
    if task == "regression":
        return [{"value": float(value)} for value in fitted.predict(rows)]
    classes = [value.item() if hasattr(value, "item") else value for value in fitted.classes_]
    return [
        {
            "label": label.item() if hasattr(label, "item") else label,
            "probabilities": dict(zip(map(str, classes), map(float, probabilities), strict=True)),
        }
        for label, probabilities in zip(
            fitted.predict(rows), fitted.predict_proba(rows), strict=True
        )
    ]
