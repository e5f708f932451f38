"""The ASGI app gunicorn serves: `mlvajra.serving.main:app`."""

from mlvajra.serving.factory import create_app

app = create_app()
