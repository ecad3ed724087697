"""PostgreSQL catalog idioms DuckDB's pg_catalog lacks, rewritten into ones it has.

Drivers look types and relations up with `to_regtype('x')`, `'x'::regclass`
and `oid::regtype::text`; DuckDB has the pg_type and pg_class views but not
the reg* types, so each idiom becomes a lookup in those views.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp

_LOOKUPS = {  # reg* type -> (catalog view, name column)
    "REGTYPE": ("pg_type", "typname"),
    "REGCLASS": ("pg_class", "relname"),
    "REGNAMESPACE": ("pg_namespace", "nspname"),
}
_TO_REG = {"to_regtype": "REGTYPE", "to_regclass": "REGCLASS", "to_regnamespace": "REGNAMESPACE"}


def _reg_kind(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Cast) and isinstance(node.to, exp.ObjectIdentifier):
        return node.to.name.upper()
    return None


def _oid_of(name: exp.Expression, kind: str) -> exp.Expression:
    view, column = _LOOKUPS[kind]
    # A qualified name ('public.t') matches on its last part, as search_path would.
    last = exp.func("split_part", name, exp.Literal.string("."), exp.Literal.number(-1))
    query = sqlglot.select("oid").from_(f"pg_catalog.{view}").where(exp.EQ(this=exp.column(column), expression=last)).limit(1)
    return exp.Subquery(this=query)


def _name_of(oid: exp.Expression, kind: str) -> exp.Expression:
    view, column = _LOOKUPS[kind]
    query = sqlglot.select(column).from_(f"pg_catalog.{view}").where(exp.EQ(this=exp.column("oid"), expression=oid)).limit(1)
    return exp.Subquery(this=query)


def uses_catalog_idioms(tree: exp.Expression) -> bool:
    return any(_reg_kind(n) or (isinstance(n, exp.Anonymous) and n.name.lower() in _TO_REG)
               for n in tree.find_all(exp.Cast, exp.Anonymous))


def adapt_catalog_idioms(tree: exp.Expression) -> exp.Expression:
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() in _TO_REG and node.expressions:
            return _oid_of(node.expressions[0], _TO_REG[node.name.lower()])
        kind = _reg_kind(node)
        if kind not in _LOOKUPS:
            return node
        inner = node.this
        if isinstance(node.parent, exp.Cast) and node.parent.to.is_type(*exp.DataType.TEXT_TYPES):
            return _name_of(inner, kind)  # oid::regtype::text -> the name
        if inner.is_string:
            return _oid_of(inner, kind)  # 'name'::regtype -> the oid
        return inner  # an oid stays an oid

    return tree.transform(swap, copy=False)
