"""One client connection: start-up and authentication, the message loop, the simple
query protocol, and every statement's guard (cancel, timeout, memory) and row stream.
Mixed in: the extended query protocol (extended_query.py), SQL cursors
(sql_cursors.py), the backend cursors a session holds (backend_cursors.py) and the
commands it answers itself (local_commands.py).

The codec in `proxy.wire` does the bytes; the rewrite pipeline decides what
runs; this module only drives the conversation and keeps its state.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Sequence

from proxy.backend_cursors import BackendCursors
from proxy.backends.base import BackendError, Cursor, ResultColumn
from proxy.errors import ConnectionClosed, Fatal, SqlError
from proxy.extended_query import ExtendedQuery
from proxy.local_commands import LocalCommands, Transaction
from proxy.login import log_in
from proxy.portals import Portal, Prepared, SqlCursor, formats_for, row_description
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.parse import recursion_error
from proxy.rewrite.pipeline import BackendQuery, CopyOut, DeclareCursor, Planned
from proxy.running import GONE, MEMORY, TIMEOUT, USER, Interruptible, Running, Stopped, stop_error
from proxy.session_commands import LocalCommand
from proxy.settings import Settings
from proxy.sql_cursors import CURSOR_ACTIONS, SqlCursors
from proxy.wire import copy
from proxy.wire import messages as m
from proxy.wire import types as pg

if TYPE_CHECKING:
    from proxy.server import Server

log = logging.getLogger("anonproxy.session")
OUT_BUFFER = 256 << 10  # replies waiting for the client beyond this are written out and drained
BATCH_ROWS = 2000  # rows sent to the client between waits for it to drain
# Rows with variable-length values are fetched from the backend in steps that
# start at one row and grow while the rows are small, and a batch ends at
# BATCH_BYTES: a result of 300 MB values is held one value at a time, not 2000
# (the memory guard and the timeout act between fetches, and PostgreSQL does not
# cancel a FETCH while it is sending it).
BATCH_BYTES = 4 << 20


def first_step(columns: Sequence[ResultColumn]) -> int:
    return BATCH_ROWS if all(c.type_size > 0 for c in columns) else 1


def next_step(rows: int, size: int) -> int:
    """The next fetch's row count, after `rows` rows encoded to `size` bytes."""
    return max(1, min(BATCH_ROWS, rows * 8, rows * BATCH_BYTES // max(size, 1)))


def _as_bytes(value: str | bytes) -> bytes:
    """A backend-formatted value: DuckDB renders text as str, PostgreSQL sends bytes."""
    return value.encode("utf-8") if type(value) is str else value


def _reformat(oid: int, sent: int, wanted: int) -> Any:
    """A backend-formatted value in the other wire format (a cursor FETCHed unlike it was declared)."""
    encode = pg.encoder(oid, wanted == 1)
    return lambda v: encode(pg.decode_value(_as_bytes(v), oid, sent == 1))


def column_encoders(columns: Sequence[ResultColumn], formats: Sequence[int],
                    sent: Sequence[int] | None = None) -> list[Any]:
    """One encoder per column for the requested `formats`; `sent` is the format the
    backend formatted its preformatted columns in, when it may differ."""
    out = []
    for i, (c, f) in enumerate(zip(columns, formats)):
        if not c.preformatted:
            out.append(pg.encoder(c.type_oid, f == 1))
        elif sent is None or sent[i] == f:
            out.append(_as_bytes)
        else:
            out.append(_reformat(c.type_oid, sent[i], f))
    return out


class Session(ExtendedQuery, SqlCursors, BackendCursors, LocalCommands):
    def __init__(self, server: "Server", reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, process_id: int) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.process_id = process_id
        self.secret_key = secrets.randbits(31)
        self.decoder = m.FrontendDecoder(server.message_limits)
        self.user = ""
        self.settings: Settings | None = None
        self.ctx: RewriteContext | None = None
        self.tx = Transaction()
        self.prepared: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self.sql_cursors: dict[str, SqlCursor] = {}
        self.cursor: Cursor | None = None
        self._cursor_lent = False  # the session cursor is serving a statement or portal
        self._renew_cursor = False  # replace the session cursor once released (after a memory stop)
        self.running: Running | None = None  # the statement a cancel, the timeout or the memory guard stops
        self._extra_cursors = 0  # backend cursors beyond self.cursor
        self.admitted = False  # holds one of the server's max_connections
        self._out: list[bytes] = []
        self._out_size = 0
        self._tls = False

    # --- I/O -------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def _write_out(self) -> None:
        if self._out:
            self.writer.write(b"".join(self._out))
            self._out.clear()
            self._out_size = 0

    async def flush(self) -> None:
        self._write_out()
        await self.writer.drain()

    async def next_message(self) -> m.FrontendMessage:
        while True:
            msg = self.decoder.next_message()
            if msg is not None:
                return msg
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionClosed()
            self.decoder.feed(data)

    async def blocking(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.server.executor, fn, *args)

    # --- lifecycle -------------------------------------------------------

    async def run(self) -> None:
        try:
            if await self._log_in():
                await self.serve()
        except m.ProtocolError as exc:
            await self._fatal("08P01", f"invalid frontend message: {exc}")
        except Fatal as exc:
            await self._fatal(exc.code, str(exc), exc.hint)
        except (ConnectionClosed, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # a bug must cost one connection, never the server
            log.exception("session %d: internal error", self.process_id)
            await self._fatal("XX000", "internal error in anonproxy; the connection is closed")
        finally:
            await self.close()

    async def _log_in(self) -> bool:
        """log_in (which takes a place among max_connections) within
        authentication_timeout, as PostgreSQL's; False for a connection that only
        cancelled another."""
        try:
            async with asyncio.timeout(self.server.limits.authentication_timeout):
                if not await log_in(self):
                    return False
        except TimeoutError:
            log.info("session %d: no login within authentication_timeout", self.process_id)
            raise Fatal("57014", "canceling authentication due to timeout") from None
        self.decoder.logged_in = True
        return True

    def abort_login(self) -> None:
        """Dropped to make room for a newer connection while still logging in."""
        log.info("session %d: dropped while logging in (limits.max_pending_logins)", self.process_id)
        self.writer.transport.abort()

    async def _fatal(self, code: str, message: str, hint: str | None = None) -> None:
        self.send(m.error_response(m.Notice("FATAL", code, message, hint=hint)))
        try:
            await self.flush()
        except (ConnectionError, RuntimeError):
            pass

    async def close(self) -> None:
        self.server.forget(self)
        for portal in self.portals.values():
            self._close_portal_cursor(portal)
        self._close_sql_cursors(keep_hold=False)
        if self.cursor is not None:
            self.server.executor.submit(self.cursor.close)
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, RuntimeError):
            pass

    def cancel(self, reason: str = USER) -> None:
        running = self.running
        if running is not None:
            running.stop(reason)

    def terminate(self) -> None:
        """Server shutdown: stop the running statement, tell the client why, hang up."""
        self.cancel()
        if not self.writer.is_closing():
            self.writer.write(m.error_response(
                m.Notice("FATAL", "57P01", "terminating connection due to administrator command")))
            self.writer.close()

    # --- main loop ----------------------------------------------------------

    async def serve(self) -> None:
        """The message loop. After an error in an extended-protocol message every
        message up to Sync is ignored, simple Query included, as PostgreSQL does;
        replies are written out whenever OUT_BUFFER bytes wait (not only at Sync),
        so a pipelining client that does not read stops being read from."""
        skipping = False
        while True:
            msg = await self.next_message()
            if isinstance(msg, m.Sync):
                skipping = False
                self._end_implicit_transaction()
                self.send(m.ready_for_query(self.tx.status))
                await self.flush()
                continue
            if isinstance(msg, m.Terminate):
                return
            if skipping:
                continue
            try:
                await self.dispatch(msg)
            except (SqlError, BackendError) as exc:
                self.send_error(exc)
                if _is_extended(msg):
                    skipping = True
                else:  # a simple-protocol message ends with ReadyForQuery, error or not
                    self.send(m.ready_for_query(self.tx.status))
                # Sent at once, as PostgreSQL does: a client waiting after Flush (asyncpg)
                # must see the error, or it waits for ever.
                await self.flush()
            if self._out_size >= OUT_BUFFER:
                await self.flush()

    async def dispatch(self, msg: m.FrontendMessage) -> None:
        if isinstance(msg, m.Query):
            await self.simple_query(msg.sql)
        elif isinstance(msg, m.Flush):
            await self.flush()
        elif isinstance(msg, (m.Parse, m.Bind, m.Describe, m.Execute, m.Close)):
            await self.extended(msg)
        elif isinstance(msg, m.InvalidText):
            raise SqlError("22021", 'invalid byte sequence for encoding "UTF8"')
        elif isinstance(msg, m.TooLarge):
            raise _too_large(msg, self.server.config.limits.statement.max_length)
        elif isinstance(msg, m.Unsupported):
            if msg.type_code == "F":
                raise SqlError("0A000", "the function-call protocol is not supported",
                               hint="Call the function in a SELECT statement instead.")
            # CopyData, CopyDone and CopyFail outside COPY: PostgreSQL accepts and ignores them
        else:
            raise m.ProtocolError(f"unexpected message {type(msg).__name__}")

    def send_error(self, exc: SqlError | BackendError) -> None:
        if isinstance(exc, BackendError):
            # The backend ran the rewritten statement: scrub anything secret it quoted.
            message = self.ctx.backend_error_text(exc.sqlstate, str(exc)) if self.ctx else str(exc)
            exc = SqlError(exc.sqlstate, message, detail=exc.detail, hint=exc.hint)
        self.send(m.error_response(m.Notice("ERROR", exc.sqlstate, exc.message, exc.detail,
                                            exc.hint, exc.position)))
        if self.tx.status == "T":
            self.tx.status = "E"

    def send_notice(self, severity: str, code: str, message: str) -> None:
        self.send(m.notice_response(m.Notice(severity, code, message)))

    def _end_implicit_transaction(self) -> None:
        if self.tx.status == "I":
            self._close_portals()

    def _close_portals(self) -> None:
        for name in list(self.portals):
            self._close_portal_cursor(self.portals.pop(name))

    # --- bounded work: every statement in flight can be stopped -------------

    @contextlib.asynccontextmanager
    async def guard(self, cancel: Callable[[], None], started: float | None = None) -> AsyncIterator[Running]:
        """One statement in flight (planning, or a backend statement and its rows):
        stopped by the client's cancel, by statement_timeout counted from `started`
        (loop time; default now) and by the memory guard. Whatever it raises once
        stopped, the client learns why it was stopped, as PostgreSQL reports it."""
        assert self.settings is not None
        running = self.server.running.running(cancel)
        loop = asyncio.get_running_loop()
        timeout = self.settings.statement_timeout_ms()
        timer = (loop.call_at((loop.time() if started is None else started) + timeout / 1000,
                              running.stop, TIMEOUT) if timeout else None)
        self.running = running
        watcher = asyncio.create_task(self._stop_when_client_leaves(running))
        try:
            yield running
        except (BackendError, SqlError, Stopped):
            if running.reason is not None:
                raise running.error() from None
            raise
        except MemoryError:  # the memory guard's address-space cap, met in our own code
            running.stop(MEMORY)
            raise stop_error(MEMORY) from None
        finally:
            watcher.cancel()
            if timer is not None:
                timer.cancel()
            self.server.running.discard(running)
            self.running = None
            if running.reason == MEMORY:
                # A backend connection keeps buffers as large as the largest row it
                # received (libpq's input buffer): start afresh.
                self._renew_cursor = True
            waited = 0
            while running.cancelling and waited < 2000:  # a late cancel must not hit the cursor's next statement
                await asyncio.sleep(0.005)
                waited += 5
        if running.reason is not None:  # e.g. DuckDB ends an interrupted fetch with no rows, not an error
            raise running.error()

    async def _stop_when_client_leaves(self, running: Running) -> None:
        """A client that hangs up mid-statement frees its slot and the backend's work at once,
        not when the statement ends. Seen while the socket is still read: a hang-up after
        unread pipelined messages is seen when the session reads up to it."""
        while running.reason is None:
            if self.reader.at_eof() or self.reader.exception() is not None:
                log.info("session %d: the client closed its connection mid-statement; stopping it",
                         self.process_id)
                running.stop(GONE)
                return
            await asyncio.sleep(0.1)

    def check_running(self) -> None:
        """Between batches: a stopped statement sends no more rows."""
        running = self.running
        if running is not None and running.reason is not None:
            raise running.error()

    async def plan(self, sql: str, declared: tuple[int, ...] = ()) -> list[Planned]:
        """Plan in a worker thread, under the timeout and the memory guard:
        planning is pure Python, and a long statement takes seconds (a 1 MB IN
        list about 20), which would stall every session on the event loop."""
        assert self.ctx is not None
        planner = Interruptible()
        async with self.guard(planner.interrupt):
            try:
                return await self.blocking(planner.run, self.server.plans.plan, sql, self.ctx, declared)
            except RecursionError:
                raise recursion_error() from None

    def _check_not_failed(self, planned: Planned) -> None:
        if self.tx.status == "E" and not (isinstance(planned, LocalCommand)
                                         and planned.action in ("rollback", "commit", "rollback_to")):
            raise SqlError("25P02", "current transaction is aborted, commands ignored until end of transaction block")

    # --- simple query -------------------------------------------------------

    async def simple_query(self, sql: str) -> None:
        started = asyncio.get_running_loop().time()  # the first statement's time includes planning
        try:
            planned = await self.plan(sql)
        except (SqlError, BackendError) as exc:
            planned = []
            self.send_error(exc)
        else:
            if not planned:
                self.send(m.empty_query_response())
            for item in planned:
                try:
                    self._check_not_failed(item)
                    await self.run_planned(item, [], (), describe=True, started=started)
                except (SqlError, BackendError) as exc:
                    self.send_error(exc)
                    break
                started = None
        self._end_implicit_transaction()  # a simple query outside a block commits: its portals go
        self.send(m.ready_for_query(self.tx.status))
        await self.flush()

    async def run_planned(self, item: Planned, params: list[Any], formats: tuple[int, ...],
                          *, describe: bool, started: float | None = None) -> None:
        if isinstance(item, DeclareCursor):
            await self.declare(item, params, started)
        elif isinstance(item, CopyOut):
            await self.copy_out(item, params, started)
        elif isinstance(item, LocalCommand) and item.action in CURSOR_ACTIONS:
            await self.cursor_command(item, formats, describe=describe)
        elif isinstance(item, LocalCommand):
            self.run_local(item, describe=describe)
        else:
            await self.run_backend(item, params, formats, describe=describe, started=started)

    async def run_backend(self, query: BackendQuery, params: list[Any], formats: tuple[int, ...],
                          *, describe: bool, started: float | None = None) -> None:
        cursor = self.dp_cursor(query, await self.acquire_cursor(query))
        try:
            async with self.guard(cursor.cancel, started):
                columns = await self.blocking(cursor.execute, query.sql, params, formats)
                self.send_cursor_notices(cursor)
                fmts = formats_for(formats, len(columns))
                if describe:
                    self.send(row_description(await self._labelled(query, columns), fmts))
                count = await self._stream(cursor, columns, fmts, limit=0)
        finally:
            self.release_cursor(cursor)
        self.send(m.command_complete(f"SELECT {count}"))

    async def copy_out(self, item: CopyOut, params: list[Any], started: float | None = None) -> None:
        """COPY (query) TO STDOUT: the query's rows in text or CSV, as CopyData."""
        cursor = self.dp_cursor(item.query, await self.acquire_cursor(item.query))
        try:
            async with self.guard(cursor.cancel, started):
                columns = await self.blocking(cursor.execute, item.query.sql, params, ())
                self.send_cursor_notices(cursor)
                self.send(copy.copy_out_response(len(columns)))
                if item.format.header:
                    self.send(copy.header([c.name for c in columns], item.format))
                encoders = column_encoders(columns, [0] * len(columns))
                count = await self._stream(cursor, columns, [0] * len(columns), limit=0,
                                           encode_rows=lambda rows: copy.copy_rows(rows, encoders, item.format))
        finally:
            self.release_cursor(cursor)
        self.send(copy.copy_done())
        self.send(m.command_complete(f"COPY {count}"))

    async def _stream(self, cursor: Cursor, columns: list[ResultColumn], formats: list[int],
                      limit: int, sent: list[int] | None = None,
                      encode_rows: Callable[[list[tuple[Any, ...]]], bytes] | None = None) -> int:
        """Send rows in batches (DataRows, or what `encode_rows` makes of them), waiting
        for the client to drain each one; returns the row count, or -1 when `limit`
        rows were sent and more may follow."""
        encoders = column_encoders(columns, formats, sent)
        encode = encode_rows or (lambda rows: m.data_rows(rows, encoders))
        sent, step = 0, first_step(columns)
        while True:
            want = BATCH_ROWS if not limit else min(BATCH_ROWS, limit - sent)
            if want == 0:
                return -1
            blob, n, step, done = await self.blocking(_fetch_batch, cursor, want, step, encode, self.running)
            self.check_running()
            if blob:
                self.send(blob)
                await self._flush_rows()
            sent += n
            if done:
                return sent

    async def _flush_rows(self) -> None:
        """Send a batch. Waiting for a slow client counts against the statement's
        time, as in PostgreSQL, so the wait ends when the statement is stopped."""
        self._write_out()
        transport = self.writer.transport
        running = self.running
        if running is None or transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[1]:
            await self.writer.drain()  # the client keeps up: no wait
            return
        drained = asyncio.ensure_future(self.writer.drain())
        while not drained.done():  # the stop comes from other threads: poll for it
            await asyncio.wait([drained], timeout=0.05)
            if running.reason is not None and not drained.done():
                drained.cancel()
                raise running.error()
        drained.result()


def _is_extended(msg: m.FrontendMessage) -> bool:
    if isinstance(msg, (m.InvalidText, m.TooLarge)):
        return msg.type_code != "Q"
    return isinstance(msg, (m.Parse, m.Bind, m.Describe, m.Execute, m.Close, m.Flush))


def _too_large(msg: m.TooLarge, max_statement: int) -> SqlError:
    if msg.type_code in ("Q", "P"):
        return SqlError("54001", f"statement too long: the message is {msg.length} bytes, and statements may "
                                 f"be at most {max_statement} bytes (limits.max_statement_length)",
                        hint="Send a shorter statement, e.g. pass long lists as parameters or load them into a table.")
    return SqlError("54000", f"bind message too large: {msg.length} bytes, at most {msg.limit} "
                             "(limits.max_message)", hint="Send smaller parameter values.")


def _fetch_batch(cursor: Cursor, limit: int, step: int, encode: Callable[[list[tuple[Any, ...]]], bytes],
                 running: Running | None) -> tuple[bytes, int, int, bool]:
    """Up to `limit` rows as DataRows, fetched `step` rows at a time (growing
    while rows are small) in one trip to the worker thread, ending early at
    BATCH_BYTES or when the statement is stopped. Returns the bytes, the row
    count, the next step, and whether the result is exhausted."""
    parts: list[bytes] = []
    n = size = 0
    while n < limit:
        want = min(step, limit - n)
        rows = cursor.fetch(want)
        blob = encode(rows)
        parts.append(blob)
        n, size = n + len(rows), size + len(blob)
        if len(rows) < want:
            return b"".join(parts), n, step, True
        step = next_step(len(rows), len(blob))
        if size >= BATCH_BYTES or (running is not None and running.reason is not None):
            break
    return b"".join(parts), n, step, False
