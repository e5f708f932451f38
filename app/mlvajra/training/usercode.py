"""The user's own code named on the command line: `file.py:function` or `module:function`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlvajra.errors import TrainingError


def load_callable(spec: str, flag: str) -> Callable[..., Any]:
    """Import the file (by path) or module (by name, the working directory first) and return
    the named function. Importing runs the user's code, which is what they asked for."""
    where, _, attribute = spec.rpartition(":")
    if not where or not attribute:
        raise TrainingError(f"{flag} {spec!r}: expected file.py:function or module:function")
    try:
        module = _import_file(Path(where)) if where.endswith(".py") else _import_module(where)
    except TrainingError:
        raise
    except Exception as error:  # the user's module can raise anything while importing
        first_line = f"{type(error).__name__}: {error}".splitlines()[0]
        raise TrainingError(f"{flag} {spec!r}: importing {where} failed: {first_line}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise TrainingError(f"{flag} {spec!r}: {where} has no function {attribute!r}")
    return function  # type: ignore[no-any-return]


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise TrainingError(f"no such file: {path}")
    name = path.stem
    # The module keeps its own name, so a pipeline pickled from it refers to `model.build`,
    # and its folder goes on sys.path so its sibling imports work as they do for the user.
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise TrainingError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def _import_module(name: str) -> Any:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(name)
