"""The house rules hold (import-linter), and each rule fails on a planted wrong import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MODULES = sorted(
    path for folder in ("app", "tests", "bench") for path in (ROOT / folder).rglob("*.py")
)

# (module that gets the import, the import, the contract that must break)
PLANTED = [
    ("predictor.py", "import fastapi", "The core is transport-free"),
    ("errors.py", "import prometheus_client", "The core is transport-free"),
    ("serving/routes.py", "import mlvajra.batch.scoring", "Serving knows nothing"),
    ("batch/scoring.py", "import mlvajra.serving.codec", "Batch and data import no serving"),
    ("stack/switch.py", "import mlvajra.runners", "The stack speaks HTTP"),
    ("training/trainer.py", "import mlvajra.stack.state", "Training imports no serving"),
    ("artifact.py", "import mlvajra.predictor", "No import cycles"),
]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(tree / "app")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert result.stdout.count(" KEPT") == len(contracts["contracts"])


@pytest.mark.parametrize(("module", "line", "contract"), PLANTED, ids=[p[1] for p in PLANTED])
def test_a_planted_wrong_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = _copy(tmp_path)
    target = tree / "app" / "mlvajra" / module
    target.write_text(target.read_text() + f"\n{line}  # planted\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if " BROKEN" in row]
    assert any(row.startswith(contract) for row in broken), result.stdout


def test_no_module_is_over_300_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long
