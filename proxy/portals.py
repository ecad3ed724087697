"""The session's named protocol state: prepared statements, portals and DECLAREd
cursors, and the helpers that describe their rows and decode their parameters."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Sequence

from proxy.backends.base import Cursor, ResultColumn
from proxy.errors import SqlError
from proxy.rewrite.pipeline import Planned
from proxy.wire import messages as m
from proxy.wire import types as pg


@dataclass(slots=True)
class Prepared:
    sql: str
    plan: Planned | None  # None for an empty statement
    param_oids: tuple[int, ...]
    columns: list[ResultColumn] | None = None  # described lazily


@dataclass(slots=True)
class Portal:
    statement: Prepared
    params: list[Any]
    result_formats: tuple[int, ...]
    cursor: Cursor | None = None  # open while the portal has rows left
    columns: list[ResultColumn] | None = None
    done: bool = False
    sent: int = 0


@dataclass(slots=True)
class SqlCursor:
    """A cursor opened by DECLARE and read by FETCH: its own backend cursor."""

    cursor: Cursor
    columns: list[ResultColumn]
    binary: bool
    hold: bool
    sent: list[int]  # the format the backend formats each column in


def formats_for(formats: tuple[int, ...], n: int) -> list[int]:
    try:
        return m.result_format_codes(formats, n)
    except ValueError as exc:
        raise SqlError("08P01", str(exc)) from None


def row_description(columns: Sequence[ResultColumn], formats: Sequence[int]) -> bytes:
    return m.row_description(
        [m.Column(c.name, c.type_oid, c.type_size, c.type_modifier, c.table_oid, c.column_number)
         for c in columns], formats)


def decode_param(raw: bytes | None, oid: int, fmt: int, number: int) -> Any:
    try:
        return pg.decode_value(raw, oid, fmt == 1)
    except UnicodeDecodeError as exc:
        raise SqlError("22021", f'invalid byte sequence for encoding "UTF8": 0x{exc.object[exc.start]:02x}') from None
    except (ValueError, ArithmeticError, IndexError, struct.error) as exc:
        kind = pg.pg_type(oid)
        if fmt == 1:  # PostgreSQL's words: too few bytes for the type, or bytes left over
            if raw is not None and 0 < len(raw) < kind.size:
                raise SqlError("08P01", "insufficient data left in message") from None
            raise SqlError("22P03", f"incorrect binary data format in bind parameter {number}") from None
        name = kind.name
        raise SqlError("22P02", f"invalid input for parameter ${number} of type {name}: {exc}") from None
