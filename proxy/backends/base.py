"""The small interface every backend offers the session.

Calls are blocking; the session runs them in a worker thread so the event
loop keeps serving other connections.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence


class BackendError(Exception):
    """A statement failed in the backend; `sqlstate` is PostgreSQL's code for it.
    `detail` and `hint` are the proxy's own words, never the backend's."""

    def __init__(self, message: str, sqlstate: str = "XX000", *, detail: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint


class QueryCanceled(BackendError):
    def __init__(self) -> None:
        super().__init__("canceling statement due to user request", "57014")


@dataclass(frozen=True, slots=True)
class ResultColumn:
    name: str
    type_oid: int
    type_size: int
    type_modifier: int = -1
    # True when the backend hands this column out already in the requested wire
    # format (DuckDB: text as str; PostgreSQL: text or binary bytes), so the
    # session writes it as is.
    preformatted: bool = False
    table_oid: int = 0  # the role's catalog OID of the table the column is read straight from
    column_number: int = 0  # its attnum there


class Cursor(Protocol):
    """One session's handle on the backend; one statement at a time."""

    def describe(self, sql: str, params: Sequence[Any]) -> list[ResultColumn]: ...

    def execute(self, sql: str, params: Sequence[Any], formats: Sequence[int] = (),
                shape_key: str | None = None) -> list[ResultColumn]:
        """Run a statement; `formats` are Bind's result format codes (0 text, 1 binary).
        Statements given the same `shape_key` have the same result columns (a backend
        that plans twice, shape then run, may plan the shape once per key)."""
        ...

    def fetch(self, n: int) -> list[tuple[Any, ...]]: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    name: str
    # True when no one can change the schema while the proxy runs (a DuckDB file opened
    # read-only: a writer cannot take its lock), so declared keys hold for the server's life.
    schema_fixed: bool

    def cursor(self) -> Cursor: ...

    def table_columns(self) -> dict[str, dict[str, int]]:
        """Every readable table -> {column: type oid}, names lower-case."""
        ...

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        """Every readable table with a declared primary key -> its columns, lower-case."""
        ...

    def close(self) -> None: ...
