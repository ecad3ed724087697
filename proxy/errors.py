"""The one error type every stage raises for the client to see (DESIGN.md section 6)."""
from __future__ import annotations


class SqlError(Exception):
    """An error the client receives as an ErrorResponse; the session continues."""

    def __init__(self, sqlstate: str, message: str, *, detail: str | None = None,
                 hint: str | None = None, position: int | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.hint = hint
        self.position = position


def undefined_table(name: str) -> SqlError:
    return SqlError("42P01", f'relation "{name}" does not exist')


def insufficient_privilege(message: str, hint: str | None = None) -> SqlError:
    return SqlError("42501", message, hint=hint)


class ConnectionClosed(Exception):
    """The client went away."""


class Fatal(Exception):
    """Ends the connection after an ErrorResponse with severity FATAL."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint
