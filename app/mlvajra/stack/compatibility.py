"""Whether a new artifact keeps the promises the serving one made to its clients."""

from __future__ import annotations

from mlvajra.artifact import Manifest

WIDENINGS = frozenset({("integer", "number")})
"""Type changes every value the old type accepted survives (integers within 2^53 are numbers)."""


def schema_breaks(old: Manifest, new: Manifest) -> list[str]:
    """What a record or a response valid for `old` would meet under `new`; empty: compatible.

    Records carry every input and nothing else (the service refuses a missing field and an
    unknown one), nulls where the input is nullable; responses carry the task's shape and, for a
    classifier, a label and a probability per class.
    """
    breaks: list[str] = []
    if old.task != new.task:
        breaks.append(f"task {old.task} becomes {new.task}")
    before = {spec.name: spec for spec in old.inputs}
    after = {spec.name: spec for spec in new.inputs}
    for name, spec in before.items():
        changed = after.get(name)
        if changed is None:
            breaks.append(f"input {name!r} removed: current records send it (unknown field)")
            continue
        if changed.type != spec.type and (spec.type, changed.type) not in WIDENINGS:
            breaks.append(f"input {name!r} changes type from {spec.type} to {changed.type}")
        if spec.nullable and not changed.nullable:
            breaks.append(f"input {name!r} no longer accepts null")
    for spec in new.inputs:
        if spec.name not in before:
            breaks.append(f"input {spec.name!r} added: current records lack it (required field)")
    if old.task == new.task == "classification":
        removed = _sorted(set(old.classes or []) - set(new.classes or []))
        added = _sorted(set(new.classes or []) - set(old.classes or []))
        if removed or added:
            breaks.append(f"classes change (removed {removed}, added {added})")
    return breaks


def _sorted(classes: set[str | int | bool]) -> list[str | int | bool]:
    return sorted(classes, key=str)
