"""The client dialect (proxy/rewrite/dialect.py): PostgreSQL as clients write it,
including what sqlglot alone cannot parse."""
from __future__ import annotations

import pytest
import sqlglot

from proxy.policy.model import Role
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.dialect import DIALECT
from proxy.rewrite.params import infer_param_types


def parse(sql: str) -> sqlglot.exp.Expression:
    return sqlglot.parse_one(sql, dialect=DIALECT)


@pytest.mark.parametrize("sql, written", [
    ("SELECT $1::oid[]", "SELECT CAST($1 AS OID[])"),
    ("SELECT x::regtype[][] FROM t", "SELECT CAST(x AS REGTYPE[][]) FROM t"),
    ("SELECT a[1]::oid FROM t", "SELECT CAST(a[1] AS OID) FROM t"),
    ("SELECT x::int[] FROM t", "SELECT CAST(x AS INT[]) FROM t"),
    ("SELECT NULL::interval c", "SELECT CAST(NULL AS INTERVAL) AS c"),  # c is an alias, not a field
    ("SELECT x::interval day FROM t", "SELECT CAST(x AS INTERVAL DAY) FROM t"),
])
def test_object_identifier_types_take_array_brackets(sql, written):
    assert parse(sql).sql(dialect="postgres") == written


def test_cast_parameters_get_the_cast_type_arrays_included():
    """asyncpg's type introspection sends `$1::oid[]` and encodes by the described type."""
    ctx = RewriteContext(role=Role("r", "raw", None), user="u", database="demo", tables={}, dialect="duckdb",
                         setting=lambda n: "")
    tree = parse("SELECT 1 WHERE 2 = any($1::oid[]) AND $2::regclass IS NOT NULL AND $3::int8[] IS NULL AND $4::date > now()")
    assert infer_param_types(tree, (), ctx) == (1028, 2205, 1016, 1082)
