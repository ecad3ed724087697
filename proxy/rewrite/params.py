"""Infer the types of $n parameters the client left unspecified, as PostgreSQL
does from their context, so drivers that encode by the described type
(asyncpg, JDBC) can send an int where a column is an int."""
from __future__ import annotations

from functools import cache

from sqlglot import exp

from proxy.catalog.definitions import pg_types

from proxy.rewrite.context import RewriteContext
from proxy.wire import types as pg

_DTYPE_OIDS = {
    exp.DataType.Type.BOOLEAN: pg.BOOL, exp.DataType.Type.SMALLINT: pg.INT2,
    exp.DataType.Type.INT: pg.INT4, exp.DataType.Type.BIGINT: pg.INT8,
    exp.DataType.Type.FLOAT: pg.FLOAT4, exp.DataType.Type.DOUBLE: pg.FLOAT8,
    exp.DataType.Type.DECIMAL: pg.NUMERIC, exp.DataType.Type.TEXT: pg.TEXT,
    exp.DataType.Type.VARCHAR: pg.VARCHAR, exp.DataType.Type.CHAR: pg.BPCHAR,
    exp.DataType.Type.DATE: pg.DATE, exp.DataType.Type.TIME: pg.TIME,
    exp.DataType.Type.TIMESTAMP: pg.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ: pg.TIMESTAMPTZ,
    exp.DataType.Type.INTERVAL: pg.INTERVAL, exp.DataType.Type.UUID: pg.UUID,
    exp.DataType.Type.JSON: pg.JSON, exp.DataType.Type.JSONB: pg.JSONB,
    exp.DataType.Type.VARBINARY: pg.BYTEA,
}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike)


def param_number(node: exp.Parameter) -> int | None:
    text = node.name
    return int(text) if text.isdigit() else None


def _column_oid(col: exp.Column, aliases: dict[str, str], ctx: RewriteContext) -> int | None:
    name = col.name.lower()
    tables = [aliases[col.table.lower()]] if col.table.lower() in aliases else list(aliases.values())
    for table in tables:
        oid = ctx.tables.get(table, {}).get(name)
        if oid is not None:
            return oid
    return None


def _type_oid(to: exp.Expression) -> int | None:
    """A cast's target type: int4, oid, regclass, and arrays of them (int4[] is _int4)."""
    if isinstance(to, exp.ObjectIdentifier):
        return _by_name().get(to.name.lower())
    if isinstance(to, exp.DataType) and to.this == exp.DType.ARRAY and to.expressions:
        element = _type_oid(to.expressions[0])
        array = pg_types().get(element, {}).get("typarray") if element else None
        return int(array) if array else None
    return _DTYPE_OIDS.get(to.this) if isinstance(to, exp.DataType) else None


@cache
def _by_name() -> dict[str, int]:
    return {str(row["typname"]): oid for oid, row in pg_types().items()}


def _context_oid(node: exp.Parameter, aliases: dict[str, str], ctx: RewriteContext) -> int:
    parent = node.parent
    if isinstance(parent, exp.Cast):
        return _type_oid(parent.to) or pg.TEXT
    if isinstance(parent, (exp.Limit, exp.Offset)):
        return pg.INT8
    if isinstance(parent, _COMPARISONS + (exp.Between, exp.In)):
        target = parent.this if parent.this is not node else parent.expression
        if isinstance(target, exp.Column):
            return _column_oid(target, aliases, ctx) or pg.TEXT
        if isinstance(target, exp.Cast):  # $1 < DATE '2030-01-01'
            return _type_oid(target.to) or pg.TEXT
    return pg.TEXT


def infer_param_types(tree: exp.Expression, declared: tuple[int, ...],
                      ctx: RewriteContext) -> tuple[int, ...]:
    """One oid per parameter $1..$n: the client's where given, else inferred."""
    params = [p for p in tree.find_all(exp.Parameter) if param_number(p)]
    count = max([param_number(p) or 0 for p in params] + [len(declared)])
    aliases = {t.alias_or_name.lower(): t.name.lower() for t in tree.find_all(exp.Table)}
    oids = list(declared) + [0] * (count - len(declared))
    for p in params:
        i = (param_number(p) or 1) - 1
        if oids[i] == 0:
            oids[i] = _context_oid(p, aliases, ctx)
    return tuple(oid or pg.TEXT for oid in oids)
