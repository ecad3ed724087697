"""Guard: only read-only queries over tables the role may read get past this pass.

DESIGN.md section 3: statement kind, the role's tables (CTE scoping resolved
exactly, see scope.py), no table functions or file scans, and the function
allow-list of functions.py. Defence in depth: the DuckDB backend's locked
configuration stops file access even if something slipped through.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError, insufficient_privilege, undefined_table
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.functions import check_functions
from proxy.rewrite.policy_views import RESERVED_PREFIX
from proxy.rewrite.scope import names_cte

_LOCAL_SCHEMAS = frozenset({"public", "main"})
# Set-returning functions that read nothing but their arguments.
_SAFE_TABLE_FUNCTIONS = frozenset({"generate_series", "unnest", "range"})
_QUERY_TYPES = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)


def require_query(tree: exp.Expression) -> exp.Expression:
    if isinstance(tree, _QUERY_TYPES):
        return tree
    what = tree.key.upper() if not isinstance(tree, exp.Command) else str(tree.this).upper()
    raise insufficient_privilege(
        f"{what} is not allowed: anonproxy serves read-only queries",
        hint="Only SELECT, VALUES and WITH ... SELECT statements are accepted.")


def _check_table(table: exp.Table, ctx: RewriteContext) -> None:
    if not isinstance(table.this, exp.Identifier):
        name = table.this.sql(dialect="postgres") if table.this else "?"
        func = table.this.name.lower() if isinstance(table.this, exp.Func) else ""
        if func in _SAFE_TABLE_FUNCTIONS or isinstance(table.this, exp.Unnest):
            return
        raise insufficient_privilege(f"table function {name} is not allowed",
                                     hint="Query the tables your role may read.")
    name = table.name.lower()
    schema, catalog = table.db.lower(), table.catalog.lower()
    if names_cte(table):
        return
    if catalog and catalog != ctx.database.lower():
        raise SqlError("0A000", f"cross-database references are not implemented: {table.sql(dialect='postgres')}")
    if schema and schema not in _LOCAL_SCHEMAS:
        raise undefined_table(f"{table.db}.{table.name}")
    if name not in ctx.tables or not ctx.role.may_read(name):
        raise undefined_table(table.name)


def _check_identifiers(tree: exp.Expression) -> None:
    for ident in tree.find_all(exp.Identifier):
        if ident.name.lower().startswith(RESERVED_PREFIX):
            raise SqlError("42602", f'invalid name "{ident.name}": names starting with '
                                    f'"{RESERVED_PREFIX}" are reserved by the proxy')


def guard(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    require_query(tree)
    _check_identifiers(tree)
    for node in tree.find_all(exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create,
                              exp.Drop, exp.Copy, exp.Into, exp.Lock):
        raise insufficient_privilege(
            f"{node.key.upper()} is not allowed: anonproxy serves read-only queries")
    for table in tree.find_all(exp.Table):
        _check_table(table, ctx)
    return check_functions(tree)
