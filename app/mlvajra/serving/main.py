"""The ASGI app gunicorn serves: `mlvajra.serving.main:app`."""

from mlvajra.config import load_settings
from mlvajra.serving.factory import create_app
from mlvajra.serving.listeners import only_ops_on

settings = load_settings()
app = only_ops_on(settings.metrics_port, create_app(settings))
