"""An ordered, bounded map over threads: batch N+1 is read and batch N-1 written while N scores."""

from __future__ import annotations

import ctypes
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def ordered_map(
    work: Callable[[_Item], _Result], items: Iterable[_Item], workers: int, ahead: int
) -> Generator[_Result, None, None]:
    """`work(item)` on `workers` threads; results come back in the items' order.

    The items are drawn on the caller's thread (a file reader that releases the GIL) and at most
    `ahead` of them are in flight, so memory is bounded whatever the input's size. A failure in
    `work` is raised here, at its item's turn; closing the iterator early (the caller failed or
    was stopped) cancels what has not started and waits for what has: no thread outlives it.
    """
    if workers < 1 or ahead < 1:
        raise ValueError("workers and ahead must be at least 1")
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlvajra-score") as pool:
        pending: deque[Future[_Result]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(work, item))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def return_freed_memory() -> None:
    """Hand memory freed by every thread back to the system (glibc's `malloc_trim`; elsewhere
    nothing). Buffers allocated on scoring threads and freed on the writing one stay in glibc's
    arenas: without this, peak RSS for 10M rows was 31 % above 1M rows here, with it 5 %."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): its allocator's own policy
        return
    trim(0)
