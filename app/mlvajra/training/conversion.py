"""ONNX conversion: skl2onnx, with onnxmltools' converters for LightGBM and XGBoost when present."""

from __future__ import annotations

import copy
import functools
import importlib.util
from typing import Any

from skl2onnx import get_latest_tested_opset_version, to_onnx, update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes,
    calculate_linear_regressor_output_shapes,
)
from sklearn.pipeline import Pipeline

from mlvajra.artifact import InputSpec, Precision
from mlvajra.runners import MATRIX_INPUT

# onnxmltools' LightGBM and XGBoost converters support ai.onnx.ml up to version 3.
_OPSETS = {"": get_latest_tested_opset_version(), "ai.onnx.ml": 3}
_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


@functools.cache
def register_boost_converters() -> list[str]:
    """Teach skl2onnx the LightGBM and XGBoost estimators (the `boost` extra); return which."""
    registered: list[str] = []
    if importlib.util.find_spec("onnxmltools") is None:
        return registered
    if importlib.util.find_spec("lightgbm") is not None:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=_CLASSIFIER_OPTIONS,
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )
        registered.append("lightgbm")
    if importlib.util.find_spec("xgboost") is not None:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor

        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=_CLASSIFIER_OPTIONS,
        )
        update_registered_converter(
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )
        registered.append("xgboost")
    return registered


def convert(pipeline: Pipeline, inputs: list[InputSpec], precision: Precision) -> bytes | str:
    """The serialized graph with numeric inputs of `precision`, or why it does not convert.

    One graph input per column, as a ColumnTransformer takes them; where the pipeline starts with
    a step that takes one matrix (a scaler, a bare model) and every input is numeric, one
    `MATRIX_INPUT` of all columns in the manifest's order instead (the runner stacks them).
    """
    register_boost_converters()
    number = FloatTensorType if precision == "float32" else DoubleTensorType
    per_column: list[tuple[str, Any]] = [
        (spec.name, StringTensorType([None, 1]) if spec.type == "string" else number([None, 1]))
        for spec in inputs
    ]
    graph = _to_onnx(pipeline, per_column)
    if all(spec.type != "string" for spec in inputs):
        # Measured: a double graph of separate columns still concatenated them in float32
        # (1.4e-8 off); one double matrix stays double (1e-16). Parity judges either.
        matrix = _to_onnx(pipeline, [(MATRIX_INPUT, number([None, len(inputs)]))])
        if isinstance(matrix, bytes):
            graph = matrix
        elif isinstance(graph, str):
            graph = f"{graph}; as one matrix: {matrix}"
    if isinstance(graph, str):
        return f"skl2onnx cannot convert this pipeline ({precision}): {graph}"
    return graph


def _without_xgboost_feature_names(pipeline: Any) -> Any:
    """A copy whose XGBoost models have no feature names: onnxmltools reads only `f0, f1, ...`
    (an XGBoost model fitted on a DataFrame keeps its column names)."""
    steps = pipeline.steps if isinstance(pipeline, Pipeline) else [("model", pipeline)]
    named = [
        index
        for index, (_, step) in enumerate(steps)
        if type(step).__module__.startswith("xgboost") and step.get_booster().feature_names
    ]
    if not named:
        return pipeline
    copied = copy.deepcopy(pipeline)
    copied_steps = copied.steps if isinstance(copied, Pipeline) else [("model", copied)]
    for index in named:
        copied_steps[index][1].get_booster().feature_names = None
    return copied


def _to_onnx(pipeline: Pipeline, initial_types: list[tuple[str, Any]]) -> bytes | str:
    # Probabilities as one tensor: ZipMap's list of dicts is slow and needs unpacking.
    pipeline = _without_xgboost_feature_names(pipeline)
    model = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    try:
        graph = to_onnx(
            pipeline, initial_types=initial_types, options=options, target_opset=_OPSETS
        )
    except Exception as error:  # skl2onnx raises many types for unsupported pieces
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return bytes(graph.SerializeToString())
