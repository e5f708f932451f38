"""The Kubernetes manifests: valid offline, probes and grace in order, and the pods' isolation
(no token, spread, a disruption budget, a network policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.topology.processes import BIN
from tests.topology.tools import run_tool

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def test_kubernetes_pods_hold_no_token_spread_keep_one_and_talk_to_nothing() -> None:
    pod = yaml.safe_load((K8S / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    keys = {constraint["topologyKey"] for constraint in pod["topologySpreadConstraints"]}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    budget = yaml.safe_load((K8S / "pdb.yaml").read_text())
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "mlvajra"}
    policy = yaml.safe_load((K8S / "networkpolicy.yaml").read_text())["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == []
    assert [port["port"] for rule in policy["ingress"] for port in rule["ports"]] == [8080, 8000]
    # gunicorn's metrics port (ops routes only) only from the monitoring namespace, not from
    # every pod.
    assert "from" not in policy["ingress"][0]
    assert "from" in policy["ingress"][1]
    service = pod["containers"][0]
    environment = {item["name"]: item["value"] for item in service["env"]}
    assert int(environment["MLVAJRA_METRICS_PORT"]) == policy["ingress"][1]["ports"][0]["port"]


def test_kubernetes_manifests_validate_offline(tmp_path: Path) -> None:
    manifests = sorted(K8S.glob("*.yaml"))
    result = run_tool(BIN / "kubernetes-validate", "--strict", *manifests)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {yaml.safe_load(path.read_text())["kind"] for path in manifests}
    serving = {"Deployment", "Service", "HorizontalPodAutoscaler", "PersistentVolumeClaim"}
    assert kinds == serving | {"PodDisruptionBudget", "NetworkPolicy"}
    claims = {
        document["metadata"]["name"]
        for document in map(yaml.safe_load, (path.read_text() for path in manifests))
        if document["kind"] == "PersistentVolumeClaim"
    }
    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    mounted = {
        volume["persistentVolumeClaim"]["claimName"]
        for volume in deployment["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in volume
    }
    assert mounted <= claims, "every claim the pods mount is defined beside them"

    broken = tmp_path / "deployment.yaml"
    broken.write_text((K8S / "deployment.yaml").read_text().replace("replicas: 2", "replicas: two"))
    assert run_tool(BIN / "kubernetes-validate", "--strict", broken).returncode != 0, "control"


def test_kubernetes_probes_and_grace_are_ordered() -> None:
    deployment: dict[str, Any] = yaml.safe_load((K8S / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/ready"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    graceful_timeout = 20  # gunicorn.conf.py
    environment = {item["name"]: item["value"] for item in container["env"]}
    # The drain happens inside gunicorn's graceful shutdown, not after it.
    assert 0 < float(environment["MLVAJRA_DRAIN_SECONDS"]) < graceful_timeout
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + graceful_timeout
