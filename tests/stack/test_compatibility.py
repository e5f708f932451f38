"""Which artifact changes break the clients of the serving one: `stack switch` refuses those."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvajra.artifact import InputSpec, Manifest
from mlvajra.folder import read_manifest
from mlvajra.stack.compatibility import schema_breaks


@pytest.fixture(scope="module")
def serving(artifact_dir: Path) -> Manifest:
    """penguins 1 as trained: a classifier over numbers, integers and strings."""
    return read_manifest(artifact_dir)


def _with_input(manifest: Manifest, name: str, **changes: object) -> Manifest:
    inputs = [
        spec.model_copy(update=changes) if spec.name == name else spec for spec in manifest.inputs
    ]
    return manifest.model_copy(update={"inputs": inputs})


def test_a_new_version_with_the_same_inputs_and_classes_is_compatible(serving: Manifest) -> None:
    retrained = serving.model_copy(update={"version": "2", "files": {"model.onnx": "other"}})
    assert schema_breaks(serving, retrained) == []


def test_changes_every_current_record_survives_are_compatible(serving: Manifest) -> None:
    integer = next(spec.name for spec in serving.inputs if spec.type == "integer")
    strict = next(spec.name for spec in serving.inputs if not spec.nullable)
    widened = _with_input(serving, integer, type="number")
    relaxed = _with_input(widened, strict, nullable=True)
    reordered = relaxed.model_copy(update={"inputs": list(reversed(relaxed.inputs))})
    renamed = reordered.model_copy(update={"name": "penguins-v2", "target": "kind"})
    assert schema_breaks(serving, renamed) == []


def test_input_changes_current_records_would_fail_are_named(serving: Manifest) -> None:
    number = next(spec.name for spec in serving.inputs if spec.type == "number")
    nullable = next(spec.name for spec in serving.inputs if spec.nullable)
    removed = serving.inputs[0].name
    changed = _with_input(serving, number, type="integer")
    changed = _with_input(changed, nullable, nullable=False)
    added = InputSpec(name="region", type="string", nullable=True)
    inputs = [spec for spec in changed.inputs if spec.name != removed] + [added]

    breaks = schema_breaks(serving, changed.model_copy(update={"inputs": inputs}))

    assert breaks == [
        f"input {removed!r} removed: current records send it (unknown field)",
        f"input {number!r} changes type from number to integer",
        f"input {nullable!r} no longer accepts null",
        "input 'region' added: current records lack it (required field)",
    ]


def test_task_and_class_changes_break_responses(serving: Manifest) -> None:
    assert serving.classes is not None
    fewer = serving.model_copy(update={"classes": [*serving.classes[:-1], "Emperor"]})
    regressor = serving.model_copy(update={"task": "regression", "classes": None})

    assert schema_breaks(serving, fewer) == [
        f"classes change (removed [{serving.classes[-1]!r}], added ['Emperor'])"
    ]
    assert schema_breaks(serving, regressor) == ["task classification becomes regression"]
    assert schema_breaks(regressor, regressor.model_copy(update={"version": "9"})) == []
