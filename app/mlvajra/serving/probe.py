"""`python -m mlvajra.serving.probe [PATH] [--method M] [--body JSON]`: ask the local service.

The container HEALTHCHECK, the compose healthcheck and the compose backend's gates all run this
(slim images have no curl). It prints the status and the body, and exits 0 on a 2xx answer.
"""

from __future__ import annotations

import argparse
import sys

from mlvajra.client import http_request
from mlvajra.config import load_settings


def main(argv: list[str] | None = None) -> int:
    """Send one request to this container's service (MLVAJRA_PORT / PORT) and report it."""
    parser = argparse.ArgumentParser(description="One request to the local mlvajra service.")
    parser.add_argument("path", nargs="?", default="/ready")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    port = load_settings().port
    url = f"http://127.0.0.1:{port}{args.path}"
    status, body = http_request(url, args.method, args.body.encode() or None, args.timeout)
    sys.stdout.write(f"{status}\n{body.decode(errors='replace')}\n")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
