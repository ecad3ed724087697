"""Name unaliased output columns the way PostgreSQL does (count, sum, ?column?),
so clients see the same column names as on a real PostgreSQL server rather
than the backend's (DuckDB would say count_star())."""
from __future__ import annotations

from sqlglot import exp


def pg_column_name(node: exp.Expression) -> str | None:
    """PostgreSQL's name for an output expression; None keeps the backend's."""
    if isinstance(node, (exp.Column, exp.Star, exp.Alias)):
        return None
    if isinstance(node, exp.Cast):
        inner = pg_column_name(node.this)
        if isinstance(node.this, exp.Column):
            return None
        return inner if inner not in (None, "?column?") else node.to.sql(dialect="postgres").lower()
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return type(node).sql_names()[0].lower() if type(node).sql_names() else node.key
    if isinstance(node, (exp.Case,)):
        return "case"
    if isinstance(node, exp.Paren):
        return pg_column_name(node.this)
    return "?column?"


def _name_projections(select: exp.Select) -> None:
    for proj in list(select.expressions):
        name = pg_column_name(proj)
        if name is not None:
            proj.replace(exp.alias_(proj.copy(), name, quoted=True))


def name_output_columns(tree: exp.Expression) -> exp.Expression:
    node = tree
    while isinstance(node, exp.SetOperation):  # names come from the leftmost branch
        node = node.this
    if isinstance(node, exp.Select):
        _name_projections(node)
    return tree
