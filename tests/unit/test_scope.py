"""CTE scoping: a reference names a CTE only where PostgreSQL would say so."""
import pytest
import sqlglot
from sqlglot import exp

from proxy.rewrite.scope import names_cte


def refs(sql: str) -> list[tuple[str, bool]]:
    tree = sqlglot.parse_one(sql, read="postgres")
    out = [(t.sql(), names_cte(t)) for t in tree.find_all(exp.Table)]
    return sorted(out)


@pytest.mark.parametrize("sql,expected", [
    ("WITH customers AS (SELECT * FROM customers) SELECT * FROM customers",
     [("customers", False), ("customers", True)]),
    ("WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b, customers",
     [("a", True), ("b", True), ("customers", False)]),
    ("WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b", [("a", False), ("b", True)]),
    ("WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT * FROM r) SELECT * FROM r", [("r", True), ("r", True)]),
    ("SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) AS s, x", [("x", False), ("x", True)]),
    ("SELECT * FROM customers WHERE id IN (WITH customers AS (SELECT 2) SELECT * FROM customers)",
     [("customers", False), ("customers", True)]),
    ("WITH x AS (SELECT 1) SELECT * FROM public.x", [("public.x", False)]),
])
def test_cte_scoping(sql, expected):
    assert refs(sql) == expected
