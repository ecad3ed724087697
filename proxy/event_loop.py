"""The process around the event loop: enough file descriptors for the
connections the limits allow, and asyncio's own errors logged without a flood."""
from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter

log = logging.getLogger("anonproxy.server")


def raise_open_file_limit() -> None:
    """Sockets are bounded by max_pending_logins + max_connections, and a few per
    session to the backend: the default soft limit (often 1024) is not enough."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class QuietExceptionHandler:
    """asyncio's own errors (a failed accept when descriptors run out, a transport
    error) at most once per message every INTERVAL seconds, with a count of those
    left out: a flood of connections must not become a flood of log."""

    INTERVAL = 10.0

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._quiet: Counter[str] = Counter()

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        message = str(context.get("message", "unhandled error in the event loop"))
        now = time.monotonic()
        if now - self._last.get(message, -self.INTERVAL) < self.INTERVAL:
            self._quiet[message] += 1
            return
        self._last[message] = now
        left_out = self._quiet.pop(message, 0)
        exc = context.get("exception")
        log.error("%s%s%s", message, f": {exc!r}" if exc else "",
                  f" ({left_out} more like it in the last {self.INTERVAL:.0f} s)" if left_out else "")
