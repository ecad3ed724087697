"""Catalog questions (pg_catalog, information_schema).

Issue-3 slice: a role that may read every table sees the backend's own
PostgreSQL-compatible catalog; roles limited to some tables are refused until
the catalog room answers from the role's visible schema, so no name of a table
the role may not read leaks through the catalog.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError
from proxy.rewrite.context import RewriteContext


def plan_catalog_query(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    if ctx.role.tables is not None:
        raise SqlError("0A000", f'catalog queries are not available to role "{ctx.role.name}" yet',
                       hint="Query the tables your role may read directly.")
    return tree
