"""Where a Ray cluster address points, and whether it answers.

Why: `ray.init(address=...)` on an address nothing listens at retries its GCS connection for about five
minutes and then ends in a bare `SystemExit: 15`. A TCP connection attempt says the same in seconds, with
the reason, before any Ray code runs. Health checks the configured cluster with the same rule.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

GCS_PORT = 6379  # a cluster's GCS: `ray start --head` listens here unless told otherwise
CLIENT_PORT = 10001  # Ray Client (`ray://host`)


def endpoint(address: str | None) -> tuple[str, int] | None:
    """(host, port) that `address` connects to; None for no address, `local` or `auto` (Ray finds it itself)."""
    if not address or address.strip().lower() in ("local", "auto"):
        return None
    text = address.strip()
    client = text.startswith("ray://")
    parsed = urlparse(text if "://" in text else f"tcp://{text}")
    return parsed.hostname or "127.0.0.1", parsed.port or (CLIENT_PORT if client else GCS_PORT)


def unreachable(address: str | None, timeout_s: float = 5.0) -> str | None:
    """Why `address` cannot be reached (the connection's error, e.g. `Connection refused`; callers name the
    endpoint), or None when it answers or names no endpoint."""
    target = endpoint(address)
    if target is None:
        return None
    try:
        with socket.create_connection(target, timeout=timeout_s):
            return None
    except OSError as exc:
        return str(exc.strerror or exc)
