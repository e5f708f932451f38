"""`mlvajra verify`: re-measure sklearn/onnxruntime parity of an artifact on its data."""

from __future__ import annotations

from pathlib import Path

import joblib

from mlvajra.artifact import JOBLIB_FILE, ONNX_FILE, Manifest, Parity, verify_files
from mlvajra.errors import VerificationError
from mlvajra.training.datasets import DatasetError, model_frame, read_dataset
from mlvajra.training.export import DEFAULT_TOLERANCE, measure_parity


def check_parity(model_dir: Path, manifest: Manifest, data: str | Path | None) -> Parity | None:
    """Parity on `data` (default: the training data, whose sha256 must match); None without ONNX."""
    if ONNX_FILE not in manifest.files:
        return None
    source = data or manifest.training.data_source
    try:
        dataset = read_dataset(source)
    except DatasetError as error:
        raise VerificationError(f"{error}; pass --data to check parity on other rows") from None
    if data is None and dataset.sha256 != manifest.training.data_sha256:
        raise VerificationError(
            f"training data {source} changed since training (sha256 differs); pass --data"
        )
    verify_files(model_dir, manifest, [JOBLIB_FILE, ONNX_FILE])  # again, right before unpickling
    pipeline = joblib.load(model_dir / JOBLIB_FILE)
    tolerance = manifest.parity.tolerance if manifest.parity else DEFAULT_TOLERANCE
    frame = model_frame(dataset.frame, manifest.inputs)
    return measure_parity(
        pipeline, model_dir / ONNX_FILE, frame, manifest.inputs, manifest.task, tolerance
    )
