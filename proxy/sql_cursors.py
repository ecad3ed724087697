"""SQL-level cursors of a session: DECLARE, FETCH, MOVE and CLOSE. Each DECLAREd
cursor holds a backend cursor of its own (an extra cursor, see backend_cursors.py)
and is read forward in batches, as the protocol's portals are."""
from __future__ import annotations

from typing import Any

from proxy.backends.base import BackendError, Cursor
from proxy.errors import SqlError
from proxy.portals import SqlCursor, formats_for, row_description
from proxy.rewrite.pipeline import DeclareCursor
from proxy.session_commands import LocalCommand
from proxy.wire import messages as m

SKIP_ROWS = 2000  # rows MOVE skips per trip to the worker thread (checking for a stop between)
CURSOR_ACTIONS = ("fetch", "move", "close_cursor")


class SqlCursors:
    """Mixed into Session: the methods here run on a Session."""

    async def declare(self, item: DeclareCursor, params: list[Any], started: float | None = None) -> None:
        if item.name in self.sql_cursors:
            raise SqlError("42P03", f'cursor "{item.name}" already exists')
        if not item.hold and self.tx.status == "I":
            raise SqlError("25P01", "DECLARE CURSOR can only be used in transaction blocks")
        cursor = await (self.catalog_cursor(item.query) if item.query.catalog else self.extra_cursor())
        cursor = self.dp_cursor(item.query, cursor)
        declared = (1,) if item.binary else ()
        try:
            async with self.guard(cursor.cancel, started):
                columns = await self.blocking(cursor.execute, item.query.sql, params, declared)
                self.send_cursor_notices(cursor)
        except BackendError:
            self.close_extra_cursor(cursor)
            raise
        self.sql_cursors[item.name] = SqlCursor(cursor, columns, item.binary, item.hold,
                                                formats_for(declared, len(columns)))
        self.send(m.command_complete("DECLARE CURSOR"))

    def _sql_cursor(self, name: str | None) -> SqlCursor:
        found = self.sql_cursors.get(name or "")
        if found is None:
            raise SqlError("34000", f'cursor "{name}" does not exist')
        return found

    async def cursor_command(self, cmd: LocalCommand, formats: tuple[int, ...], *, describe: bool) -> None:
        if cmd.action == "close_cursor":
            if cmd.name is None:
                self._close_sql_cursors(keep_hold=False)
            else:
                self.close_extra_cursor(self._sql_cursor(cmd.name).cursor)
                del self.sql_cursors[cmd.name]
            self.send(m.command_complete(cmd.tag))
            return
        sc = self._sql_cursor(cmd.name)
        limit = 0 if cmd.value == "ALL" else int(cmd.value or 1)
        try:
            async with self.guard(sc.cursor.cancel):
                if cmd.action == "move":
                    count = await self._skip(sc.cursor, limit)
                else:
                    fmts = formats_for(formats or ((1,) if sc.binary else ()), len(sc.columns))
                    if describe:
                        self.send(row_description(sc.columns, fmts))
                    count = 0 if cmd.value == "0" else await self._stream(sc.cursor, sc.columns, fmts,
                                                                          limit=limit, sent=sc.sent)
                    count = limit if count < 0 else count
        except BackendError:
            # As in PostgreSQL, a cursor whose FETCH failed is gone: its backend result is.
            self.close_extra_cursor(sc.cursor)
            self.sql_cursors.pop(cmd.name or "", None)
            raise
        self.send(m.command_complete(f"{cmd.tag} {count}"))

    async def _skip(self, cursor: Cursor, limit: int) -> int:
        skipped = 0
        while not limit or skipped < limit:
            want = SKIP_ROWS if not limit else min(SKIP_ROWS, limit - skipped)
            n = len(await self.blocking(cursor.fetch, want))
            self.check_running()
            skipped += n
            if n < want:
                break
        return skipped

    def _close_sql_cursors(self, *, keep_hold: bool) -> None:
        for name, sc in list(self.sql_cursors.items()):
            if not (keep_hold and sc.hold):
                self.close_extra_cursor(sc.cursor)
                del self.sql_cursors[name]

