"""What serving a joblib artifact takes: the environment it needs, its code, the frame it is fed.

Core, like the runners: pandas is imported only when a joblib pipeline actually runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import InputSpec, Loading, Manifest
from mlvajra.errors import ArtifactError
from mlvajra.inputs import MISSING_CATEGORY

CODE_FOLDER = "code"
"""The artifact's folder of the user's own modules, imported only while the pickle loads."""
RUNNER_DISTRIBUTIONS = ("joblib", "pandas")
"""What the joblib runner itself imports, whatever the pickle holds."""
JOBLIB_EXTRA = frozenset({"scikit-learn", "joblib", "pandas"})
"""What `pip install 'mlvajra[joblib]'` brings."""
_SAME_MINOR = frozenset({"scikit-learn"})
"""scikit-learn does not support unpickling across versions (InconsistentVersionWarning): same
major.minor. For every other distribution in the pickle, the same major version."""


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _fits(needed: str, installed: str, distribution: str) -> bool:
    parts = 2 if distribution in _SAME_MINOR else 1
    return needed.split(".")[:parts] == installed.split(".")[:parts]


def _short(version: str, distribution: str) -> str:
    return ".".join(version.split(".")[: 2 if distribution in _SAME_MINOR else 1])


def check_loadable(manifest: Manifest) -> None:
    """Refuse in one line, naming what to install, when this environment cannot unpickle the
    artifact's pipeline (artifacts without a record need at least scikit-learn)."""
    loading = manifest.loading or Loading(distributions={"scikit-learn": ""})
    needed = dict.fromkeys(RUNNER_DISTRIBUTIONS, "") | loading.distributions
    missing: list[str] = []
    pins: list[str] = []
    wrong_version = False
    for distribution, version in sorted(needed.items()):
        installed = _installed(distribution)
        if installed is not None and (not version or _fits(version, installed, distribution)):
            continue
        wanted = _short(version, distribution) if version else ""
        label = f"{distribution} {wanted}".strip()
        missing.append(label if installed is None else f"{label} ({installed} is installed)")
        pins.append(f"'{distribution}=={wanted}.*'" if wanted else f"'{distribution}'")
        wrong_version = wrong_version or installed is not None
    if not missing:
        return
    names = {item.split()[0] for item in missing}
    extra = not wrong_version and names <= JOBLIB_EXTRA
    hint = "'mlvajra[joblib]'" if extra else " ".join(pins)
    raise ArtifactError(f"this joblib artifact needs {', '.join(missing)}: pip install {hint}")


class SourceImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the artifact's code/ modules from their verified bytes: no file is written or
    read, so nothing that was not hashed can be imported in their place."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._modules: dict[str, tuple[str, bytes, bool]] = {}
        for name, source in files.items():
            parts = name.removeprefix(f"{CODE_FOLDER}/").removesuffix(".py").split("/")
            package = parts[-1] == "__init__"
            dotted = ".".join(parts[:-1] if package else parts)
            self._modules[dotted] = (name, source, package)
            for depth in range(1, len(parts) - 1 if package else len(parts)):
                parent = ".".join(parts[:depth])
                self._modules.setdefault(parent, (f"{CODE_FOLDER}/{parent}", b"", True))

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for one of the artifact's modules; None for every other name."""
        found = self._modules.get(fullname)
        if found is None:
            return None
        origin, _, package = found
        return importlib.util.spec_from_loader(
            fullname, self, origin=f"<artifact {origin}>", is_package=package
        )

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        """The default module object."""
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        """Run the module's verified source."""
        origin, source, _ = self._modules[module.__name__]
        code = compile(source, f"<artifact {origin}>", "exec")
        exec(code, module.__dict__)  # noqa: S102 - the user's own code, hashed in the manifest

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Importable only inside the block (a no-op without code)."""
        if not self._modules:
            yield
            return
        sys.meta_path.insert(0, self)
        try:
            yield
        finally:
            sys.meta_path.remove(self)


def fitted_frame(
    columns: Mapping[str, npt.NDArray[Any]], inputs: list[InputSpec], loading: Loading | None
) -> Any:
    """The pandas DataFrame the pipeline was fitted with, rebuilt from validated columns: each
    input in its recorded dtype (categories, Int64, bool, ...), nulls as that dtype holds them;
    float64 and text with the missing marker where no dtype was recorded (the built-in pipeline)."""
    import pandas

    text_missing = loading.text_missing if loading else {}
    data = {
        spec.name: _as_fitted(columns[spec.name].reshape(-1), spec, text_missing.get(spec.name))
        for spec in inputs
    }
    # Series keep their dtype in the frame (an object array would be inferred as `str`).
    return pandas.DataFrame(data, columns=[spec.name for spec in inputs])


def _as_fitted(values: npt.NDArray[Any], spec: InputSpec, missing: str | None) -> Any:
    import pandas

    if spec.dtype is None:
        return values
    if spec.type == "string":
        null = None if missing == "none" else np.nan
        text = np.array([null if v == MISSING_CATEGORY else v for v in values], dtype=object)
        if spec.dtype == "object":  # kept object: pandas would infer `str`, None -> NaN
            return pandas.Series(text, dtype=object)
        if spec.dtype == "category":
            known = set(spec.categories or [])
            return pandas.Categorical(
                [v if v in known else None for v in text], categories=spec.categories
            )
        return pandas.Series(text, dtype=object).astype(spec.dtype).array
    dtype = pandas.api.types.pandas_dtype(spec.dtype)
    if isinstance(dtype, np.dtype) and dtype.kind in "biu" and bool(np.isnan(values).any()):
        return values  # a numpy int or bool column holds no null: NaN stays float, as in parity
    return pandas.Series(values).astype(dtype).array
