"""The extended query protocol (Parse, Bind, Describe, Execute, Close) of a session:
named statements planned once, portals bound with parameters, rows described before
they are fetched and fetched in pieces (PortalSuspended)."""
from __future__ import annotations

from proxy.backends.base import BackendError, ResultColumn
from proxy.catalog.origins import with_origins
from proxy.connection_limits import too_many
from proxy.dp.cursor import DpCursor
from proxy.errors import SqlError
from proxy.portals import Portal, Prepared, decode_param, formats_for, row_description
from proxy.rewrite.pipeline import BackendQuery, CopyOut, DeclareCursor, Planned
from proxy.session_commands import LocalCommand
from proxy.wire import messages as m
from proxy.wire import types as pg


class ExtendedQuery:
    """Mixed into Session: the methods here run on a Session."""

    async def extended(self, msg: m.FrontendMessage) -> None:
        if isinstance(msg, m.Parse):
            await self._parse(msg)
        elif isinstance(msg, m.Bind):
            self._bind(msg)
        elif isinstance(msg, m.Describe):
            await self._describe(msg)
        elif isinstance(msg, m.Execute):
            await self._execute(msg)
        elif isinstance(msg, m.Close):
            if msg.kind == "S":
                self.prepared.pop(msg.name, None)
            elif (portal := self.portals.pop(msg.name, None)) is not None:
                self._close_portal_cursor(portal)
            self.send(m.close_complete())

    async def _parse(self, msg: m.Parse) -> None:
        if not msg.name:
            self.prepared.pop("", None)  # as in PostgreSQL: gone even if this Parse fails
        elif msg.name in self.prepared:
            raise SqlError("42P05", f'prepared statement "{msg.name}" already exists')
        elif len(self.prepared) >= self.server.limits.max_prepared_statements:
            raise too_many("prepared statements in this session", self.server.limits.max_prepared_statements,
                           "limits.max_prepared_statements", "Close (DEALLOCATE) statements no longer needed.")
        planned = await self.plan(msg.sql, msg.param_oids)
        if len(planned) > 1:
            raise SqlError("42601", "cannot insert multiple commands into a prepared statement")
        plan = planned[0] if planned else None
        if isinstance(plan, (DeclareCursor, CopyOut)):
            oids = plan.query.param_oids
        else:
            oids = plan.param_oids if isinstance(plan, BackendQuery) else msg.param_oids
        self.prepared[msg.name] = Prepared(msg.sql, plan, tuple(oids))
        self.send(m.parse_complete())

    def _bind(self, msg: m.Bind) -> None:
        stmt = self.prepared.get(msg.statement)
        if stmt is None:
            raise SqlError("26000", f'prepared statement "{msg.statement}" does not exist')
        if msg.portal and msg.portal in self.portals:
            raise SqlError("42P03", f'cursor "{msg.portal}" already exists')
        if len(msg.params) != len(stmt.param_oids):
            raise SqlError("08P01", f"bind message supplies {len(msg.params)} parameters, "
                                    f"but prepared statement \"{msg.statement}\" requires {len(stmt.param_oids)}")
        formats = formats_for(msg.param_formats, len(msg.params))
        params = [decode_param(raw, oid, fmt, i + 1)
                  for i, (raw, oid, fmt) in enumerate(zip(msg.params, stmt.param_oids, formats))]
        old = self.portals.pop(msg.portal, None)
        if old is not None:
            self._close_portal_cursor(old)
        elif len(self.portals) >= self.server.limits.max_portals:
            raise too_many("portals in this session", self.server.limits.max_portals, "limits.max_portals",
                           "Close portals no longer needed, or Sync to end the implicit transaction.")
        self.portals[msg.portal] = Portal(stmt, params, msg.result_formats)
        self.send(m.bind_complete())

    async def _describe(self, msg: m.Describe) -> None:
        if msg.kind == "S":
            stmt = self.prepared.get(msg.name)
            if stmt is None:
                raise SqlError("26000", f'prepared statement "{msg.name}" does not exist')
            self.send(m.parameter_description(stmt.param_oids))
            columns = await self._statement_columns(stmt)
            self.send(row_description(columns, ()) if columns else m.no_data())
            return
        if msg.name not in self.portals and msg.name in self.sql_cursors:
            # A DECLAREd cursor is a portal too: drivers describe it by name (psycopg does).
            sc = self.sql_cursors[msg.name]
            self.send(row_description(sc.columns, formats_for((1,) if sc.binary else (), len(sc.columns))))
            return
        portal = self._portal(msg.name)
        columns = await self._portal_columns(portal)
        if columns:
            self.send(row_description(columns, formats_for(portal.result_formats, len(columns))))
        else:
            self.send(m.no_data())

    async def _statement_columns(self, stmt: Prepared) -> list[ResultColumn]:
        if not isinstance(stmt.plan, BackendQuery):
            return self._local_columns(stmt.plan)  # a FETCH's columns follow its cursor: not cached
        if stmt.columns is None:
            catalog = stmt.plan.catalog
            cursor = await (self.catalog_cursor(stmt.plan) if catalog else self.session_cursor())
            cursor = self.dp_cursor(stmt.plan, cursor)
            params = [None] * len(stmt.param_oids)
            try:
                async with self.guard(cursor.cancel):
                    columns = await self.blocking(cursor.describe, stmt.plan.sql, params)
            finally:
                if catalog:
                    self.release_cursor(cursor)
                elif isinstance(cursor, DpCursor):
                    cursor.close()
            stmt.columns = await self._labelled(stmt.plan, columns)
        return stmt.columns

    async def _labelled(self, query: BackendQuery, columns: list[ResultColumn]) -> list[ResultColumn]:
        """Columns read straight from a stored table carry its OID and column number in
        the role's catalog (built on first need), as PostgreSQL's RowDescription does."""
        if not any(origin is not None for origin in query.origins):
            return columns
        store = await self.blocking(self.server.catalogs.get, self.ctx)
        return with_origins(columns, query.origins, store.tables)

    def _local_columns(self, plan: Planned | None) -> list[ResultColumn]:
        if isinstance(plan, LocalCommand) and plan.action == "show":
            return [ResultColumn((plan.name or "").lower(), pg.TEXT, -1)]
        if isinstance(plan, LocalCommand) and plan.action == "show_all":
            return [ResultColumn(n, pg.TEXT, -1) for n in ("name", "setting", "description")]
        if isinstance(plan, LocalCommand) and plan.action == "fetch" and plan.name in self.sql_cursors:
            return self.sql_cursors[plan.name].columns
        return []

    def _portal(self, name: str) -> Portal:
        portal = self.portals.get(name)
        if portal is None:
            raise SqlError("34000", f'portal "{name}" does not exist')
        return portal

    async def _portal_columns(self, portal: Portal) -> list[ResultColumn]:
        """Start the portal's query (once) and return its result columns."""
        plan = portal.statement.plan
        if not isinstance(plan, BackendQuery):
            return self._local_columns(plan)
        if portal.columns is None:
            self._check_not_failed(plan)
            cursor = self.dp_cursor(plan, await self.acquire_cursor(plan))
            portal.cursor = cursor
            async with self.guard(cursor.cancel):
                columns = await self.blocking(cursor.execute, plan.sql, portal.params, portal.result_formats)
                self.send_cursor_notices(cursor)
            portal.columns = await self._labelled(plan, columns)
        return portal.columns

    async def _execute(self, msg: m.Execute) -> None:
        portal = self._portal(msg.portal)
        plan = portal.statement.plan
        if plan is None:
            self.send(m.empty_query_response())
            return
        self._check_not_failed(plan)
        if isinstance(plan, (LocalCommand, DeclareCursor, CopyOut)):
            if portal.done:
                self.send(m.command_complete(plan.tag if isinstance(plan, LocalCommand)
                                             else "COPY 0" if isinstance(plan, CopyOut) else "DECLARE CURSOR"))
                return
            portal.done = True
            await self.run_planned(plan, portal.params, portal.result_formats, describe=False)
            return
        if portal.done:
            self.send(m.command_complete("SELECT 0"))
            return
        try:
            columns = await self._portal_columns(portal)
            assert portal.cursor is not None
            async with self.guard(portal.cursor.cancel):
                count = await self._stream(portal.cursor, columns,
                                           formats_for(portal.result_formats, len(columns)),
                                           limit=max(msg.max_rows, 0))
        except BackendError:
            self._close_portal_cursor(portal)
            raise
        if count < 0:
            portal.sent += msg.max_rows
            self.send(m.portal_suspended())
            return
        portal.done = True
        self._close_portal_cursor(portal)
        self.send(m.command_complete(f"SELECT {portal.sent + count}"))

    def _close_portal_cursor(self, portal: Portal) -> None:
        cursor, portal.cursor = portal.cursor, None
        if cursor is not None:
            self.release_cursor(cursor)
