"""Guard: only read-only queries get past this pass, and no client identifier
may look like one the proxy writes (tables and functions are checked by
resolve_names and check_allowed)."""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError, insufficient_privilege
from proxy.rewrite.context import RewriteContext

RESERVED_PREFIX = "__anonproxy"  # the proxy's own names (CTEs, person columns) start with it
_QUERY_TYPES = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Copy, exp.Into, exp.Lock)


def require_query(tree: exp.Expression) -> exp.Expression:
    if isinstance(tree, _QUERY_TYPES):
        return tree
    what = tree.key.upper() if not isinstance(tree, exp.Command) else str(tree.this).upper()
    raise insufficient_privilege(
        f"{what} is not allowed: anonproxy serves read-only queries",
        hint="Only SELECT, VALUES and WITH ... SELECT statements are accepted.")


def guard(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    require_query(tree)
    for node in tree.find_all(*_WRITES):
        raise insufficient_privilege(f"{node.key.upper()} is not allowed: anonproxy serves read-only queries")
    for ident in tree.find_all(exp.Identifier):
        if ident.name.lower().startswith(RESERVED_PREFIX):
            raise SqlError("42602", f'invalid name "{ident.name}": names starting with '
                                    f'"{RESERVED_PREFIX}" are reserved by the proxy')
    return tree
