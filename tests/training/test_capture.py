"""What loading a joblib artifact needs: recorded at export, checked before anything loads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mlvajra.artifact import Loading, Manifest
from mlvajra.errors import ArtifactError, TrainingError
from mlvajra.folder import read_manifest
from mlvajra.joblib_loading import check_loadable
from mlvajra.training.capture import loading_needs
from tests.training.user_code import import_user_module
from tests.training.user_pipelines import NUMBER_INPUTS, numbers, write_artifact


def test_the_users_module_is_carried_hashed_in_code(tmp_path: Path) -> None:
    module = import_user_module(tmp_path / "project", "capture_features")
    frame = numbers(80)
    pipeline = make_pipeline(FunctionTransformer(module.shifted_squares), LogisticRegression())
    pipeline.fit(frame[["a", "b"]], frame["y"])
    folder = write_artifact(
        pipeline, frame[["a", "b"]], NUMBER_INPUTS, "classification", tmp_path / "m"
    )
    manifest = read_manifest(folder)
    assert manifest.format == "joblib"
    assert manifest.loading is not None
    assert manifest.loading.modules == ["capture_features"]
    assert manifest.loading.code == ["code/capture_features.py"]
    carried = (folder / "code" / "capture_features.py").read_bytes()
    assert carried == (tmp_path / "project" / "capture_features.py").read_bytes()
    assert manifest.files["code/capture_features.py"] == hashlib.sha256(carried).hexdigest()
    assert set(manifest.loading.distributions) >= {"scikit-learn", "numpy"}
    assert "mlvajra" not in manifest.loading.distributions


def test_a_function_from_a_notebook_is_refused_in_one_line(tmp_path: Path) -> None:
    def notebook_function(values: object) -> object:
        return values

    notebook_function.__module__ = "__main__"
    notebook_function.__qualname__ = "notebook_function"
    import __main__

    __main__.notebook_function = notebook_function  # type: ignore[attr-defined]
    try:
        with pytest.raises(TrainingError, match=r"refers to __main__ .*move it into a module"):
            loading_needs(
                FunctionTransformer(notebook_function), numbers(5), NUMBER_INPUTS, tmp_path
            )
    finally:
        del __main__.notebook_function  # type: ignore[attr-defined]


def _manifest(artifact_dir: Path, loading: Loading | None) -> Manifest:
    raw = json.loads((artifact_dir / "manifest.json").read_text())
    raw["format"] = "joblib"
    raw["loading"] = loading.model_dump() if loading else None
    return Manifest.model_validate(raw)


def test_an_environment_that_cannot_unpickle_is_refused_naming_what_to_install(
    artifact_dir: Path,
) -> None:
    loading = Loading(distributions={"scikit-learn": "1.2.2", "no-such-dist": "4.1"})
    with pytest.raises(ArtifactError) as refused:
        check_loadable(_manifest(artifact_dir, loading))
    installed = read_manifest(artifact_dir).loading
    assert installed is not None
    sklearn = installed.distributions["scikit-learn"]
    assert str(refused.value) == (
        f"this joblib artifact needs no-such-dist 4, scikit-learn 1.2 ({sklearn} is installed): "
        "pip install 'no-such-dist==4.*' 'scikit-learn==1.2.*'"
    )
    check_loadable(_manifest(artifact_dir, installed))  # what export recorded loads here
    check_loadable(_manifest(artifact_dir, None))  # an older artifact: scikit-learn is here
