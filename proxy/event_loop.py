"""The process around the event loop: enough file descriptors for the
connections the limits allow, and asyncio's own errors logged without a flood."""
from __future__ import annotations

import asyncio
import logging
import resource
import sys
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


# How long a thread holding the GIL keeps it when another wants it (Python's default: 5 ms).
# Planning is pure Python in worker threads; a session's SELECT 1 needs the GIL a few dozen
# times (loop, worker, loop), so beside a statement that plans for seconds each hand-over
# waited up to 5 ms: a median of 97 ms, up to 360. At 0.5 ms: a median of 16 ms, at most
# 170 (the rest most likely the planner's garbage collections); small queries and streaming unchanged.
SWITCH_INTERVAL = 0.0005


def share_the_interpreter() -> None:
    """Hand the GIL over sooner, so that one session's long planning delays another's
    short statement by milliseconds, not a tenth of a second."""
    sys.setswitchinterval(SWITCH_INTERVAL)


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
