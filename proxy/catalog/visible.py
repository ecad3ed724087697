"""A role's visible schema, read from what its policy views return.

The backend describes each table's policy view (or the stored table, for a role
reading tables as stored), so every column carries the PostgreSQL type the role
actually receives: a tokenized integer id is int8, a hidden column absent.
"""
from __future__ import annotations

from proxy.backends.base import Cursor
from proxy.catalog.model import VisibleColumn
from proxy.errors import SqlError
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.policy_views import PERSON, view_sql


def visible_schema(ctx: RewriteContext, cursor: Cursor) -> dict[str, list[VisibleColumn]]:
    tables = {}
    for table in sorted(ctx.tables):
        if ctx.role.may_read(table):
            source = _source(table, ctx)
            if source is not None:
                columns = cursor.describe(f"SELECT * FROM {source} AS v", [])
                tables[table] = [VisibleColumn(c.name, c.type_oid, c.type_modifier)
                                 for c in columns if c.name != PERSON]
    return tables


def _source(table: str, ctx: RewriteContext) -> str | None:
    if not ctx.role.transforms:
        return '"' + table.replace('"', '""') + '"'
    try:
        return f"({view_sql(ctx.role.table(table), ctx)})"
    except SqlError:  # every column hidden: the table does not exist for the role
        return None
