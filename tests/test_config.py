"""`Settings.binds`: where gunicorn listens, and the metrics port it refuses."""

from __future__ import annotations

import pytest

from mlvajra.config import load_settings
from mlvajra.errors import ConfigError


def test_the_metrics_port_is_bound_beside_the_service() -> None:
    assert load_settings(port=8000).binds == ["127.0.0.1:8000"]
    assert load_settings(port=8000, metrics_port=9000).binds == [
        "127.0.0.1:8000",
        "127.0.0.1:9000",
    ]
    # The Kubernetes pod: the app on the unix socket only, the metrics port on every address.
    pod = load_settings(host="0.0.0.0", bind="unix:/run/mlvajra/active.sock", metrics_port=8000)
    assert pod.binds == ["unix:/run/mlvajra/active.sock", "0.0.0.0:8000"]
    socket = load_settings(port=8001, unix_socket="/run/blue.sock", metrics_port=9000)
    assert socket.binds == ["127.0.0.1:8001", "unix:/run/blue.sock", "127.0.0.1:9000"]


@pytest.mark.parametrize(
    "overrides",
    [{"port": 8000}, {"bind": "127.0.0.1:8000"}, {"bind": "[::]:8000"}],
)
def test_a_metrics_port_equal_to_the_service_port_is_refused(overrides: dict[str, object]) -> None:
    # With reuse_port both sockets would bind, and the kernel would split connections between
    # the ops-only listener and the whole app.
    with pytest.raises(ConfigError) as refused:
        load_settings(metrics_port=8000, **overrides)
    message = str(refused.value)
    assert message.startswith("MLVAJRA_METRICS_PORT: the metrics port must differ")
    assert "(8000)" in message
    assert "\n" not in message
