"""JOIN ... USING (x) becomes JOIN ... ON left.x = right.x for aggregate and dp roles,
and every unqualified x of that SELECT names the side PostgreSQL's merged column is.

Those modes check every join condition and give every column reference one source;
a USING join hides both (its condition is implicit, its column belongs to no one
table). Written out, the same grammar and scope checks apply as to ON. The rows are
PostgreSQL's: an inner or LEFT join's merged x is the left x, a RIGHT join's the right.

Left as written (and refused by those modes as before): a SELECT with * in its
list (USING merges the columns * shows), USING over FROM items other than stored
tables, and FULL joins (the merged column is COALESCE(left, right)).
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.relations import stored_relation
from proxy.rewrite.resolve import folded, stored_table


def expand_join_using(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    if ctx.role.mode not in ("aggregate", "dp"):
        return tree
    for select in list(tree.find_all(exp.Select)):
        if any(j.args.get("using") for j in select.args.get("joins") or []) and _expandable(select):
            _expand(select, ctx)
    return tree


def _expandable(select: exp.Select) -> bool:
    if any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
           for p in select.expressions):
        return False
    joins = select.args.get("joins") or []
    items = [select.args["from_"].this, *(j.this for j in joins)] if select.args.get("from_") else []
    return all(stored_table(i) is not None for i in items) and \
        not any(j.args.get("using") and _side(j) == "FULL" for j in joins)


def _side(join: exp.Join) -> str:
    return (join.args.get("side") or "").upper()


def _alias(table: exp.Table) -> str:
    alias = table.args.get("alias")
    return folded(alias.this) if isinstance(alias, exp.TableAlias) and alias.this else stored_table(table)


def _expand(select: exp.Select, ctx: RewriteContext) -> None:
    first = select.args["from_"].this
    left: list[tuple[str, set[str]]] = [(_alias(first), set(stored_relation(stored_table(first), ctx).columns))]
    merged: dict[str, tuple[str, set[str]]] = {}  # column -> (the alias it is read from, the aliases merged)
    for join in select.args.get("joins") or []:
        right = (_alias(join.this), set(stored_relation(stored_table(join.this), ctx).columns))
        using = join.args.get("using")
        if using:
            conditions = []
            names = [folded(i.this) if isinstance(i, exp.Column) else folded(i) for i in using]
            for name in names:
                if names.count(name) > 1:
                    raise SqlError("42701", f'column name "{name}" appears more than once in USING clause')
                side = _left_side(name, left, merged)
                if name not in right[1]:
                    raise SqlError("42703", f'column "{name}" specified in USING clause does not exist in right table')
                conditions.append(exp.EQ(this=exp.column(name, table=side, quoted=True),
                                         expression=exp.column(name, table=right[0], quoted=True)))
                reader = right[0] if _side(join) == "RIGHT" else side
                merged[name] = (reader, merged.get(name, (side, {side}))[1] | {side, right[0]})
            join.set("using", None)
            join.set("on", exp.and_(*conditions, copy=False))
        if join.args.get("on") is not None:  # a join's condition sees the columns merged so far
            _qualify(join.args["on"], select, {name: reader for name, (reader, _) in merged.items()})
        left.append(right)
    readers = {name: reader for name, (reader, _) in merged.items()}
    for arg, node in select.args.items():
        if arg not in ("joins", "from_", "with_") and node:
            for part in node if isinstance(node, list) else [node]:
                if isinstance(part, exp.Expression):
                    _qualify(part, select, readers)


def _left_side(name: str, left: list[tuple[str, set[str]]], merged: dict[str, tuple[str, set[str]]]) -> str:
    having = [alias for alias, columns in left if name in columns]
    if not having:
        raise SqlError("42703", f'column "{name}" specified in USING clause does not exist in left table')
    if name in merged:
        reader, group = merged[name]
        if any(alias not in group for alias in having):
            raise SqlError("42702", f'common column name "{name}" appears more than once in left table')
        return reader
    if len(having) > 1:
        raise SqlError("42702", f'common column name "{name}" appears more than once in left table')
    return having[0]


def _qualify(node: exp.Expression, select: exp.Select, readers: dict[str, str]) -> None:
    """Unqualified references to a merged column in `node`, a part of `select` (not of its subqueries)."""
    outputs = {p.alias.lower() for p in select.expressions if isinstance(p, exp.Alias)}
    order = select.args.get("order")
    for column in list(node.find_all(exp.Column)):
        if column.args.get("table") or not isinstance(column.this, exp.Identifier):
            continue
        name = folded(column.this)
        if name not in readers or column.find_ancestor(exp.Select) is not select:
            continue
        if name in outputs and order is not None and column.find_ancestor(exp.Order) is order:
            continue  # ORDER BY an output name reads the output
        column.set("table", exp.to_identifier(readers[name], quoted=True))
