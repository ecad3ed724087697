"""The backend cursors of a session: its own (lent to one statement or portal at a
time), extra ones while a suspended portal or a DECLAREd cursor holds it (bounded
per session and across the server: on PostgreSQL each is a server connection), a
catalog statement's cursor on the role's catalog store, and the dp release that
wraps a dp statement's cursor."""
from __future__ import annotations

from proxy.backends.base import Cursor
from proxy.catalog.cursor import CatalogCursor
from proxy.connection_limits import too_many
from proxy.dp.accuracy import Target
from proxy.dp.cursor import DpCursor, DpSession
from proxy.errors import SqlError
from proxy.rewrite.pipeline import BackendQuery


class BackendCursors:
    """Mixed into Session: the methods here run on a Session."""

    async def session_cursor(self) -> Cursor:
        if self.cursor is None:
            self.cursor = await self.blocking(self.server.backend.cursor)
        return self.cursor

    async def catalog_cursor(self, query: BackendQuery) -> Cursor:
        """A cursor on the role's catalog store (built on the login's first catalog statement)."""
        assert self.ctx is not None
        store = await self.blocking(self.server.catalogs.get, self.ctx)
        return await self.blocking(CatalogCursor, store, query.column_oids)

    async def acquire_cursor(self, query: BackendQuery | None = None) -> Cursor:
        """The session's cursor, or a fresh one while a suspended portal holds it;
        a catalog statement's own cursor on the catalog store."""
        if query is not None and query.catalog:
            return await self.catalog_cursor(query)
        if not self._cursor_lent:
            cursor = await self.session_cursor()
            self._cursor_lent = True
            return cursor
        return await self.extra_cursor()

    def release_cursor(self, cursor: Cursor) -> None:
        if isinstance(cursor, DpCursor):
            cursor.close()
            cursor = cursor.backend
        if isinstance(cursor, CatalogCursor):
            self.server.executor.submit(cursor.close)
            return
        if cursor is self.cursor and not self._renew_cursor:
            self._cursor_lent = False
            return
        if cursor is self.cursor:
            self.cursor, self._cursor_lent, self._renew_cursor = None, False, False
            self.server.executor.submit(cursor.close)
        else:
            self.close_extra_cursor(cursor)

    async def extra_cursor(self) -> Cursor:
        """A backend cursor beyond the session's own (a DECLAREd cursor, or a statement
        while a suspended portal holds the session's): bounded per session and overall,
        since on PostgreSQL each one is a server connection."""
        limits = self.server.limits
        if self._extra_cursors >= limits.max_cursors:
            raise too_many("open cursors in this session", limits.max_cursors, "limits.max_cursors",
                           "Close cursors (CLOSE, or the protocol's Close) or run suspended portals to "
                           "completion before opening more.")
        if self.server.extra_cursors >= limits.max_backend_cursors:
            raise SqlError("53300", f"too many open cursors across all sessions: at most {limits.max_backend_cursors} "
                                    "(limits.max_backend_cursors)", hint="Try again when other sessions close theirs.")
        self._extra_cursors += 1
        self.server.extra_cursors += 1
        try:
            return await self.blocking(self.server.backend.cursor)
        except BaseException:
            self._extra_cursors -= 1
            self.server.extra_cursors -= 1
            raise

    def close_extra_cursor(self, cursor: Cursor) -> None:
        if isinstance(cursor, DpCursor):
            cursor.close()
            cursor = cursor.backend
        if isinstance(cursor, CatalogCursor):  # not counted: the store is the proxy's own
            self.server.executor.submit(cursor.close)
            return
        self._extra_cursors -= 1
        self.server.extra_cursors -= 1
        self.server.executor.submit(cursor.close)

    def dp_cursor(self, query: BackendQuery, cursor: Cursor) -> Cursor:
        """A dp statement runs through its release: noise, the ledger's charge, post-processing."""
        if query.dp is None:
            return cursor
        assert self.ctx is not None and self.settings is not None and self.server.ledger is not None
        role = self.ctx.role
        assert role.budget is not None
        epsilon = self.settings.epsilon(role.budget.default_epsilon)
        target = self.settings.target_error()
        return DpCursor(cursor, query.dp, DpSession(role.name, self.user, role.budget, epsilon, self.server.ledger,
                                                    Target(*target) if target else None))

    def send_cursor_notices(self, cursor: Cursor) -> None:
        for text in getattr(cursor, "notices", ()):
            self.send_notice("NOTICE", "00000", text)

