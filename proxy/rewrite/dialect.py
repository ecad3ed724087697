"""The SQL clients write: sqlglot's PostgreSQL dialect, plus what it does not parse.

sqlglot reads `oid`, `regclass`, `regtype` and the other object-identifier types
as a bare name, so an array of them (`$1::oid[]`, asyncpg's type introspection)
is a syntax error there. Here such a type takes array brackets like any other.
"""
from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenType


class ClientPostgres(Postgres):
    class Parser(Postgres.Parser):
        def _parse_types(self, *args: object, **kwargs: object) -> exp.Expression | None:
            this = super()._parse_types(*args, **kwargs)
            while isinstance(this, (exp.ObjectIdentifier, exp.DataType)) and _is_identifier_type(this) \
                    and self._match_pair(TokenType.L_BRACKET, TokenType.R_BRACKET):
                this = exp.DataType(this=exp.DType.ARRAY, expressions=[this], nested=True)
            return this


def _is_identifier_type(node: exp.Expression) -> bool:
    """oid, regclass... or an array of them (oid[][])."""
    while isinstance(node, exp.DataType) and node.this == exp.DType.ARRAY and node.expressions:
        node = node.expressions[0]
    return isinstance(node, exp.ObjectIdentifier)


DIALECT = ClientPostgres()
