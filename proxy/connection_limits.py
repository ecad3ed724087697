"""What one client may hold: connections, time to log in, message sizes,
prepared statements, portals and backend cursors (issue 8). Every limit has a
default that keeps a small server safe and a `limits:` key to change it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from proxy.errors import SqlError
from proxy.units import parse_duration_ms, parse_size


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 100            # logged-in sessions (PostgreSQL's max_connections)
    max_pending_logins: int = 1000        # sockets still logging in; the oldest is dropped for a new one
    authentication_timeout: float = 60.0  # seconds from accept to a finished login (PostgreSQL: 60 s)
    max_message: int = 64 << 20           # a Bind's parameters, bytes
    max_prepared_statements: int = 1000   # per session
    max_portals: int = 1000               # per session
    max_cursors: int = 8                  # per session: suspended portals and DECLAREd cursors with rows left
    max_backend_cursors: int = 64         # all sessions: those cursors beyond each session's own


def too_many(what: str, limit: int, key: str, hint: str) -> SqlError:
    return SqlError("54000", f"too many {what}: at most {limit} ({key})", hint=hint)


# The `limits:` keys these come from, with the range each accepts.
_COUNTS = {"max_connections": (1, 10_000), "max_pending_logins": (1, 100_000),
           "max_prepared_statements": (1, 1_000_000), "max_portals": (1, 1_000_000),
           "max_cursors": (0, 10_000), "max_backend_cursors": (0, 100_000)}
KEYS = (*_COUNTS, "authentication_timeout", "max_message")


def parse(body: dict[str, Any], fail: Callable[[str, str], None]) -> ConnectionLimits:
    """The connection limits of a configuration's `limits:` mapping; problems go to `fail(path, message)`."""
    values: dict[str, Any] = {}
    for key, (low, high) in _COUNTS.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            fail(f"limits.{key}", f"expected a whole number from {low} to {high}, got {value!r}")
        else:
            values[key] = value
    if body.get("authentication_timeout") is not None:
        try:
            ms = parse_duration_ms(body["authentication_timeout"])
        except ValueError as exc:
            ms = -1
            fail("limits.authentication_timeout", f"expected a duration such as 60s, got "
                 f"{body['authentication_timeout']!r}: {exc}")
        if ms >= 0 and not 1000 <= ms <= 600_000:  # PostgreSQL's range: 1 s to 10 min
            fail("limits.authentication_timeout", f"expected from 1s to 10min, got {body['authentication_timeout']!r}")
        elif ms >= 0:
            values["authentication_timeout"] = ms / 1000
    if body.get("max_message") is not None:
        try:
            size = parse_size(body["max_message"])
        except ValueError as exc:
            size = -1
            fail("limits.max_message", f"expected a size such as 64MB, got {body['max_message']!r}: {exc}")
        if size >= 0 and not 1 << 10 <= size <= 1 << 30:
            fail("limits.max_message", f"expected from 1kB to 1GB, got {body['max_message']!r}")
        elif size >= 0:
            values["max_message"] = size
    return ConnectionLimits(**values)
