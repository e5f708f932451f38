"""The ASGI app gunicorn serves: `app.main:app`."""

from app.factory import create_app

app = create_app()
