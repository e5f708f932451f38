"""The reference profile written at training, and the binning the service counts with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlvajra.artifact import MANIFEST_NAME, FeatureReference
from mlvajra.config import Settings
from mlvajra.folder import read_manifest
from mlvajra.inputs import MISSING_CATEGORY
from mlvajra.monitoring.binning import Binner, psi
from mlvajra.monitoring.profile import min_count
from mlvajra.serving.factory import create_app


def test_penguins_reference_bins_every_input(artifact_dir: Path) -> None:
    reference = read_manifest(artifact_dir).reference
    assert reference is not None
    assert reference.rows == 275
    features = reference.features
    # B = clamp(275 // 50, 4, 10) = 5 quantile bins plus below, above and missing.
    assert features["bill_length_mm"].bins == [
        "below", "b0", "b1", "b2", "b3", "b4", "above", MISSING_CATEGORY
    ]  # fmt: skip
    assert features["year"].kind == "categorical"  # 3 distinct values <= 5 bins
    assert features["year"].bins == ["2007", "2008", "2009", "__other__"]
    assert features["island"].bins[-1] == "__other__"  # island is never null in training
    assert features["sex"].bins[-2:] == ["__other__", MISSING_CATEGORY]
    for feature in [*features.values(), reference.prediction]:
        assert min(feature.ratios) > 0
        assert sum(feature.ratios) == pytest.approx(1.0)
        assert len(feature.ratios) == len(feature.bins)
    assert features["bill_length_mm"].min_count == 258
    assert reference.prediction.bins == ["Adelie", "Chinstrap", "Gentoo", "__other__"]


def test_min_count_matches_the_chi_square_bound() -> None:
    # chi2_0.99(4) = 13.28: 13.28 / (0.1 - 13.28 / 275) = 257.2 (research §2.1).
    assert min_count(5, 275) == 258
    assert 215 <= min_count(10, 10_000) <= 225
    assert min_count(10, 100) == 10**9  # too few training rows: never reported


NUMERIC = FeatureReference(
    kind="numeric",
    edges=[0.0, 1.0, 2.0, 3.0],
    bins=["below", "b0", "b1", "b2", "above", MISSING_CATEGORY],
    ratios=[1 / 6] * 6,
    min_count=1,
)
TEXT = FeatureReference(
    kind="categorical",
    categories=["a", "b"],
    bins=["a", "b", "__other__", MISSING_CATEGORY],
    ratios=[0.25] * 4,
    min_count=1,
)


def test_values_fall_in_the_bins_the_docstring_names() -> None:
    binner = Binner(NUMERIC)
    cases: list[tuple[Any, str]] = [
        (-0.1, "below"), (0.0, "b0"), (0.99, "b0"), (1.0, "b1"), (3.0, "b2"),
        (3.01, "above"), (None, MISSING_CATEGORY),
    ]  # fmt: skip
    assert [binner.bins[binner.index(value)] for value, _ in cases] == [bin for _, bin in cases]
    text = Binner(TEXT)
    assert [text.bins[text.index(v)] for v in ["a", "zzz", None]] == [
        "a", "__other__", MISSING_CATEGORY
    ]  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_record_path_and_column_path_count_alike(seed: int) -> None:
    generator = np.random.default_rng(seed)
    numbers = generator.normal(1.5, 1.5, 300).round(1)
    numbers[generator.random(300) < 0.1] = np.nan
    texts = generator.choice(["a", "b", "c", MISSING_CATEGORY], 300).astype(object)
    for reference, column in [(NUMERIC, numbers), (TEXT, texts)]:
        binner = Binner(reference)
        by_record = [0] * binner.size
        values = [None if v != v or v == MISSING_CATEGORY else v for v in column.tolist()]
        binner.count_values(values, by_record)
        by_column = [0] * binner.size
        binner.count_column(column.reshape(-1, 1), by_column)
        assert by_record == by_column
        assert sum(by_column) == 300


def test_psi_is_zero_on_the_reference_and_grows_with_a_shift() -> None:
    assert psi([250, 250, 250, 250], [0.25] * 4) == pytest.approx(0.0, abs=1e-6)
    # 0.55/0.15/0.15/0.15 against 0.25 each: 0.390 (research §2.4).
    assert psi([55_000, 15_000, 15_000, 15_000], [0.25] * 4) == pytest.approx(0.390, abs=1e-3)
    assert psi([0, 0, 0, 0], [0.25] * 4) is None
    # An empty bin is smoothed, not floored: with a 1e-4 floor this window alone was PSI 0.24.
    assert (psi([100, 0], [0.96, 0.04]) or 1.0) < 0.1


def test_an_artifact_without_a_profile_still_serves(
    artifact_copy: Path, record: dict[str, Any]
) -> None:
    path = artifact_copy / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    del manifest["reference"]
    path.write_text(json.dumps(manifest))
    with TestClient(create_app(Settings(model_dir=artifact_copy))) as client:
        assert client.post("/predict", json={"instances": [record]}).status_code == 200
