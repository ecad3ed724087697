"""The PostgreSQL backend: a real server reached with psycopg 3 as a read-only role.

PostgreSQL already formats every value the way the client wants it, so rows
are loaded as raw bytes (text or binary, as requested) and written into
DataRow unchanged: no Python object per value. Each session has its own
connection; each statement runs in a read-only transaction through a
server-side cursor, so large results stream in batches.
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import psycopg
from psycopg.adapt import AdaptersMap, Loader
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import Format

from proxy.backends.base import BackendError, QueryCanceled, ResultColumn
from proxy.wire import types as pg
from proxy.wire.messages import result_format_codes

_names = (f"anonproxy_{i}" for i in itertools.count())


class _RawText(Loader):
    format = Format.TEXT

    def load(self, data: Any) -> bytes:
        return bytes(data)


class _RawBinary(Loader):
    format = Format.BINARY

    def load(self, data: Any) -> bytes:
        return bytes(data)


def _raw_adapters(oids: Sequence[int]) -> AdaptersMap:
    """Loaders that hand every value over as the bytes the server sent."""
    adapters = AdaptersMap(psycopg.adapters)
    for oid in oids:
        adapters.register_loader(oid, _RawText)
        adapters.register_loader(oid, _RawBinary)
    return adapters


def translate_error(exc: psycopg.Error) -> BackendError:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return QueryCanceled()
    diag = exc.diag
    # Only the primary message: context and internal-query fields quote the rewritten statement.
    return BackendError(diag.message_primary or "backend error", diag.sqlstate or "XX000")


class PostgresCursor:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._cur: psycopg.RawServerCursor | None = None
        self._convert: list[Any] = []

    def _end(self) -> None:
        if self._cur is not None:
            try:
                self._cur.close()
            except psycopg.Error:
                pass
            self._cur = None
        if self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self._conn.rollback()

    def describe(self, sql: str, params: Sequence[Any]) -> list[ResultColumn]:
        self._end()
        pgconn = self._conn.pgconn
        result = pgconn.prepare(b"", sql.encode("utf-8"), [0] * len(params))
        if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
            raise BackendError(result.error_field(psycopg.pq.DiagnosticField.MESSAGE_PRIMARY).decode(),
                               result.error_field(psycopg.pq.DiagnosticField.SQLSTATE).decode())
        desc = pgconn.describe_prepared(b"")
        return [ResultColumn(desc.fname(i).decode(), desc.ftype(i), desc.fsize(i), desc.fmod(i))
                for i in range(desc.nfields)]

    def execute(self, sql: str, params: Sequence[Any], formats: Sequence[int] = (),
                shape_key: str | None = None) -> list[ResultColumn]:
        self._end()
        binary = bool(formats) and all(f == 1 for f in formats)
        try:
            # Raw: the statement keeps PostgreSQL's own $1 placeholders.
            self._cur = psycopg.RawServerCursor(self._conn, next(_names))
            self._cur.execute(sql, list(params) or None, binary=binary)
        except psycopg.Error as exc:
            self._end()
            raise translate_error(exc) from None
        description = self._cur.description or []
        codes = result_format_codes(formats, len(description)) if formats else [0] * len(description)
        columns = []
        self._convert = []
        for d, code in zip(description, codes):
            columns.append(ResultColumn(d.name, d.type_code, d.internal_size or -1,
                                        -1 if d.type_code != pg.NUMERIC else _numeric_typmod(d), True))
            # Mixed formats: the server sent text; re-encode the binary columns here.
            t = pg.pg_type(d.type_code)
            self._convert.append((lambda v, t=t: t.encode_binary(t.decode_text(v))) if code == 1 and not binary
                                 else None)
        return columns

    def fetch(self, n: int) -> list[tuple[Any, ...]]:
        if self._cur is None:
            return []
        try:
            rows = self._cur.fetchmany(n)
        except psycopg.Error as exc:
            self._end()
            raise translate_error(exc) from None
        except MemoryError:
            self._cur = None  # let go of the batch it could not hold; the next statement rolls back
            raise
        if any(self._convert):
            rows = [tuple(c(v) if c and v is not None else v for c, v in zip(self._convert, row)) for row in rows]
        if len(rows) < n:
            self._end()
        return rows

    def cancel(self) -> None:
        self._conn.cancel_safe(timeout=5)

    def close(self) -> None:
        try:
            self._end()
        finally:
            self._conn.close()


def _numeric_typmod(d: Any) -> int:
    if d.precision is None:
        return -1
    return ((d.precision << 16) | (d.scale or 0)) + 4


class PostgresBackend:
    name = "postgres"
    schema_fixed = False  # a primary key read at start may be dropped while the proxy runs

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        # Statements run as server-side cursors, which PostgreSQL plans for the first 10%
        # of rows (cursor_tuple_fraction): a join that finds nothing then ran as a nested
        # loop for minutes where the same statement from psql takes 0.4 s. The proxy reads
        # every row, so it asks for the plan psql would get. Even so, a LIMIT invites
        # the same fast-start nested loop, and joins of policy views compare tokens that
        # are HMACs computed per row: a nested loop computes them per *pair* (a join of
        # customers and calls with LIMIT 50 ran past 60 s; as a hash join, 0.47 s). So
        # nested loops are a last resort (PostgreSQL still uses one where nothing else can).
        options = (conninfo_to_dict(dsn).get("options") or "") + " -c cursor_tuple_fraction=1 -c enable_nestloop=off"
        self._cursor_dsn = make_conninfo(dsn, options=options.strip())
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                oids = [r[0] for r in conn.execute("SELECT oid::int FROM pg_type")]
                rows = conn.execute(
                    "SELECT c.relname, a.attname, a.atttypid::int FROM pg_attribute a "
                    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p', 'f') "
                    "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum").fetchall()
                keys = conn.execute(
                    "SELECT c.relname, array_agg(a.attname ORDER BY array_position(k.conkey, a.attnum)) "
                    "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) "
                    "WHERE n.nspname = 'public' AND k.contype = 'p' GROUP BY c.relname").fetchall()
        except psycopg.Error as exc:
            # Never echo the DSN: it may carry a password.
            raise BackendError(f"cannot connect to the PostgreSQL backend: {exc.diag.message_primary or exc}",
                               "08006") from None
        self._adapters = _raw_adapters(oids)
        self._columns: dict[str, dict[str, int]] = {}
        for table, column, oid in rows:
            self._columns.setdefault(table.lower(), {})[column.lower()] = oid
        self._keys = {table.lower(): tuple(c.lower() for c in columns) for table, columns in keys}

    def table_columns(self) -> dict[str, dict[str, int]]:
        return self._columns

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        return self._keys

    def cursor(self) -> PostgresCursor:
        try:
            conn = psycopg.connect(self._cursor_dsn, context=self._adapters, autocommit=False)
        except psycopg.Error as exc:
            raise BackendError("the PostgreSQL backend is unreachable", "08006") from exc
        conn.read_only = True
        return PostgresCursor(conn)

    def close(self) -> None:
        pass
