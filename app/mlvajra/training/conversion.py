"""ONNX conversion: skl2onnx, with onnxmltools' converters for LightGBM and XGBoost when present."""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

from skl2onnx import to_onnx, update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes,
    calculate_linear_regressor_output_shapes,
)
from sklearn.pipeline import Pipeline

from mlvajra.artifact import InputSpec, Precision

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
    """The serialized graph with numeric inputs of `precision`, or why it does not convert."""
    register_boost_converters()
    number = FloatTensorType if precision == "float32" else DoubleTensorType
    initial_types: list[tuple[str, Any]] = [
        (spec.name, StringTensorType([None, 1]) if spec.type == "string" else number([None, 1]))
        for spec in inputs
    ]
    # Probabilities as one tensor: ZipMap's list of dicts is slow and needs unpacking.
    model = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    try:
        graph = to_onnx(pipeline, initial_types=initial_types, options=options)
    except Exception as error:  # skl2onnx raises many types for unsupported pieces
        first_line = f"{type(error).__name__}: {error}".splitlines()[0]
        return f"skl2onnx cannot convert this pipeline ({precision}): {first_line}"
    return bytes(graph.SerializeToString())
