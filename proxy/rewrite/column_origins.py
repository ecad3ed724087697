"""Which stored table column each output column reads straight through, as
PostgreSQL's RowDescription says (table OID, column number): JDBC's getTableName
and isNullable, and BI tools' editable grids, look the column up by it.

Only the statement's own top-level SELECT list is traced, and only bare column
references and `*` / `t.*` over stored tables; anything computed has no origin.
Recorded before the policy views are spliced in, while every table node still
says which stored table it reads.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from proxy.rewrite.context import RewriteContext
from proxy.rewrite.resolve import stored_table

ORIGINS = "anonproxy.origins"  # meta key on the statement's root: tuple[Origin | None, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    """A projection's source: one column of a stored table, or all of them (`*`)."""

    table: str
    column: str | None  # None: every visible column of the table, in order


def _tables_by_alias(select: exp.Select) -> dict[str, str]:
    """The stored tables this SELECT reads directly (not in subqueries), by alias."""
    out = {}
    for source in [select.args.get("from_"), *(select.args.get("joins") or [])]:
        table = source.this if source is not None else None
        name = stored_table(table) if isinstance(table, exp.Table) else None
        if name is not None:
            out[table.alias_or_name] = name
    return out


def _origin(projection: exp.Expression, tables: dict[str, str]) -> Origin | None:
    node = projection.this if isinstance(projection, exp.Alias) else projection
    if isinstance(node, exp.Star):
        return Origin(next(iter(tables.values())), None) if len(tables) == 1 else None
    if not isinstance(node, exp.Column):
        return None
    if isinstance(node.this, exp.Star):  # t.*
        return Origin(tables[node.table], None) if node.table in tables else None
    if node.table:
        return Origin(tables[node.table], node.name) if node.table in tables else None
    return Origin(next(iter(tables.values())), node.name) if len(tables) == 1 else None


def record_column_origins(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    if isinstance(tree, exp.Select):
        tables = _tables_by_alias(tree)
        tree.meta[ORIGINS] = tuple(_origin(p, tables) for p in tree.expressions) if tables else ()
    return tree


def column_origins(tree: exp.Expression) -> tuple[Origin | None, ...]:
    return tree.meta.get(ORIGINS, ())
