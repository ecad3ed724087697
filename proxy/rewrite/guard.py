"""Guard: only read-only queries over tables the role may read get past this pass.

Issue-3 slice of DESIGN.md section 3: statement kind, table allow-list, no table
functions or file scans. The function allow-list arrives with the policy issue;
until then the DuckDB backend's locked configuration is what stops file access.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError, insufficient_privilege, undefined_table
from proxy.rewrite.context import RewriteContext

_LOCAL_SCHEMAS = frozenset({"public", "main"})
# Set-returning functions that read nothing but their arguments.
_SAFE_TABLE_FUNCTIONS = frozenset({"generate_series", "unnest", "range"})
_QUERY_TYPES = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)


def cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def require_query(tree: exp.Expression) -> exp.Expression:
    if isinstance(tree, _QUERY_TYPES):
        return tree
    what = tree.key.upper() if not isinstance(tree, exp.Command) else str(tree.this).upper()
    raise insufficient_privilege(
        f"{what} is not allowed: anonproxy serves read-only queries",
        hint="Only SELECT, VALUES and WITH ... SELECT statements are accepted.")


def _check_table(table: exp.Table, ctx: RewriteContext, ctes: set[str]) -> None:
    if not isinstance(table.this, exp.Identifier):
        name = table.this.sql(dialect="postgres") if table.this else "?"
        func = table.this.name.lower() if isinstance(table.this, exp.Func) else ""
        if func in _SAFE_TABLE_FUNCTIONS or isinstance(table.this, exp.Unnest):
            return
        raise insufficient_privilege(f"table function {name} is not allowed",
                                     hint="Query the tables your role may read.")
    name = table.name.lower()
    schema, catalog = table.db.lower(), table.catalog.lower()
    if not schema and name in ctes:
        return
    if catalog and catalog != ctx.database.lower():
        raise SqlError("0A000", f"cross-database references are not implemented: {table.sql(dialect='postgres')}")
    if schema and schema not in _LOCAL_SCHEMAS:
        raise undefined_table(f"{table.db}.{table.name}")
    if name not in ctx.tables or not ctx.role.may_read(name):
        raise undefined_table(table.name)


def guard(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    require_query(tree)
    for node in tree.find_all(exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create,
                              exp.Drop, exp.Copy, exp.Into, exp.Lock):
        raise insufficient_privilege(
            f"{node.key.upper()} is not allowed: anonproxy serves read-only queries")
    ctes = cte_names(tree)
    for table in tree.find_all(exp.Table):
        _check_table(table, ctx, ctes)
    return tree
