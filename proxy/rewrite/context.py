"""What the rewrite passes know about the session they rewrite for."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from proxy.policy.model import Role
from proxy.policy.tokens import pads


@dataclass(frozen=True)
class RewriteContext:
    role: Role
    user: str
    database: str
    tables: dict[str, dict[str, int]]  # backend schema: table -> {column: type oid}
    dialect: str  # sqlglot dialect of the backend
    setting: Callable[[str], str]  # current value of a session setting
    backend_pid: int = 0
    token_key: bytes | None = field(default=None, repr=False)
    # Built policy views, by (role, table, dialect): shared by every session of a server.
    views: dict[tuple[str, str, str], str] = field(default_factory=dict, repr=False, compare=False)
    # Primary keys that hold for the server's life (Backend.schema_fixed): table -> columns.
    fixed_keys: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)
    # `anonproxy explain` passes a list here: passes append (section, line) per decision.
    trace: list[tuple[str, str]] | None = field(default=None, repr=False, compare=False)

    def note(self, section: str, line: str) -> None:
        if self.trace is not None:
            self.trace.append((section, line))

    @cached_property
    def secrets(self) -> tuple[str, ...]:
        """Text that must never leave the proxy: the key and the padded keys in the SQL."""
        if self.token_key is None:
            return ()
        return (*pads(self.token_key), self.token_key.hex())

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<secret>").replace(secret.upper(), "<secret>")
        return text

    def backend_error_text(self, sqlstate: str, text: str) -> str:
        """What the client may read of a backend error. Data errors (class 22)
        quote the offending value: for an aggregate-only role that is one
        person's own value (CAST(income || 'x' AS int) would print it), and the
        backend may evaluate a filter before the k-anonymity join, so even a
        masked role could see a row of someone the view suppresses."""
        if self.role.transforms and sqlstate.startswith("22"):
            return (f"invalid input value in a cast or function (SQLSTATE {sqlstate}); the value is not "
                    f'shown to role "{self.role.name}"')
        return self.redact(text)
