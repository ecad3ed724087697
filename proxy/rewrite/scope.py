"""Name scoping that the guard and the policy views must get exactly right:
does a table reference name a CTE, or the real table of the same name?

`WITH customers AS (SELECT * FROM customers) SELECT * FROM customers`: the
outer reference is the CTE, the inner one is the real table (a non-recursive
CTE cannot see itself). Getting this wrong would let a raw table through.
"""
from __future__ import annotations

from sqlglot import exp


def _defines_before(with_: exp.With, name: str, inside: exp.Expression | None) -> bool:
    """Whether `with_` defines `name` where a reference under `inside` can see it."""
    recursive = bool(with_.args.get("recursive"))
    for cte in with_.expressions:
        if cte is inside:
            # Inside a CTE's own body only earlier CTEs are visible, and itself if recursive.
            return recursive and cte.alias_or_name.lower() == name
        if cte.alias_or_name.lower() == name:
            return True
    return False


def names_cte(table: exp.Table) -> bool:
    """True when `table` refers to a CTE in scope rather than to a stored table."""
    if table.args.get("db") or table.args.get("catalog") or not isinstance(table.this, exp.Identifier):
        return False
    name = table.name.lower()
    child: exp.Expression = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):  # the reference sits in one of this WITH's CTEs
            if _defines_before(node, name, child):
                return True
        else:
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With) and child is not with_ and _defines_before(with_, name, None):
                return True
        child, node = node, node.parent
    return False
