"""The serving image: its Dockerfile, checked offline (no Docker engine), and its hashed locks."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canonicalize

from mlvajra.cli import GUNICORN_ARGS
from tests.fixtures import REFERENCE_ROWS
from tests.topology.lock import image_pins, lock_problems
from tests.topology.processes import BIN, ROOT, free_port, wait_for
from tests.topology.tools import run_tool

pytestmark = pytest.mark.topology

DOCKERFILE = ROOT / "Dockerfile"
LOCKS = ROOT / "locks"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Versions with public advisories that a dependency range must exclude (README, Security).
ADVISORIES = {
    "starlette": "0.49.0",  # CVE-2025-62727, CVE-2024-47874
    "h11": "0.15.0",  # CVE-2025-43859
    "protobuf": "6.31.0",  # CVE-2025-4565
    "setuptools": "78.1.0",  # CVE-2025-47273 (the wheel build's)
    "scikit-learn": "1.4.2",  # CVE-2024-5206 (the joblib image's)
}


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _runtime_stage() -> list[tuple[str, str]]:
    steps = _instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def _image_environment() -> dict[str, str]:
    environment: dict[str, str] = {}
    for keyword, rest in _runtime_stage():
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                environment[name] = value
    return environment


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    assert run_tool(BIN / "hadolint", DOCKERFILE).returncode == 0
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text(
        "FROM python:latest\nRUN apt-get install curl\nCMD gunicorn mlvajra.serving.main:app\n"
    )
    assert run_tool(BIN / "hadolint", sloppy).returncode != 0, "control: hadolint must catch these"


def test_dockerfile_follows_the_serving_rules() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    bases = [rest for keyword, rest in steps if keyword == "FROM"]
    assert len(bases) >= 2, "multi-stage"
    pinned = next(rest for keyword, rest in steps if keyword == "ARG" and "PYTHON_IMAGE" in rest)
    assert re.fullmatch(r"PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", pinned)
    runtime = _runtime_stage()
    user = next(rest for keyword, rest in runtime if keyword == "USER")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), "numeric, non-root"
    command = json.loads(next(rest for keyword, rest in runtime if keyword == "CMD"))
    assert command == ["gunicorn", *GUNICORN_ARGS]
    healthcheck = next(rest for keyword, rest in runtime if keyword == "HEALTHCHECK")
    assert "/ready" in healthcheck
    assert "curl" not in healthcheck
    installs = " ".join(" ".join(rest.split()) for keyword, rest in steps if keyword == "RUN")
    assert "[train]" not in installs
    # The serving install by default (`.`), `.[joblib]` with --build-arg MLVAJRA_EXTRAS=joblib.
    assert ("ARG", 'MLVAJRA_EXTRAS=""') in steps
    # Dependencies only from the hashed lock the extras name, mlvajra itself without resolving.
    assert '--require-hashes -r "locks/${MLVAJRA_EXTRAS:-serving}.txt"' in installs
    assert {path.stem for path in LOCKS.glob("*.txt")} == {
        "serving",
        "joblib",
        "joblib,boost",
        "build",
    }
    assert "--require-hashes -r locks/build.txt" in installs
    assert "install --no-compile --no-deps /wheels/mlvajra-" in installs
    assert not re.search(r"pip install[^&]* \.(\s|$|\[)", installs), "no resolving install of ."
    # No pip or setuptools in the venv, none of the base image's old ones at runtime.
    assert "python -m venv --without-pip /opt/venv" in installs
    uninstall = " ".join(" ".join(rest.split()) for keyword, rest in runtime if keyword == "RUN")
    assert re.search(r"pip uninstall .*--yes pip setuptools wheel", uninstall)
    # Bytecode built into the image, the venv's and the standard library's: none is written at
    # run time, and compiling every imported module at each start tripled the cold start.
    assert "compileall -q -j 0 --invalidation-mode unchecked-hash" in installs
    assert "python -m compileall" in uninstall
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:1] == ["*"], "allow-list: nothing by default"
    assert "!models/" not in ignored, "the artifact comes from a volume"


def test_container_command_serves_outside_a_container(artifact_dir: Path, tmp_path: Path) -> None:
    """The image's exact CMD and HEALTHCHECK, with its ENV, run from a folder like its WORKDIR."""
    runtime = _runtime_stage()
    command = json.loads(next(rest for keyword, rest in runtime if keyword == "CMD"))
    healthcheck = next(rest for keyword, rest in runtime if keyword == "HEALTHCHECK")
    probe = json.loads(healthcheck[healthcheck.index("CMD ") + 4 :])
    workdir = tmp_path / "srv"
    workdir.mkdir()
    for keyword, rest in runtime:
        if keyword == "COPY" and not rest.startswith("--from"):
            source, _ = rest.split()
            (workdir / source).write_bytes((ROOT / source).read_bytes())
    port = free_port()
    environment = {
        **os.environ,
        **_image_environment(),
        # Where this test differs from the image: loopback, a free port, the test's artifact.
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MLVAJRA_MODEL_DIR": str(artifact_dir),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "MLVAJRA_WORKERS": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=workdir, env=environment, stdout=log, stderr=log)
    try:
        wait_for(f"http://127.0.0.1:{port}/ready", 60, server)
        health = subprocess.run(probe, env=environment, timeout=10, check=False)
        body = {"instances": [REFERENCE_ROWS[1][0]]}
        response = httpx.post(f"http://127.0.0.1:{port}/predict", json=body, timeout=10)
    finally:
        server.terminate()
        code = server.wait(30)
    assert health.returncode == 0
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1
    assert code == 0, "gunicorn stops cleanly on SIGTERM, as on `docker stop`"


def _locked(*extras: str) -> list[str]:
    project = PYPROJECT["project"]
    return [
        *project["dependencies"],
        *(r for e in extras for r in project["optional-dependencies"][e]),
    ]


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("serving", ()), ("joblib", ("joblib",)), ("joblib,boost", ("joblib", "boost"))],
)
def test_lock_pins_pyproject_dependencies_with_hashes(lock: str, extras: tuple[str, ...]) -> None:
    text = (LOCKS / f"{lock}.txt").read_text()
    assert lock_problems(_locked(*extras), text) == []
    pins, _ = image_pins(text)
    assert "setuptools" not in pins
    assert "pip" not in pins
    if not extras:
        assert not {"scikit-learn", "pandas", "joblib"} & set(pins), "ONNX serving only"

    # Controls: each kind of drift is found.
    pyproject = _locked(*extras)
    assert lock_problems([*pyproject, "gunicorn>=999"], text) == [
        f"gunicorn=={pins['gunicorn']} is outside >=999"
    ]
    assert lock_problems([*pyproject, "left-pad>=1"], text) == ["left-pad is not in the lock"]
    unhashed = re.sub(r"(?m)^(orjson==\S+) \\\n(\s+--hash=\S+( \\)?\n)+", r"\1\n", text)
    assert lock_problems(pyproject, unhashed) == [f"orjson=={pins['orjson']} has no --hash"]
    # numpy's metadata is installed here: dropping a pin its dependents need is caught too.
    without = re.sub(r"(?m)^typing-extensions==.*\n(\s+.*\n)+", "", text)
    assert any(
        "needs typing-extensions" in problem for problem in lock_problems(pyproject, without)
    )


def test_build_lock_and_advisory_floors() -> None:
    build, _ = image_pins((LOCKS / "build.txt").read_text())
    assert (
        lock_problems(PYPROJECT["build-system"]["requires"], (LOCKS / "build.txt").read_text())
        == []
    )
    assert set(build) == {"setuptools"}
    ranges = {
        canonicalize(requirement.name): requirement.specifier
        for requirement in map(
            Requirement,
            [
                *PYPROJECT["build-system"]["requires"],
                *_locked("joblib"),
            ],
        )
    }
    for name, vulnerable in ADVISORIES.items():
        assert not ranges[name].contains(vulnerable), f"{name} {ranges[name]} allows {vulnerable}"
