"""nginx in each Kubernetes pod: the Service reaches only it, it reaches gunicorn on the shared
unix socket, and the config it renders from the compose files passes `nginx -t`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlvajra.config import load_settings
from mlvajra.stack.nginx import SITE_TEMPLATE, TEMPLATES, render
from tests.topology.processes import NGINX, ROOT
from tests.topology.tools import run_tool

pytestmark = pytest.mark.topology

K8S = ROOT / "deploy" / "k8s"


def _pod() -> dict[str, Any]:
    pod: dict[str, Any] = yaml.safe_load((K8S / "deployment.yaml").read_text())["spec"]["template"]
    return pod


def _containers() -> dict[str, dict[str, Any]]:
    return {container["name"]: container for container in _pod()["spec"]["containers"]}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def _port(container: dict[str, Any], name: str) -> int:
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    return int(ports[name])


def test_the_service_reaches_nginx_only_and_nginx_reaches_gunicorn_on_the_socket() -> None:
    containers = _containers()
    service, nginx = containers["mlvajra"], containers["nginx"]
    target = yaml.safe_load((K8S / "service.yaml").read_text())["spec"]["ports"]
    assert [port["targetPort"] for port in target] == ["http"]
    assert "http" not in {port["name"] for port in service["ports"]}
    assert _port(nginx, "http") == int(_env(nginx)["MLVAJRA_LISTEN"])
    # Prometheus scrapes gunicorn's port, which the Service does not target.
    annotations = _pod()["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == _port(service, "metrics")
    socket = Path(_env(service)["MLVAJRA_BIND"].removeprefix("unix:"))
    assert Path(_env(nginx)["MLVAJRA_ACTIVE_SOCKET"]) == socket
    assert Path(_env(nginx)["MLVAJRA_SOCKET_DIR"]) == socket.parent
    for container in (service, nginx):
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert mounts[str(socket.parent)] == "sockets"
    # Probes: gunicorn's on its own port; nginx's readiness through the edge.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert service[probe]["httpGet"]["port"] == "metrics"
    assert nginx["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    policy = yaml.safe_load((K8S / "networkpolicy.yaml").read_text())["spec"]["ingress"]
    open_ports = [port["port"] for rule in policy if "from" not in rule for port in rule["ports"]]
    assert open_ports == [_port(nginx, "http")]


def test_gunicorn_binds_the_app_on_the_socket_only_and_tcp_for_ops_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    containers = _containers()
    service, nginx = containers["mlvajra"], containers["nginx"]
    metrics_port = _port(service, "metrics")
    assert int(_env(service)["MLVAJRA_METRICS_PORT"]) == metrics_port
    # The settings gunicorn reads in the pod: its binds, from the pod's environment alone.
    for name in [*os.environ]:
        if name.startswith("MLVAJRA_") or name in {"HOST", "PORT"}:
            monkeypatch.delenv(name)
    for name, value in _env(service).items():
        monkeypatch.setenv(name, value)
    binds = load_settings().binds
    assert f"unix:{_env(nginx)['MLVAJRA_ACTIVE_SOCKET']}" in binds
    # The one TCP listener is the metrics port (mlvajra.serving.listeners): no TCP port serves the
    # app in the pod apart from nginx's.
    assert [bind for bind in binds if not bind.startswith("unix:")] == [f"0.0.0.0:{metrics_port}"]


def test_the_pods_nginx_config_renders_as_the_image_does_and_passes_nginx_t(
    tmp_path: Path,
) -> None:
    nginx = _containers()["nginx"]
    mounts = {mount["mountPath"]: mount.get("subPath") for mount in nginx["volumeMounts"]}
    # The ConfigMap keys, made from these two files (deployment.yaml's header).
    assert mounts["/etc/nginx/nginx.conf"] == "nginx.conf"
    assert mounts["/etc/nginx/templates/default.conf.template"] == "default.conf.template"
    values = _env(nginx)
    output = Path(values["NGINX_ENVSUBST_OUTPUT_DIR"])
    assert output in {Path(path) for path in mounts}, "envsubst writes into a writable mount"
    # The image's envsubst writes <output>/default.conf, which nginx.conf includes; nginx.conf's
    # /tmp paths move to tmp_path (nginx -t runs here, not in the pod).
    site = render((TEMPLATES / SITE_TEMPLATE).read_text(), values)
    (tmp_path / "default.conf").write_text(site)
    main = (ROOT / "nginx" / "nginx.conf").read_text().replace(f"{output}/", f"{tmp_path}/")
    assert f"include {tmp_path}/default.conf;" in main
    (tmp_path / "nginx.conf").write_text(main)
    result = run_tool(NGINX, "-t", "-p", tmp_path, "-e", "stderr", "-c", tmp_path / "nginx.conf")
    assert result.returncode == 0, result.stderr
