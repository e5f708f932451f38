"""`mlvajra.package` and `mlvajra.train` with the user's own pipeline: what they record, what
they refuse (one line each), the metric scoped up front and the baselines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlvajra
from mlvajra.errors import MlvajraError
from mlvajra.folder import read_manifest
from mlvajra.training.scoring import metric_from_record


def _frame(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=rows),
            "count": rng.integers(0, 5, size=rows),
            "label": np.where(x + 0.3 * rng.normal(size=rows) > 0, "yes", "no"),
        }
    )


def _fitted(frame: pd.DataFrame) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(
        frame.drop(columns="label"), frame["label"]
    )


def test_package_records_inputs_metric_and_both_baselines(tmp_path: Path) -> None:
    frame = _frame()
    packaged = mlvajra.package(
        _fitted(frame[:80]), frame[80:], "label", name="churn", models_root=tmp_path
    )
    assert packaged.folder == tmp_path / "churn" / "1"
    manifest = read_manifest(packaged.folder)
    assert [(s.name, s.type, s.dtype) for s in manifest.inputs] == [
        ("x", "number", "float64"),
        ("z", "number", "float64"),
        ("count", "integer", "int64"),
    ]
    assert manifest.classes == ["no", "yes"]
    assert manifest.metric is not None
    assert (manifest.metric.name, manifest.metric.source) == ("f1_macro", "mlvajra")
    assert [(b.name, b.estimator) for b in manifest.baselines] == [
        ("dummy", "DummyClassifier"),
        ("linear", "LogisticRegression"),
    ]
    assert {b.fitted_on for b in manifest.baselines} == {"evaluation rows"}
    assert manifest.baseline_metrics == manifest.baselines[0].metrics
    assert manifest.metrics.value > manifest.baseline_metrics.value
    assert (manifest.training.fitted_by, manifest.training.test_rows) == ("user", 40)
    assert packaged.manifest == manifest


class _NoPredict:
    def fit(self, features: object, target: object) -> _NoPredict:
        return self


@pytest.mark.parametrize(
    ("pipeline", "holdout", "target", "message"),
    [
        (
            make_pipeline(StandardScaler(), LogisticRegression()),
            None,
            "label",
            "this Pipeline is not fitted: fit it first, or let mlvajra.train",
        ),
        (_NoPredict(), None, "label", "_NoPredict is not a scikit-learn estimator (no predict)"),
        ("fitted", None, "churned", "target column 'churned' not found; columns: ['x', 'z'"),
        (
            "fitted",
            "text in x",
            "label",
            "step 'standardscaler' (StandardScaler) fails on the evaluation rows: ValueError",
        ),
        ("fitted", "no z", "label", "X_holdout lacks the columns the pipeline was fitted with"),
    ],
    ids=["unfitted", "not-an-estimator", "target-missing", "predict-fails", "column-missing"],
)
def test_package_refuses_in_one_line(
    pipeline: Any, holdout: str | None, target: str, message: str, tmp_path: Path
) -> None:
    frame = _frame()
    rows = frame[80:]
    if holdout == "text in x":
        rows = rows.assign(x="n/a")
    elif holdout == "no z":
        rows = rows.drop(columns="z")
    fitted = _fitted(frame[:80]) if pipeline == "fitted" else pipeline
    with pytest.raises(MlvajraError) as refused:
        mlvajra.package(fitted, rows, target, name="m", models_root=tmp_path)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)
    assert not list(tmp_path.rglob("manifest.json"))


def test_train_fits_the_users_pipeline_and_gates_on_the_dummy(tmp_path: Path) -> None:
    frame = _frame(200)
    unfitted = make_pipeline(StandardScaler(), LogisticRegression())
    trained = mlvajra.train(unfitted, frame, target="label", name="own", models_root=tmp_path)
    manifest = trained.manifest
    assert manifest.training.estimator == "LogisticRegression"
    assert (manifest.training.train_rows, manifest.training.test_rows) == (160, 40)
    assert {b.fitted_on for b in manifest.baselines} == {"training rows"}
    assert manifest.metrics.cv_mean is not None
    assert trained.metrics.value > trained.baselines[0].metrics.value
    noise = frame.assign(label=np.where(np.arange(200) % 10 == 0, "rare", "common"))
    with pytest.raises(MlvajraError, match="does not beat the baseline on held-out data"):
        mlvajra.train(unfitted, noise, target="label", name="noise", models_root=tmp_path)
    kept = mlvajra.train(
        unfitted,
        noise,
        target="label",
        name="noise",
        models_root=tmp_path,
        allow_worse_than_baseline=True,
    )
    assert kept.folder.name == "1"


def test_a_user_metric_is_recorded_and_scores_again_from_the_record(tmp_path: Path) -> None:
    (tmp_path / "house_metrics.py").write_text(
        "def miss_rate(y_true, y_pred):\n"
        "    return float(sum(t != p for t, p in zip(y_true, y_pred)) / len(y_true))\n"
        "miss_rate.greater_is_better = False\n"
    )
    frame = _frame()
    fitted = _fitted(frame[:80])
    name = f"{tmp_path / 'house_metrics.py'}:miss_rate"
    packaged = mlvajra.package(
        fitted, frame[80:], "label", name="m", models_root=tmp_path, metric=name
    )
    record = packaged.manifest.metric
    assert record is not None
    assert (record.source, record.greater_is_better) == ("user", False)
    metric = metric_from_record(record)
    holdout = frame[80:]
    again = metric.score(holdout["label"], fitted.predict(holdout.drop(columns="label")))
    assert again == packaged.metrics.value
    assert packaged.metrics.value < packaged.baselines[0].metrics.value


def test_any_scikit_learn_scorer_name_and_no_other(tmp_path: Path) -> None:
    frame = _frame()
    fitted = _fitted(frame[:80])
    packaged = mlvajra.package(
        fitted, frame[80:], "label", name="m", models_root=tmp_path, metric="neg_log_loss"
    )
    assert packaged.manifest.metric is not None
    assert packaged.manifest.metric.response == "predict_proba"
    assert -1.0 < packaged.metrics.value < 0  # a log loss, sign flipped: greater is better
    with pytest.raises(MlvajraError, match="unknown metric 'lift': use f1_macro"):
        mlvajra.package(fitted, frame[80:], "label", name="m", models_root=tmp_path, metric="lift")


def test_import_mlvajra_loads_neither_scikit_learn_nor_pandas() -> None:
    script = "import sys, mlvajra; print(sorted({'sklearn', 'pandas'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
