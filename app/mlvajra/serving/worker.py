"""gunicorn's worker class: uvicorn's, with one socket write per response and no server header.

uvicorn writes a response's status line and headers, then its body: two `send` calls, and on
loopback two deliveries to the reader. `OneWriteProtocol` holds the first write until the second
(or the event loop's next turn, whichever comes first), so a response sent in one step (every
scoring route's is) leaves in one write. Order is kept, nothing waits longer than that turn, and
closing writes what is held first.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# uvicorn-worker ships no type information.
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]


class _HeldWrites:
    """A transport that holds one write until the next one, or the event loop's next turn."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:  # a status line and headers, most likely: the body follows at once
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over `_HeldWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # Not a Transport subclass: its base methods would hide the real transport's.
        super().connection_made(cast(asyncio.Transport, _HeldWrites(transport, self.loop)))


class Worker(UvicornWorker):  # type: ignore[misc]
    """uvicorn's gunicorn worker: one write per response, `server_header` off."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "server_header": False,
        "http": OneWriteProtocol,
    }
