"""The SQL clients write: sqlglot's PostgreSQL dialect, plus what it does not parse.

sqlglot reads `oid`, `regclass`, `regtype` and the other object-identifier types
as a bare name, so an array of them (`$1::oid[]`, asyncpg's type introspection)
is a syntax error there. Here such a type takes array brackets like any other.
And `x::interval c` names the column c, where sqlglot made c an interval field.
"""
from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenType


class ClientPostgres(Postgres):
    class Parser(Postgres.Parser):
        def _parse_types(self, *args: object, **kwargs: object) -> exp.Expression | None:
            index = self._index
            this = super()._parse_types(*args, **kwargs)
            if _interval_with_alias(this):  # x::interval c: c is an alias, not an interval field
                self._retreat(index)
                self._match_texts(("INTERVAL",))
                return exp.DataType.build("interval")
            while isinstance(this, (exp.ObjectIdentifier, exp.DataType)) and _is_identifier_type(this) \
                    and self._match_pair(TokenType.L_BRACKET, TokenType.R_BRACKET):
                this = exp.DataType(this=exp.DType.ARRAY, expressions=[this], nested=True)
            return this


_INTERVAL_FIELDS = frozenset({"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"})


def _interval_with_alias(node: exp.Expression | None) -> bool:
    """sqlglot reads any word after `interval` as its field; PostgreSQL only YEAR ... SECOND."""
    if not (isinstance(node, exp.DataType) and isinstance(node.this, exp.Interval)):
        return False
    unit = node.this.args.get("unit")
    return isinstance(unit, exp.Var) and unit.name.upper() not in _INTERVAL_FIELDS


def _is_identifier_type(node: exp.Expression) -> bool:
    """oid, regclass... or an array of them (oid[][])."""
    while isinstance(node, exp.DataType) and node.this == exp.DType.ARRAY and node.expressions:
        node = node.expressions[0]
    return isinstance(node, exp.ObjectIdentifier)


DIALECT = ClientPostgres()
