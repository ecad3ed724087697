"""A role's visible schema, read from what its policy views return.

The backend describes each table's policy view (or the stored table, for a role
reading tables as stored), so every column carries the PostgreSQL type the role
actually receives: a tokenized integer id is int8, a hidden column absent.
A declared primary key stays a key only where the role receives each of its
columns one-to-one (raw or tokenized); a generalized or masked key is no longer
unique, and a hidden one would name the hidden column.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from proxy.backends.base import Cursor
from proxy.catalog.model import VisibleColumn
from proxy.errors import SqlError
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.policy_views import PERSON, view_sql


_ONE_TO_ONE = frozenset({"raw", "tokenize"})


def visible_schema(ctx: RewriteContext, cursor: Cursor,
                   primary_keys: Mapping[str, Sequence[str]]) -> dict[str, list[VisibleColumn]]:
    tables = {}
    for table in sorted(ctx.tables):
        if ctx.role.may_read(table):
            source = _source(table, ctx)
            if source is not None:
                key = visible_key(ctx, table, primary_keys.get(table, ()))
                columns = cursor.describe(f"SELECT * FROM {source} AS v", [])
                tables[table] = [VisibleColumn(c.name, c.type_oid, c.type_modifier, not_null=c.name in key)
                                 for c in columns if c.name != PERSON]
    return tables


def visible_key(ctx: RewriteContext, table: str, key: Sequence[str]) -> tuple[str, ...]:
    """The table's primary key as the role receives it, or () when it is not one."""
    if not ctx.role.transforms:
        return tuple(key)
    policy = ctx.role.table(table)
    return tuple(key) if key and all(policy.rule(c).rule in _ONE_TO_ONE for c in key) else ()


def _source(table: str, ctx: RewriteContext) -> str | None:
    if not ctx.role.transforms:
        return '"' + table.replace('"', '""') + '"'
    try:
        return f"({view_sql(ctx.role.table(table), ctx)})"
    except SqlError:  # every column hidden: the table does not exist for the role
        return None
