"""What unpickling a pipeline needs: the distributions and the user's own modules it refers to.

The pickle itself is walked (every class and function it would name), so what is recorded is
exactly what `joblib.load` will import, nothing guessed from the steps' parameters.
"""

from __future__ import annotations

import importlib.metadata
import pickle
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd

from mlvajra.artifact import InputSpec, Loading, TextMissing
from mlvajra.errors import TrainingError
from mlvajra.joblib_loading import CODE_FOLDER

MAX_CODE_FILES = 200
MAX_CODE_BYTES = 5 << 20
"""A user's own code is a few modules; more than this is a whole project picked up by mistake."""


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


class _ModuleRecorder(pickle.Pickler):
    """Pickles into nothing and notes the module of every class and function it meets."""

    def __init__(self) -> None:
        super().__init__(_Discard(), protocol=pickle.HIGHEST_PROTOCOL)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        named = isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType)
        module = getattr(obj, "__module__", None) if named else type(obj).__module__
        if isinstance(module, str):
            self.modules.add(module)
        return NotImplemented


def pickled_modules(obj: object) -> set[str]:
    """Every module a pickle of `obj` names."""
    recorder = _ModuleRecorder()
    try:
        recorder.dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise TrainingError(f"the pipeline cannot be pickled: {error}") from None
    return recorder.modules


def loading_needs(
    pipeline: object, frame: pd.DataFrame, inputs: list[InputSpec], work_dir: Path
) -> Loading:
    """Record what loading `pipeline` needs; copy the user's modules into `work_dir/code/`."""
    owners = importlib.metadata.packages_distributions()
    distributions: dict[str, str] = {}
    user: set[str] = set()
    for module in sorted(pickled_modules(pipeline)):
        top = module.partition(".")[0]
        if top == "__main__":
            raise TrainingError(
                f"the pipeline refers to {module} (defined in a notebook or script): pickled by "
                "name, it cannot load anywhere else; move it into a module file and import it"
            )
        if top in sys.stdlib_module_names or top == "builtins":
            continue
        if top in owners:
            for name in owners[top]:
                distributions[name] = importlib.metadata.version(name)
        elif str(getattr(sys.modules.get(module), "__file__", "")).endswith(".py"):
            user.add(module)  # (not Cython's file-less `_cython_3_x` module of its types)
    code = _copy_code(sorted(user), work_dir) if user else []
    return Loading(
        distributions=dict(sorted(distributions.items())),
        modules=sorted(user),
        code=code,
        text_missing=_text_missing(frame, inputs),
    )


def _copy_code(modules: list[str], work_dir: Path) -> list[str]:
    """Copy the source of `modules` (a whole package where one is a package) under code/."""
    sources: dict[str, Path] = {}
    for module in modules:
        top = module.partition(".")[0]
        loaded = sys.modules.get(top)
        top_file = getattr(loaded, "__file__", None)
        if loaded is not None and top_file and hasattr(loaded, "__path__"):
            root = Path(top_file).parent
            for path in sorted(root.rglob("*.py")):
                if "__pycache__" not in path.parts:
                    sources[Path(top, path.relative_to(root)).as_posix()] = path
            continue
        file = getattr(sys.modules.get(module), "__file__", None)
        if not file or not file.endswith(".py"):
            raise TrainingError(
                f"the pipeline needs module {module}, which is neither installed nor a .py "
                "file mlvajra can carry in code/"
            )
        sources[module.replace(".", "/") + ".py"] = Path(file)
    if len(sources) > MAX_CODE_FILES:
        raise TrainingError(f"the user's code is {len(sources)} files (at most {MAX_CODE_FILES})")
    if sum(path.stat().st_size for path in sources.values()) > MAX_CODE_BYTES:
        raise TrainingError(f"the user's code is over {MAX_CODE_BYTES >> 20} MB")
    written = []
    for relative, path in sorted(sources.items()):
        target = work_dir / CODE_FOLDER / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(f"{CODE_FOLDER}/{relative}")
    return written


def _text_missing(frame: pd.DataFrame, inputs: list[InputSpec]) -> dict[str, TextMissing]:
    """For object text columns: whether the fitted frame's nulls were None or NaN (default)."""
    found: dict[str, TextMissing] = {}
    for spec in inputs:
        if spec.type != "string" or spec.dtype != "object":
            continue
        nulls = [value for value in frame[spec.name] if value is None or pd.isna(value)]
        found[spec.name] = "none" if nulls and nulls[0] is None else "nan"
    return found
