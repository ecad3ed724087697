"""PostgreSQL's array literals on DuckDB: '{1,2}'::int[].

PostgreSQL reads a string cast to an array type in its array syntax (braces,
double-quoted elements, NULL); DuckDB casts only its own list syntax. A
constant of that form becomes an ARRAY[...] of its elements, each cast by the
outer cast as PostgreSQL would.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError
from proxy.rewrite.context import RewriteContext
from proxy.wire import types as pg


def _elements(text: str) -> list[str | None]:
    try:
        return pg.TYPES[1009].decode_text(text.encode())  # text[]: the elements as written
    except ValueError:
        raise SqlError("22P02", f'malformed array literal: "{text}"',
                       hint="One dimension, as in '{1,2,NULL}' or '{\"a b\",c}'.") from None


def postgres_array_literals(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    if ctx.dialect != "duckdb":
        return tree
    for cast in list(tree.find_all(exp.Cast)):
        if cast.this.is_string and cast.to.is_type(exp.DType.ARRAY) and cast.this.name.startswith("{"):
            items = [exp.Null() if item is None else exp.Literal.string(item) for item in _elements(cast.this.name)]
            cast.set("this", exp.Array(expressions=items))
    return tree
