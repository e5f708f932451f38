"""One HTTP request on a new connection, with the standard library only.

The container's readiness probe (`python -m mlvajra.serving.probe`) and the stack's gates use it:
neither needs a client library, and a new connection each time sees routing as it is now.
"""

from __future__ import annotations

import urllib.error
import urllib.request


def http_request(
    url: str, method: str = "GET", body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    """(status, body); (0, reason) when the connection itself fails."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error).encode()
