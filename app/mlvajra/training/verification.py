"""`mlvajra verify`: re-measure the ONNX graph's parity, pickle-free unless trusted."""

from __future__ import annotations

from pathlib import Path

from mlvajra.artifact import JOBLIB_FILE, ONNX_FILE, REFERENCE_FILE, Manifest, Parity
from mlvajra.errors import VerificationError
from mlvajra.folder import read_verified
from mlvajra.runners import build_runner, read_code
from mlvajra.training.datasets import DatasetError, read_dataset
from mlvajra.training.export import DEFAULT_TOLERANCE
from mlvajra.training.parity import Reference, load_reference, onnx_parity, serving_columns


def check_parity(
    model_dir: Path, manifest: Manifest, data: str | Path | None, trust_pickle: bool = False
) -> Parity | None:
    """Parity of the ONNX graph; None without one.

    By default against the reference outputs stored at export: nothing is unpickled. With
    `trust_pickle`, against the unpickled scikit-learn pipeline on `data` (default: the training
    data, whose sha256 must match): that runs code from the artifact.
    """
    if ONNX_FILE not in manifest.files:
        return None
    tolerance = manifest.parity.tolerance if manifest.parity else DEFAULT_TOLERANCE
    if not trust_pickle:
        if data is not None:
            raise VerificationError(
                "--data needs --trust-pickle: outputs for other rows come from the pickled "
                "pipeline, and unpickling runs code from the artifact"
            )
        if REFERENCE_FILE not in manifest.files:
            raise VerificationError(
                f"no {REFERENCE_FILE} in this artifact (trained by an older mlvajra): "
                "--trust-pickle compares with the pickled pipeline instead"
            )
        saved = read_verified(model_dir, manifest, REFERENCE_FILE)
        columns, reference = load_reference(saved, manifest.inputs, manifest.task)
        onnx = read_verified(model_dir, manifest, ONNX_FILE)
        return onnx_parity(onnx, columns, reference, manifest.task, tolerance)
    source = data or manifest.training.data_source
    try:
        dataset = read_dataset(source)
    except DatasetError as error:
        raise VerificationError(f"{error}; pass --data to check parity on other rows") from None
    if data is None and dataset.sha256 != manifest.training.data_sha256:
        raise VerificationError(
            f"training data {source} changed since training (sha256 differs); pass --data"
        )
    # The bytes that were hashed are the bytes unpickled, fed as the service feeds them.
    pipeline = build_runner(
        read_verified(model_dir, manifest, JOBLIB_FILE),
        manifest,
        "joblib",
        code=read_code(model_dir, manifest),
    )
    absent = [spec.name for spec in manifest.inputs if spec.name not in dataset.frame.columns]
    if absent:
        raise VerificationError(f"{source} lacks the model's inputs {absent}; pass --data")
    columns = serving_columns(dataset.frame, manifest.inputs)
    labels, probabilities = pipeline.run(columns)
    onnx = read_verified(model_dir, manifest, ONNX_FILE)
    return onnx_parity(onnx, columns, Reference(labels, probabilities), manifest.task, tolerance)
