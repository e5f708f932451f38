"""gunicorn's worker class: uvicorn's, without the `server: uvicorn` header on every response."""

from __future__ import annotations

from typing import Any, ClassVar

# uvicorn-worker ships no type information.
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]


class Worker(UvicornWorker):  # type: ignore[misc]
    """uvicorn's gunicorn worker with `server_header` off: the response names no server."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "server_header": False,
    }
