"""PostgreSQL's division on DuckDB.

PostgreSQL divides two integers to an integer, truncating (5 / 2 = 2), and a
division by zero is an error (22012) for every numeric type. DuckDB's `/` always
divides as floating point and gives inf for x / 0; its `//` is exactly
PostgreSQL's `/`: integer division, truncating, for integer operands, ordinary
division otherwise, and an error on zero. Intervals have no `//`, so a division
with an interval operand keeps `/`.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.rewrite.context import RewriteContext


def _interval(node: exp.Expression) -> bool:
    if isinstance(node, exp.Paren):
        return _interval(node.this)
    if isinstance(node, exp.Interval):
        return True
    return isinstance(node, exp.Cast) and node.to.is_type(exp.DType.INTERVAL)


def postgres_division(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    return duckdb_division(tree) if ctx.dialect == "duckdb" else tree


def duckdb_division(tree: exp.Expression) -> exp.Expression:
    """Every `/` of a tree that DuckDB runs as DuckDB's `//`, intervals aside."""
    for node in list(tree.find_all(exp.Div)):
        if not (_interval(node.this) or _interval(node.expression)):
            node.replace(exp.IntDiv(this=node.this, expression=node.expression))
    return tree
