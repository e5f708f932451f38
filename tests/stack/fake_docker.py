"""A stand-in for `docker compose` with no engine: records each command, answers as the colors do.

Run as the `docker` program (MLVAJRA_DOCKER). It appends its arguments as one JSON line to
$FAKE_DOCKER_LOG; `exec <color> python -c` scripts (the symlink renames) run here with the socket
volume at $FAKE_SOCKETS; a color's probe answers /version from the manifest the compose
variables name (under $FAKE_MODELS), /metrics with $FAKE_PREDICTIONS answers of 200 per scrape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

VOLUME = "/run/mlvajra"


def _manifest(color: str) -> tuple[dict[str, object], str]:
    folder = os.environ[f"MLVAJRA_{color.upper()}_MODEL_DIR"].replace("/models", "", 1)
    manifest = json.loads((Path(os.environ["FAKE_MODELS"] + folder) / "manifest.json").read_text())
    model_format = os.environ.get(f"MLVAJRA_{color.upper()}_MODEL_FORMAT") or manifest["format"]
    return manifest, model_format


def _probe(color: str, path: str, state: Path) -> str:
    if path == "/version":
        manifest, model_format = _manifest(color)
        files = manifest["files"]
        assert isinstance(files, dict)
        sha256 = files[f"model.{model_format}"]
        return "200\n" + json.dumps({"version": manifest["version"], "sha256": sha256})
    if path == "/predict":
        return '200\n{"predictions": [{"label": "Adelie"}]}'
    if path == "/metrics":
        counter = state / f"{color}.scrapes"
        scrapes = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(scrapes))
        count = scrapes * int(os.environ["FAKE_PREDICTIONS"])
        return f'200\nmlvajra_requests_total{{endpoint="/predict",status="200"}} {count}\n'
    return "200\n{}"


def main(args: list[str]) -> str:
    """What the command prints on stdout."""
    with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
        log.write(json.dumps(args) + "\n")
    command = args[args.index("-f") + 2 :]
    state = Path(os.environ["FAKE_SOCKETS"])
    if command[:2] == ["exec", "-T"]:
        service, program = command[2], command[3:]
        if program[:2] == ["python", "-c"]:
            argv = [state if value == VOLUME else value for value in program[3:]]
            subprocess.run([sys.executable, "-c", program[2], *map(str, argv)], check=True)
            return ""
        if program[:3] == ["python", "-m", "mlvajra.serving.probe"]:
            return _probe(service, program[3], state)
        if program[0] == "curl":  # nginx's stack-only listener: the active color's /version
            active = os.readlink(state / "active.sock").removesuffix(".sock")
            status, _, body = _probe(active, "/version", state).partition("\n")
            return f"{body}\n{status}"
    if command[:1] == ["ps"]:
        return "{}" if "--all" in command else "running-id"
    return ""


if __name__ == "__main__":
    sys.stdout.write(main(sys.argv[1:]))
