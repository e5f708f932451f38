"""`mlvajra train --pipeline file.py:function` and `mlvajra package --pipeline fitted.joblib`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlvajra.cli import cli
from mlvajra.folder import read_manifest

runner = CliRunner()

MODEL_PY = textwrap.dedent(
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def build():
        return make_pipeline(StandardScaler(), LogisticRegression())
    """
)


def _data(rows: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "customer": range(1000, 1000 + rows),
            "x": x,
            "z": rng.normal(size=rows),
            "y": np.where(x > 0, "stay", "leave"),
        }
    )


def test_train_with_the_users_pipeline_file(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(MODEL_PY)
    _data().to_csv(tmp_path / "d.csv", index=False)
    args = [
        "train",
        "--pipeline",
        f"{tmp_path / 'model.py'}:build",
        "--data",
        str(tmp_path / "d.csv"),
    ]
    result = runner.invoke(cli, [*args, "--target", "y", "--models-root", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "warning: column 'customer' is unique per row (an id?)" in result.output
    assert "--drop customer" in result.output
    assert "baseline dummy (DummyClassifier):" in result.output
    assert "baseline linear (LogisticRegression):" in result.output
    manifest = read_manifest(tmp_path / "m" / "d" / "1")
    assert manifest.training.estimator == "LogisticRegression"
    assert [spec.name for spec in manifest.inputs] == ["customer", "x", "z"]


def test_package_a_fitted_joblib_file_warns_that_loading_runs_code(tmp_path: Path) -> None:
    frame = _data().drop(columns="customer")
    exec(compile(MODEL_PY, "model.py", "exec"), namespace := {})  # noqa: S102 - our own text
    fitted = namespace["build"]().fit(frame[["x", "z"]][:100], frame["y"][:100])
    joblib.dump(fitted, tmp_path / "churn.joblib")
    frame[100:].to_parquet(tmp_path / "holdout.parquet")
    args = ["package", "--pipeline", str(tmp_path / "churn.joblib")]
    args += ["--data", str(tmp_path / "holdout.parquet"), "--target", "y"]
    result = runner.invoke(cli, [*args, "--models-root", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("warning: loading ")
    assert "runs the code pickled in it" in result.output
    manifest = read_manifest(tmp_path / "m" / "churn" / "1")
    assert manifest.training.data_source.endswith("holdout.parquet")
    assert manifest.training.fitted_by == "user"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--pipeline", "model.py:nothing"], "--pipeline 'model.py:nothing': model.py"),
        (["train", "--pipeline", "model.py"], "expected file.py:function or module:function"),
        (["train", "--pipeline", "gone.py:build"], "no such file: gone.py"),
        (["train", "--metric", "roc_auc_not"], "unknown metric 'roc_auc_not'"),
        (["package", "--pipeline", "model.py", "--data", "d.csv", "--target", "q"], "cannot load"),
        (
            ["package", "--pipeline", "nope.joblib", "--data", "d.csv", "--target", "y"],
            "cannot read",
        ),
    ],
    ids=["no-function", "no-colon", "no-file", "bad-metric", "not-a-pickle", "no-pickle"],
)
def test_refusals_are_one_line(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("model.py").write_text(MODEL_PY)
    _data().to_csv("d.csv", index=False)
    extra = [] if args[0] == "package" else ["--data", "d.csv", "--target", "y"]
    result = runner.invoke(cli, [*args, *extra, "--models-root", "m"])
    assert result.exit_code == 1, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(error) == 1, result.output
    assert message in error[0]
    assert "Traceback" not in result.output
