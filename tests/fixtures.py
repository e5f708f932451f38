"""Shared test data and small real helpers; tests and bench/ import this, never conftest.py."""

from __future__ import annotations

import functools
import os
import pwd
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter, ValidationError

from mlvajra.artifact import Manifest
from mlvajra.inputs import Problem, build_record_type
from mlvajra.serving.bounds import problem_at
from mlvajra.stack.runtime import unreadable_python

NOBODY = pwd.getpwnam("nobody")

REFERENCE_ROWS: list[tuple[dict[str, Any], str]] = [
    (
        {
            "island": "Torgersen",
            "bill_length_mm": 39.1,
            "bill_depth_mm": 18.7,
            "flipper_length_mm": 181,
            "body_mass_g": 3750,
            "sex": "male",
            "year": 2007,
        },
        "Adelie",
    ),
    (
        {
            "island": "Biscoe",
            "bill_length_mm": 46.1,
            "bill_depth_mm": 13.2,
            "flipper_length_mm": 211,
            "body_mass_g": 4500,
            "sex": "female",
            "year": 2007,
        },
        "Gentoo",
    ),
    (
        {
            "island": "Dream",
            "bill_length_mm": 46.5,
            "bill_depth_mm": 17.9,
            "flipper_length_mm": 192,
            "body_mass_g": 3500,
            "sex": "female",
            "year": 2007,
        },
        "Chinstrap",
    ),
]


def validate_rows(
    manifest: Manifest, rows: Sequence[Any]
) -> tuple[list[dict[str, Any]], list[int], list[Problem]]:
    """The API's rules one record at a time: (valid records, their indexes, others' problems).

    The oracle the columnar (batch) validation is held to.
    """
    adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(build_record_type(manifest.inputs))
    records: list[dict[str, Any]] = []
    kept: list[int] = []
    problems: list[Problem] = []
    for index, row in enumerate(rows):
        try:
            records.append(adapter.validate_python(row))
            kept.append(index)
        except ValidationError as error:
            for item in error.errors(include_input=False, include_url=False):
                problems.append(problem_at(("instances", index, *item["loc"]), item))
    return records, kept, problems


class CreatesFileWhenUnpickled:
    """Unpickling this runs code: it creates the file named in its state (a planted pickle)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


PENGUIN_DATATYPES = {
    "island": "BYTES",
    "bill_length_mm": "FP32",
    "bill_depth_mm": "FP32",
    "flipper_length_mm": "FP32",
    "body_mass_g": "FP32",
    "sex": "BYTES",
    "year": "INT64",
}
"""The V2 datatype of each penguins input, as the model metadata advertises it."""


def v2_inputs(rows: Sequence[dict[str, Any]], shape_1d: bool = False) -> list[dict[str, Any]]:
    """One V2 JSON input tensor per penguins column for `rows` (shape [N, 1], or [N])."""
    shape = [len(rows)] if shape_1d else [len(rows), 1]
    return [
        {"name": name, "shape": shape, "datatype": datatype, "data": [row[name] for row in rows]}
        for name, datatype in PENGUIN_DATATYPES.items()
    ]


_NUMPY_TYPES: dict[str, Any] = {"BYTES": object, "FP32": np.float32, "INT64": np.int64}


def penguin_column(rows: Sequence[dict[str, Any]], name: str) -> npt.NDArray[Any]:
    """One input of `rows` as the (rows, 1) numpy array a V2 client sends for its datatype."""
    dtype = _NUMPY_TYPES[PENGUIN_DATATYPES[name]]
    return np.array([row[name] for row in rows], dtype=dtype).reshape(-1, 1)


@functools.cache
def root_workers_env() -> dict[str, str]:
    """As root with a Python `nobody` cannot read (this machine's lives under /root), `stack up`
    refuses unprivileged workers: stack tests keep root workers there, knowingly, but for
    tests/topology/test_stack_user.py, which runs a Python `nobody` can read."""
    if os.geteuid() == 0 and unreadable_python(NOBODY.pw_uid, NOBODY.pw_gid) is not None:
        return {"MLVAJRA_STACK_USER": "root"}
    return {}
