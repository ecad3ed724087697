"""Catalog questions (pg_catalog, information_schema).

Issue-3 slice: a role that may read every table sees the backend's own
PostgreSQL-compatible catalog; roles limited to some tables are refused until
the catalog room answers from the role's visible schema, so no name of a table
the role may not read leaks through the catalog.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.catalog.duckdb_compat import adapt_catalog_idioms, uses_catalog_idioms
from proxy.errors import SqlError
from proxy.rewrite.context import RewriteContext

CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})


def is_catalog_table(table: exp.Table, ctx: RewriteContext) -> bool:
    schema = table.db.lower()
    if schema in CATALOG_SCHEMAS:
        return True
    return not schema and table.name.lower().startswith("pg_") and table.name.lower() not in ctx.tables


def is_catalog_query(tree: exp.Expression, ctx: RewriteContext) -> bool:
    """Reads the catalog: a pg_catalog or information_schema relation, or a reg* lookup."""
    return any(is_catalog_table(t, ctx) for t in tree.find_all(exp.Table)) or uses_catalog_idioms(tree)


def plan_catalog_query(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    if ctx.role.tables is not None:
        raise SqlError("0A000", f'catalog queries are not available to role "{ctx.role.name}" yet',
                       hint="Query the tables your role may read directly.")
    return adapt_catalog_idioms(tree) if ctx.dialect == "duckdb" else tree
