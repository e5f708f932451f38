"""Where the service is deployed, /docs is off by default; `make run` keeps it on."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.main import get_command

from mlvajra.config import Settings
from mlvajra.stack.commands import stack_cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_image_compose_and_kubernetes_turn_docs_off() -> None:
    assert "MLVAJRA_DOCS=false" in (ROOT / "Dockerfile").read_text()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service in ("blue", "green", "nginx"):
        docs = compose["services"][service]["environment"]["MLVAJRA_DOCS"]
        assert docs == "${MLVAJRA_DOCS:-false}", service
    deployment = yaml.safe_load((ROOT / "deploy/k8s/deployment.yaml").read_text())
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert {container["name"] for container in containers} == {"mlvajra", "nginx"}
    for container in containers:  # the service and its edge alike
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["MLVAJRA_DOCS"] == "false", container["name"]


def test_stack_up_serves_no_docs_unless_asked() -> None:
    up = get_command(stack_cli).commands["up"]  # type: ignore[attr-defined]
    (docs,) = [param for param in up.params if param.name == "docs"]
    assert docs.default is False


def test_make_run_keeps_docs_on() -> None:
    assert Settings.model_fields["docs"].default is True
    assert "mlvajra serve" in (ROOT / "Makefile").read_text().split("\nrun:", 1)[1]
