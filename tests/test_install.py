"""A new user's install: the wheel of this checkout in a fresh virtualenv, run from their folder.

The module builds the wheel once, from a copy of the checkout's files (what a clone holds: no
`build/`, no `*.egg-info`, no virtualenv), installs it with `pip install <wheel>` into a virtualenv
of its own (no `--system-site-packages`, no editable install, nothing of the dev virtualenv on its
path), and then runs that virtualenv's `mlvajra` script from a folder holding an `app/` package of
its own that records any import of it.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures import REFERENCE_ROWS
from tests.fresh_install import ROOT, FreshInstall, _constraints, _copy_checkout, _tail, _user_env
from tests.topology.processes import free_port, wait_for

pytestmark = pytest.mark.topology

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
TEMPLATES = ("nginx.conf.template", "mlvajra.conf.template")

# A user's own `app` package: importing it (or its `main`) leaves a marker and fails loudly.
USER_MODULE = """\
import pathlib
pathlib.Path({marker!r}).write_text(__name__)
raise SystemExit("the user's own {name} was imported")
"""


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> FreshInstall:
    """Build the wheel (while the virtualenv is created), then `pip install` it there."""
    root = tmp_path_factory.mktemp("install")
    venv = root / "venv"
    creating = subprocess.Popen(
        [sys.executable, "-m", "venv", str(venv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        source = _copy_checkout(root / "checkout")
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps"]
        built = subprocess.run(
            [*pip_wheel, "--wheel-dir", str(root / "dist"), str(source)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert built.returncode == 0, _tail(built)
        out, _ = creating.communicate(timeout=120)
        assert creating.returncode == 0, out
    finally:
        if creating.poll() is None:
            creating.kill()
            creating.wait(10)
    (wheel,) = (root / "dist").glob("mlvajra-*.whl")
    env = _user_env(venv)
    constraints = str(_constraints(root / "constraints.txt"))
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", str(wheel), "-c", constraints],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, _tail(installed)
    return FreshInstall(wheel=wheel, venv=venv, env=env)


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with an `app/` package of the user's own that must never be imported."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "app").mkdir()
    marker = folder / "imported-user-app"
    for module, name in (("__init__.py", "app"), ("main.py", "app.main")):
        (folder / "app" / module).write_text(USER_MODULE.format(marker=str(marker), name=name))
    return folder


@pytest.fixture
def marker(user_dir: Path) -> Iterator[Path]:
    """The file the user's `app` writes when imported: absent before and after each test."""
    path = user_dir / "imported-user-app"
    assert not path.exists()
    yield path
    assert not path.exists(), f"the user's {path.read_text()} was imported"


def test_wheel_holds_mlvajra_with_its_templates_and_no_app(fresh: FreshInstall) -> None:
    with zipfile.ZipFile(fresh.wheel) as wheel:
        names = wheel.namelist()
        top_level = wheel.read(f"mlvajra-{VERSION}.dist-info/top_level.txt").decode().split()
    for template in TEMPLATES:
        assert f"mlvajra/stack/templates/{template}" in names
    assert "mlvajra/serving/gunicorn_conf.py" in names
    assert [name for name in names if name.startswith("app/")] == []
    assert {name.split("/")[0] for name in names} == {"mlvajra", f"mlvajra-{VERSION}.dist-info"}
    assert top_level == ["mlvajra"]


def test_fresh_venv_imports_mlvajra_and_no_app(fresh: FreshInstall, tmp_path: Path) -> None:
    no_app = fresh.run("python", "-c", "import app", cwd=tmp_path)
    assert no_app.returncode != 0
    assert "No module named 'app'" in no_app.stderr

    script = (
        "import mlvajra, mlvajra.stack.nginx as n;"
        " print(mlvajra.__version__); print(mlvajra.__file__);"
        " print(all((n.TEMPLATES / t).is_file() for t in (n.MAIN_TEMPLATE, n.SITE_TEMPLATE)))"
    )
    imported = fresh.run("python", "-c", script, cwd=tmp_path)
    assert imported.returncode == 0, _tail(imported)
    version, location, templates = imported.stdout.split()
    assert version == VERSION
    # A real install: the package sits in the fresh virtualenv, not in this checkout.
    assert Path(location).is_relative_to(fresh.venv / "lib")
    assert templates == "True"


def test_version(fresh: FreshInstall, user_dir: Path, marker: Path) -> None:
    result = fresh.run("mlvajra", "--version", cwd=user_dir)
    assert result.returncode == 0, _tail(result)
    assert result.stdout == f"mlvajra {VERSION}\n"


def test_serve_from_a_folder_with_its_own_app(
    fresh: FreshInstall, user_dir: Path, marker: Path, artifact_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["serve", "--model-dir", str(artifact_dir), "--port", str(port), "--workers", "1"]
    log_path = tmp_path / "serve.log"
    env = {**fresh.env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(fresh.venv / "bin" / "mlvajra"), *command],
            cwd=user_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for(f"{url}/ready", timeout=60, process=process)
        except (RuntimeError, TimeoutError) as error:
            raise AssertionError(f"{error}\n{log_path.read_text()[-3000:]}") from None
        record, label = REFERENCE_ROWS[0]
        response = httpx.post(f"{url}/predict", json={"instances": [record]}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == label
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise
    assert code == 0, log_path.read_text()[-3000:]


def test_stack_up_and_down_from_a_folder_with_its_own_app(
    fresh: FreshInstall, user_dir: Path, marker: Path, artifact_dir: Path
) -> None:
    # Short: the colors' unix sockets live in <state>/run (Linux allows 107 bytes).
    state_dir = Path(tempfile.mkdtemp(prefix="st-", dir="/tmp"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        up = fresh.run(
            "mlvajra", "stack", "up", "--model-dir", str(artifact_dir), "--port", str(port),
            "--state-dir", str(state_dir), "--workers", "1",
            cwd=user_dir, timeout=120,
        )  # fmt: skip
        logs = "".join(path.read_text()[-2000:] for path in state_dir.glob("*.log"))
        assert up.returncode == 0, _tail(up) + logs
        assert url in up.stdout
        record, label = REFERENCE_ROWS[0]
        response = httpx.post(f"{url}/predict", json={"instances": [record]}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == label
    finally:
        down = fresh.run(
            "mlvajra", "stack", "down", "--state-dir", str(state_dir), cwd=user_dir, timeout=90
        )
        shutil.rmtree(state_dir, ignore_errors=True)
    assert down.returncode == 0, _tail(down)
    assert "blue: exited cleanly" in down.stdout


def test_compose_stack_without_a_compose_file_fails_in_one_line(
    fresh: FreshInstall, user_dir: Path, marker: Path, artifact_dir: Path, tmp_path: Path
) -> None:
    project, state_dir = tmp_path / "project", tmp_path / "state"
    project.mkdir()
    result = fresh.run(
        "mlvajra", "stack", "up", "--backend", "compose", "--project-dir", str(project),
        "--model-dir", str(artifact_dir), "--state-dir", str(state_dir),
        cwd=user_dir,
    )  # fmt: skip
    assert result.returncode == 1, _tail(result)
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: no docker-compose.yml in {project}"), line
    assert not state_dir.exists()


def test_a_joblib_artifact_is_refused_in_one_line_by_the_serving_install(
    fresh: FreshInstall, user_dir: Path, marker: Path, artifact_dir: Path, tmp_path: Path
) -> None:
    artifact = Path(shutil.copytree(artifact_dir, tmp_path / "artifact"))
    manifest_path = artifact / "manifest.json"
    manifest_path.write_text(
        manifest_path.read_text().replace('"format": "onnx"', '"format": "joblib"')
    )
    sklearn = ".".join(importlib.metadata.version("scikit-learn").split(".")[:2])
    refusal = (
        f"this joblib artifact needs joblib, pandas, scikit-learn {sklearn}: "
        "pip install 'mlvajra[joblib]'"
    )
    verified = fresh.run("mlvajra", "verify", str(artifact), cwd=user_dir)
    assert verified.returncode == 1, _tail(verified)
    assert verified.stderr.strip().splitlines() == [f"error: {refusal}"]
    env = {**fresh.env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    served = subprocess.run(
        [str(fresh.venv / "bin" / "mlvajra"), "serve", "--model-dir", str(artifact),
         "--port", str(free_port()), "--workers", "1"],
        cwd=user_dir, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = served.stdout + served.stderr
    assert served.returncode != 0, output
    assert output.count(refusal) == 1, output
    assert "Traceback" not in output
    assert "Worker failed to boot" not in output


def test_batch_scoring_is_refused_in_one_line_by_the_serving_install(
    fresh: FreshInstall, user_dir: Path, marker: Path, artifact_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("island\nDream\n")
    scored = fresh.run(
        "mlvajra", "predict", "--model-dir", str(artifact_dir), str(source),
        str(tmp_path / "out.parquet"), cwd=user_dir,
    )  # fmt: skip
    assert scored.returncode == 1, _tail(scored)
    refusal = "error: mlvajra predict needs pyarrow: pip install 'mlvajra[batch]'"
    assert scored.stderr.strip().splitlines() == [refusal]
    assert not (tmp_path / "out.parquet").exists()
