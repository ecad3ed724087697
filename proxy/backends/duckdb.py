"""The embedded DuckDB backend: a database file opened read-only and locked down."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import duckdb

from proxy.backends.base import BackendError, QueryCanceled, ResultColumn
from proxy.wire import types as pg
from proxy.wire.messages import result_format_codes

# DuckDB type name -> (PostgreSQL type oid, typlen). Unlisted types go out as text.
_SIMPLE_TYPES: dict[str, tuple[int, int]] = {
    "BOOLEAN": (pg.BOOL, 1),
    "TINYINT": (pg.INT2, 2),
    "SMALLINT": (pg.INT2, 2),
    "UTINYINT": (pg.INT2, 2),
    "INTEGER": (pg.INT4, 4),
    "USMALLINT": (pg.INT4, 4),
    "BIGINT": (pg.INT8, 8),
    "UINTEGER": (pg.INT8, 8),
    "UBIGINT": (pg.NUMERIC, -1),
    "HUGEINT": (pg.NUMERIC, -1),
    "UHUGEINT": (pg.NUMERIC, -1),
    "FLOAT": (pg.FLOAT4, 4),
    "DOUBLE": (pg.FLOAT8, 8),
    "VARCHAR": (pg.TEXT, -1),
    "BLOB": (pg.BYTEA, -1),
    "DATE": (pg.DATE, 4),
    "TIME": (pg.TIME, 8),
    "TIMESTAMP": (pg.TIMESTAMP, 8),
    "TIMESTAMP_S": (pg.TIMESTAMP, 8),
    "TIMESTAMP_MS": (pg.TIMESTAMP, 8),
    "TIMESTAMP_NS": (pg.TIMESTAMP, 8),
    "TIMESTAMP WITH TIME ZONE": (pg.TIMESTAMPTZ, 8),
    "INTERVAL": (pg.INTERVAL, 16),
    "UUID": (pg.UUID, 16),
    "JSON": (pg.JSON, -1),
}
_ARRAY_TYPES = {
    "BOOLEAN": 1000, "SMALLINT": 1005, "INTEGER": 1007, "BIGINT": 1016,
    "VARCHAR": 1009, "DOUBLE": 1022, "FLOAT": 1021,
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")
_LIST = re.compile(r"(.+)\[\]")


def pg_column(name: str, duck_type: str) -> ResultColumn:
    """Map one DuckDB result column to its PostgreSQL description."""
    if duck_type in _SIMPLE_TYPES:
        oid, size = _SIMPLE_TYPES[duck_type]
        return ResultColumn(name, oid, size)
    if m := _DECIMAL.fullmatch(duck_type):
        precision, scale = int(m[1]), int(m[2])
        return ResultColumn(name, pg.NUMERIC, -1, ((precision << 16) | scale) + 4)
    if (m := _LIST.fullmatch(duck_type)) and m[1] in _ARRAY_TYPES:
        return ResultColumn(name, _ARRAY_TYPES[m[1]], -1)
    return ResultColumn(name, pg.TEXT, -1)


# DuckDB types whose VARCHAR cast prints exactly what PostgreSQL's text output
# does (with TimeZone UTC); the rest are formatted in Python by proxy.wire.types.
_SAME_TEXT = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                        "UINTEGER", "UBIGINT", "UHUGEINT", "VARCHAR", "DATE", "TIME", "TIMESTAMP",
                        "TIMESTAMP WITH TIME ZONE", "UUID", "JSON"})


# DuckDB hands intervals to Python as timedelta, folding months into 30 days: 1 mon is
# not 30 days (2020-01-31 + 1 mon is 2020-02-29). Its three fields, read in SQL, are exact.
_INTERVAL_PARTS = ("CASE WHEN {ref} IS NOT NULL THEN [12 * datepart('year', {ref}) + datepart('month', {ref}), "
                   "datepart('day', {ref}), 3600000000 * datepart('hour', {ref}) "
                   "+ 60000000 * datepart('minute', {ref}) + datepart('microseconds', {ref})] END")


def text_expression(position: int, duck_type: str) -> str | None:
    """SQL that renders result column `position` (1-based) as PostgreSQL text, or None."""
    ref = f"#{position}"
    if duck_type in _SAME_TEXT or _DECIMAL.fullmatch(duck_type):
        return f"CAST({ref} AS VARCHAR)"
    if duck_type == "BOOLEAN":
        return f"CASE WHEN {ref} THEN 't' WHEN NOT {ref} THEN 'f' END"
    if duck_type == "BLOB":
        return f"'\\x' || lower(hex({ref}))"
    return None


_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")
_MISSING_COLUMN = re.compile(r'Referenced column "?([^"\s]+)"? (?:was )?not found')
_MISSING_TYPE = re.compile(r"Type with name (\S+?)!? does not exist")
_NO_MATCHING_FUNCTION = re.compile(r"No function matches the given name and argument types '(\w+)\((.*)\)'")
# DuckDB's argument types as PostgreSQL names them in "function f(integer) does not exist".
_ARGUMENT_TYPES = {"INTEGER_LITERAL": "integer", "INTEGER": "integer", "BIGINT": "bigint", "SMALLINT": "smallint",
                   "STRING_LITERAL": "unknown", "VARCHAR": "text", "DOUBLE": "double precision", "FLOAT": "real",
                   "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp without time zone",
                   "TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "INTERVAL": "interval", "NULL": "unknown"}


def _argument_type(duck_type: str) -> str:
    return "numeric" if duck_type.startswith("DECIMAL") else _ARGUMENT_TYPES.get(duck_type, duck_type.lower())


_MISSING_FUNCTION = re.compile(r"Scalar Function with name (\S+) does not exist")


def translate_error(exc: duckdb.Error) -> BackendError:
    """DuckDB's exception -> PostgreSQL wording and SQLSTATE.

    Only the first line of DuckDB's message is kept: the rest quotes the
    statement the backend ran, which is the rewritten one, not the client's.
    """
    if isinstance(exc, duckdb.InterruptException):
        return QueryCanceled()
    if isinstance(exc, duckdb.OutOfMemoryException):
        # DuckDB's text names its settings and the allocation; the client gets PostgreSQL's words.
        return BackendError("out of memory", "53200",
                            detail="The statement needed more working memory than the backend may use "
                                   "(backend.memory_limit).",
                            hint="Aggregate or filter more in the statement, or return fewer rows at once.")
    if isinstance(exc, duckdb.IOException):
        # With external access off and the file read-only, only spilling writes; its text names the path.
        return BackendError("could not write to temporary file", "53100",
                            detail="The statement spilled to backend.temp_directory, which is full or not writable.")
    first = str(exc).split("\n", 1)[0]
    text = (first.split(": ", 1)[1] if ": " in first else first).rstrip("!")
    if m := _MISSING_TABLE.search(text):
        return BackendError(f'relation "{m[1].rstrip("!")}" does not exist', "42P01")
    if m := _MISSING_COLUMN.search(text):
        return BackendError(f'column "{m[1]}" does not exist', "42703")
    if m := _MISSING_TYPE.search(text):
        return BackendError(f'type "{m[1]}" does not exist', "42704")
    if m := _NO_MATCHING_FUNCTION.search(text):
        args = ", ".join(_argument_type(a.strip()) for a in re.split(r",(?![^(]*\))", m[2]) if a.strip())
        return BackendError(f"function {m[1]}({args}) does not exist", "42883",
                            hint="No function matches the given name and argument types. "
                                 "You might need to add explicit type casts.")
    if text.startswith("Overflow in"):
        return BackendError("value out of range: overflow", "22003")
    if text.startswith("unrecognized configuration parameter"):  # the catalog store's current_setting
        return BackendError(text, "42704")
    if text.startswith("Division by zero"):
        return BackendError("division by zero", "22012")
    if m := _MISSING_FUNCTION.search(text):
        return BackendError(f"function {m[1].rstrip('!')} does not exist", "42883")
    sqlstate = {
        duckdb.ParserException: "42601",
        duckdb.CatalogException: "42P01",
        duckdb.BinderException: "42703" if "column" in text.lower() else "42804",
        duckdb.ConversionException: "22P02",
        duckdb.OutOfRangeException: "22003",
        duckdb.PermissionException: "42501",
        duckdb.InvalidInputException: "22023",
        duckdb.NotImplementedException: "0A000",
    }.get(type(exc), "XX000")
    return BackendError(text, sqlstate)


class DuckDBCursor:
    def __init__(self, con: duckdb.DuckDBPyConnection, shapes: dict[str, list[tuple[str, str]]]) -> None:
        self._con = con
        self._intervals: list[int] = []  # result columns fetched as [months, days, microseconds]
        self._shapes = shapes  # shared across cursors: the database is read-only, so shapes never change

    def _shape(self, sql: str, params: Sequence[Any], shape_key: str | None = None) -> list[tuple[str, str]]:
        """(name, DuckDB type) of each result column, planned but not run; cached per SQL text,
        and per `shape_key` where the caller knows statements that share their shape."""
        keyed = None if shape_key is None else "\0shape:" + shape_key  # no SQL text holds a NUL
        shape = self._shapes.get(sql)
        if shape is None and keyed is not None:
            shape = self._shapes.get(keyed)
        if shape is None:
            try:
                rel = self._con.sql(sql, params=list(params) or None)
            except duckdb.Error as exc:
                raise translate_error(exc) from None
            shape = [] if rel is None else [(n, str(t)) for n, t in zip(rel.columns, rel.types)]
            if len(self._shapes) < 4096:
                self._shapes[keyed or sql] = shape
        return shape

    def describe(self, sql: str, params: Sequence[Any]) -> list[ResultColumn]:
        return [pg_column(n, t) for n, t in self._shape(sql, params)]

    def execute(self, sql: str, params: Sequence[Any], formats: Sequence[int] = (),
                shape_key: str | None = None) -> list[ResultColumn]:
        """Run `sql`, letting DuckDB render the text-format columns it renders as
        PostgreSQL does: vectorized in the engine rather than value by value here."""
        shape = self._shape(sql, params, shape_key)
        try:
            codes = result_format_codes(formats, len(shape))
        except ValueError as exc:
            raise BackendError(str(exc), "08P01") from None
        columns, exprs = [], []
        self._intervals = [i for i, (_, duck_type) in enumerate(shape) if duck_type == "INTERVAL"]
        for i, ((name, duck_type), code) in enumerate(zip(shape, codes), start=1):
            expr = text_expression(i, duck_type) if code == 0 else None
            exprs.append(expr or (_INTERVAL_PARTS.format(ref=f"#{i}") if duck_type == "INTERVAL" else f"#{i}"))
            column = pg_column(name, duck_type)
            columns.append(replace(column, preformatted=True) if expr else column)
        wrapped = f"SELECT {', '.join(exprs)} FROM ({sql}) AS q" \
            if any(c.preformatted for c in columns) or self._intervals else sql
        try:
            self._con.execute(wrapped, list(params))
        except duckdb.Error as exc:
            raise translate_error(exc) from None
        return columns

    def fetch(self, n: int) -> list[tuple[Any, ...]]:
        try:
            rows = self._con.fetchmany(n)
        except duckdb.Error as exc:
            raise translate_error(exc) from None
        if self._intervals:  # [months, days, microseconds] -> Interval
            rows = [tuple(pg.Interval(*v) if i in self._intervals and v is not None else v
                          for i, v in enumerate(row)) for row in rows]
        return rows

    def cancel(self) -> None:
        self._con.interrupt()

    def close(self) -> None:
        self._con.close()


class DuckDBBackend:
    name = "duckdb"
    schema_fixed = True  # opened read-only: DuckDB's file lock keeps every writer out

    def __init__(self, path: Path, *, memory_limit: int = 0, threads: int = 0,
                 temp_directory: Path | None = None, max_temp_directory_size: int = 0) -> None:
        # External access off: no file readers, ATTACH, INSTALL or LOAD; the
        # configuration is then locked so no statement can turn it back on.
        # Resources are set here too: with external access off, temp_directory
        # can no longer be changed after connecting. Without a temp directory
        # DuckDB would spill next to the database file; with '' it may not
        # spill at all, and a statement over memory_limit fails with 53200.
        config: dict[str, Any] = {
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "temp_directory": str(temp_directory) if temp_directory else "",
            # jemalloc hands freed pages back in the background; without it a
            # stopped statement's gigabytes stayed resident (measured), and the
            # memory guard would see the process as full long after.
            "allocator_background_threads": True,
        }
        if memory_limit:
            config["memory_limit"] = f"{memory_limit}B"  # bytes: DuckDB's GB means 10^9, ours 2^30
        if threads:
            config["threads"] = threads
        if temp_directory and max_temp_directory_size:
            config["max_temp_directory_size"] = f"{max_temp_directory_size}B"
        self._db = duckdb.connect(str(path), read_only=True, config=config)
        self._db.execute("SET GLOBAL TimeZone = 'UTC'")  # timestamptz text as the proxy reports it
        self._db.execute("SET lock_configuration = true")
        self._columns = self._read_columns()
        self._keys = {table.lower(): tuple(c.lower() for c in columns) for table, columns in self._db.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE schema_name = 'main' AND constraint_type = 'PRIMARY KEY'").fetchall()}
        self._shapes: dict[str, list[tuple[str, str]]] = {}

    def _read_columns(self) -> dict[str, dict[str, int]]:
        rows = self._db.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall()
        out: dict[str, dict[str, int]] = {}
        for table, column, duck_type in rows:
            out.setdefault(table.lower(), {})[column.lower()] = pg_column(column, duck_type).type_oid
        return out

    def table_columns(self) -> dict[str, dict[str, int]]:
        return self._columns

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        return self._keys

    def cursor(self) -> DuckDBCursor:
        return DuckDBCursor(self._db.cursor(), self._shapes)

    def close(self) -> None:
        self._db.close()
