"""`mlvajra.serving.worker`: a response leaves in one write, in order, and nothing is held back."""

from __future__ import annotations

import asyncio

from mlvajra.serving.worker import _HeldWrites


class RecordingTransport:
    """The two transport calls `_HeldWrites` makes, recorded in order."""

    def __init__(self) -> None:
        self.calls: list[bytes | str] = []

    def write(self, data: bytes) -> None:
        self.calls.append(data)

    def close(self) -> None:
        self.calls.append("close")

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


def _held(transport: RecordingTransport) -> _HeldWrites:
    return _HeldWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]


async def _headers_and_body_leave_in_one_write() -> None:
    transport = RecordingTransport()
    held = _held(transport)
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.calls == [], "the header block waits for its body"
    held.write(b"body")
    assert transport.calls == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    await asyncio.sleep(0)
    assert transport.calls == [b"HTTP/1.1 200 OK\r\n\r\nbody"], "nothing is written twice"


async def _a_lone_write_leaves_at_the_next_turn_of_the_loop() -> None:
    transport = RecordingTransport()
    held = _held(transport)
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the client waits for it before its body
    await asyncio.sleep(0)
    assert transport.calls == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    held.write(b"a")
    held.write(b"b")
    held.write(b"c")  # a streamed body: pairs leave together, the last at the next turn
    assert transport.calls[1:] == [b"ab"]
    await asyncio.sleep(0)
    assert transport.calls[1:] == [b"ab", b"c"]


async def _closing_writes_what_is_held_first() -> None:
    transport = RecordingTransport()
    held = _held(transport)
    held.write(b"last words")
    held.close()
    assert transport.calls == [b"last words", "close"]
    assert held.get_extra_info("peername") == "extra:peername", "the rest is the transport's"


def test_headers_and_body_leave_in_one_write() -> None:
    asyncio.run(_headers_and_body_leave_in_one_write())


def test_a_lone_write_leaves_at_the_next_turn_of_the_loop() -> None:
    asyncio.run(_a_lone_write_leaves_at_the_next_turn_of_the_loop())


def test_closing_writes_what_is_held_first() -> None:
    asyncio.run(_closing_writes_what_is_held_first())
