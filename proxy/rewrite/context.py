"""What the rewrite passes know about the session they rewrite for."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from proxy.policy.model import Role


@dataclass(frozen=True, slots=True)
class RewriteContext:
    role: Role
    user: str
    database: str
    tables: dict[str, dict[str, int]]  # backend schema: table -> {column: type oid}
    dialect: str  # sqlglot dialect of the backend
    setting: Callable[[str], str]  # current value of a session setting
    backend_pid: int = 0
