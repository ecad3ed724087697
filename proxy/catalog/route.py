"""Catalog questions (pg_catalog, information_schema): recognized here, answered
from the role's own catalog store, for every role and over either backend."""
from __future__ import annotations

from sqlglot import exp

from proxy.catalog.functions import MACROS
from proxy.catalog.transpile import Transpiled, catalog_relation, transpile
from proxy.errors import SqlError
from proxy.rewrite.allowlist import ANONYMOUS, FUNCTION_HINT, FUNCTIONS, STRUCTURE, function_name
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.resolve import resolve_names

_REG_TYPES = frozenset({"REGCLASS", "REGTYPE", "REGNAMESPACE", "REGPROC"})
_CATALOG_FUNCTIONS = frozenset(MACROS) | {"to_regclass", "to_regtype", "to_regnamespace", "to_regproc",
                                           "txid_current",  # the store's own (DuckDB's) transaction id
                                           "_pg_expandarray", "generate_subscripts", "array_agg", "string_agg"}
# Functions sqlglot knows by class that catalog statements use beyond the data allow-list.
_CATALOG_CLASSES = frozenset({exp.ArrayAgg, exp.GroupConcat, exp.CurrentSchema, exp.CurrentSchemas, exp.CurrentUser,
                              exp.Explode, exp.Operator, exp.Collate})  # transpile checks operators itself


def is_catalog_table(table: exp.Table, ctx: RewriteContext) -> bool:
    return isinstance(table.this, exp.Identifier) and catalog_relation(table) is not None \
        and not (not table.db and table.name.lower() in ctx.tables)


def is_catalog_query(tree: exp.Expression, ctx: RewriteContext) -> bool:
    """Reads a catalog relation, or reads no table and asks a catalog function or reg* cast."""
    tables = [t for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier)]
    if any(is_catalog_table(t, ctx) for t in tables):
        return True
    return not tables and _uses_catalog_idioms(tree)


def _uses_catalog_idioms(tree: exp.Expression) -> bool:
    for node in tree.find_all(exp.Anonymous, exp.DataType, exp.ObjectIdentifier):
        if isinstance(node, exp.Anonymous) and node.name.lower() in _CATALOG_FUNCTIONS:
            return True
        if isinstance(node, exp.ObjectIdentifier) and node.name.upper() in _REG_TYPES:
            return True
        kind = node.args.get("kind") if isinstance(node, exp.DataType) else None
        if isinstance(kind, exp.Dot) and kind.expression.name.upper() in _REG_TYPES:
            return True
    return False


def check_catalog_functions(tree: exp.Expression, ctx: RewriteContext) -> None:
    """The store is a DuckDB database: its own functions (current_setting, getenv,
    duckdb_*) must not answer a client. Every function a restricted role's catalog
    statement calls is on the data allow-list or is one of the catalog helpers."""
    if ctx.role.tables is None:
        return
    for node in tree.find_all(exp.Func):
        if isinstance(node, exp.Anonymous):
            if node.name.lower() not in ANONYMOUS and node.name.lower() not in _CATALOG_FUNCTIONS:
                raise SqlError("42883", f"function {node.name.lower()} does not exist", hint=FUNCTION_HINT)
        elif type(node) not in FUNCTIONS and type(node) not in STRUCTURE and type(node) not in _CATALOG_CLASSES:
            raise SqlError("42883", f"function {function_name(node)} does not exist", hint=FUNCTION_HINT)


def plan_catalog_query(tree: exp.Expression, ctx: RewriteContext) -> Transpiled:
    ctx.note("catalog", "answered from the role's own catalog of its visible schema")
    check_catalog_functions(tree, ctx)
    # CTEs bound with PostgreSQL's scoping (and renamed), so that transpile can tell a
    # CTE reference from a catalog relation: it checks every other name itself.
    return transpile(resolve_names(tree, ctx, other=_checked_by_transpile))


def _checked_by_transpile(table: exp.Table, ctx: RewriteContext) -> None:
    pass
