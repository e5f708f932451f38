"""`mlvajra report` on the penguins model's own data, rendered by chromium and checked."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    r2_score,
    root_mean_squared_error,
)
from typer.testing import CliRunner

from mlvajra.cli import cli
from mlvajra.explain.report import classification_scores, regression_scores
from mlvajra.folder import read_manifest
from mlvajra.training.datasets import model_frame, penguins_csv
from mlvajra.training.trainer import TrainOptions, train

SCREENSHOTS = os.environ.get("MLVAJRA_SCREENSHOTS")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The penguins CSV with every 9th label moved to the next class, one invalid row and one
    without a label: a report with mistakes, a reject and a skip to count."""
    frame = pd.read_csv(penguins_csv())
    classes = sorted(frame["species"].unique())
    moved = frame.index % 9 == 0
    frame.loc[moved, "species"] = [
        classes[(classes.index(s) + 1) % 3] for s in frame.loc[moved, "species"]
    ]
    frame["bill_length_mm"] = frame["bill_length_mm"].astype(object)
    frame.loc[5, "bill_length_mm"] = "abc"
    frame.loc[6, "species"] = None
    path = tmp_path_factory.mktemp("report") / "labelled.csv"
    frame.to_csv(path, index=False)
    return path


def test_report_numbers_and_plots_in_the_browser(
    artifact_dir: Path, labelled: Path, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    out, figures_path = tmp_path / "report.html", tmp_path / "report.json"
    arguments = ["report", str(artifact_dir), "--data", str(labelled), "--out", str(out)]
    result = CliRunner().invoke(cli, [*arguments, "--json", str(figures_path)])
    assert result.exit_code == 0, result.output
    figures = json.loads(figures_path.read_text())

    frame = pd.read_csv(labelled).drop(index=[5, 6])
    manifest = read_manifest(artifact_dir)
    pipeline = joblib.load(artifact_dir / "model.joblib")
    predicted = pipeline.predict(model_frame(frame, manifest.inputs))
    expected_f1 = f1_score(frame["species"], predicted, average="macro")
    assert figures["data"] | {"seconds": 0} == {
        "location": str(labelled),
        "rows_in": 344,
        "rejected": 1,
        "rejected_by_field": {"bill_length_mm": 1},
        "unlabelled": 1,
        "reported": 342,
        "seconds": 0,
    }
    assert figures["metric"]["this_data"] == pytest.approx(expected_f1, abs=1e-12)
    labels = figures["confusion"]["labels"]
    assert (
        figures["confusion"]["counts"]
        == confusion_matrix(frame["species"], predicted, labels=labels).tolist()
    )

    browser.get(out.as_uri())
    metric = browser.find_element(By.CSS_SELECTOR, "table.metric tbody").text
    assert metric.split() == [
        "f1_macro",
        f"{expected_f1:.4f}",
        f"{manifest.metrics.value:.4f}",
        f"{manifest.baseline_metrics.value:.4f}",
    ]
    plots = browser.find_elements(By.CSS_SELECTOR, "svg.plot")
    assert len(plots) == 1 + len(manifest.inputs)  # calibration, one per input
    assert all(plot.size["width"] > 100 for plot in plots)
    assert browser.find_elements(By.CSS_SELECTOR, "table.worst tbody tr")
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    browser.set_window_size(1100, 2400)
    shot = Path(SCREENSHOTS or tmp_path) / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_report_without_the_target_column_is_one_line(artifact_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "unlabelled.csv"
    pd.read_csv(penguins_csv()).drop(columns=["species"]).to_csv(data, index=False)
    result = CliRunner().invoke(cli, ["report", str(artifact_dir), "--data", str(data)])
    assert result.exit_code == 1
    assert "error: the data has no target column 'species'" in result.output


def test_scores_from_counts_equal_scikit_learns() -> None:
    generator = np.random.default_rng(7)
    truth = generator.choice(["a", "b", "c"], 500)
    predicted = generator.choice(["a", "b", "d"], 500)  # "d" is never true, "c" never predicted
    counts = classification_scores(Counter(zip(truth, predicted, strict=True)))
    assert counts["metrics"]["f1_macro"] == pytest.approx(
        f1_score(truth, predicted, average="macro", zero_division=0.0)
    )
    y = generator.normal(100, 20, 1000)
    guess = y + generator.normal(0, 5, 1000)
    error = guess - y
    sums = (len(y), float(error @ error), float(np.abs(error).sum()), float(y.sum()), float(y @ y))
    scores = regression_scores(*sums)
    assert scores["rmse"] == pytest.approx(root_mean_squared_error(y, guess))
    assert scores["mae"] == pytest.approx(mean_absolute_error(y, guess))
    assert scores["r2"] == pytest.approx(r2_score(y, guess))


def test_a_regression_report_has_residual_plots_and_slices(
    tmp_path: Path, browser: webdriver.Chrome
) -> None:
    data = tmp_path / "mass.csv"
    pd.read_csv(penguins_csv()).dropna(subset=["body_mass_g"]).to_csv(data, index=False)
    model_dir = train(TrainOptions(data=data, target="body_mass_g", models_root=tmp_path)).folder
    out, figures_path = tmp_path / "mass.html", tmp_path / "mass.json"
    arguments = ["report", str(model_dir), "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(cli, [*arguments, "--json", str(figures_path)])
    assert result.exit_code == 0, result.output
    figures = json.loads(figures_path.read_text())
    frame = pd.read_csv(data)
    scored = frame.dropna(subset=["bill_length_mm"])  # the rows this model's inputs accept
    manifest = read_manifest(model_dir)
    pipeline = joblib.load(model_dir / "model.joblib")
    predicted = pipeline.predict(model_frame(scored, manifest.inputs))
    expected = root_mean_squared_error(scored["body_mass_g"], predicted)
    assert figures["data"]["reported"] == len(scored)
    assert figures["metrics"]["rmse"] == pytest.approx(expected, rel=1e-6)
    assert [row["category"] for row in figures["slices"]["species"]] == [
        "Adelie",
        "Chinstrap",
        "Gentoo",
    ]
    browser.get(out.as_uri())
    assert f"rmse {expected:.4f}" in browser.find_element(By.CSS_SELECTOR, "table.metrics").text
    titles = [plot.text for plot in browser.find_elements(By.CSS_SELECTOR, "svg.plot")]
    assert {"predicted against actual", "residuals"} <= {t.split("\n")[0] for t in titles}
