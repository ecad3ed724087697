"""Name resolution with PostgreSQL's scoping: which references are CTEs, which
are stored tables, and that every name the backend sees is one we wrote."""
import pytest
import sqlglot
from sqlglot import exp

from proxy.errors import SqlError
from proxy.policy.model import Role
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.resolve import CTE_PREFIX, resolve_names, stored_table
from proxy.wire import types as pg

TABLES = {"customers": {"id": pg.INT4}, "cell_towers": {"cell_id": pg.INT4}}


def resolve(sql: str, tables=None) -> list[tuple[str, str]]:
    """(name as written, what it resolved to) for each table reference, sorted."""
    role = Role("r", "raw", None if tables is None else frozenset(tables))
    ctx = RewriteContext(role=role, user="u", database="demo", tables=TABLES, dialect="duckdb",
                         setting=lambda n: "")
    tree = resolve_names(sqlglot.parse_one(sql, read="postgres"), ctx)
    out = []
    for table in tree.find_all(exp.Table, bfs=False):
        target = stored_table(table) or table.name
        out.append((table.alias_or_name, "table" if stored_table(table) else target))
    return sorted(out)


def test_a_non_recursive_cte_does_not_see_itself():
    got = resolve("WITH customers AS (SELECT * FROM customers) SELECT * FROM customers")
    assert got == sorted([("customers", "table"), ("customers", f"{CTE_PREFIX}1")])


def test_a_recursive_cte_sees_itself_so_its_body_never_reads_the_stored_table():
    got = resolve("WITH RECURSIVE customers AS (SELECT 1 AS id UNION ALL SELECT id + 1 FROM customers "
                  "WHERE id < 3) SELECT * FROM customers")
    assert got == sorted([("customers", f"{CTE_PREFIX}1"), ("customers", f"{CTE_PREFIX}1")])


def test_a_self_reference_outside_the_recursive_term_is_refused_as_postgresql_does():
    with pytest.raises(SqlError) as info:
        resolve("WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT * FROM customers")
    assert info.value.sqlstate == "42P19"


def test_with_recursive_makes_later_ctes_visible_to_earlier_ones():
    got = resolve("WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a")
    assert got == sorted([("b", f"{CTE_PREFIX}2"), ("a", f"{CTE_PREFIX}1")])


def test_without_recursive_a_later_cte_is_not_visible():
    got = resolve("WITH a AS (SELECT * FROM customers), customers AS (SELECT 1 AS x) SELECT * FROM a")
    assert got == sorted([("customers", "table"), ("a", f"{CTE_PREFIX}1")])


def test_an_inner_with_shadows_an_outer_one_and_nested_queries_see_outer_ctes():
    got = resolve("WITH x AS (SELECT 1 AS a) SELECT * FROM (WITH x AS (SELECT 2 AS a) SELECT * FROM x) s "
                  "WHERE a IN (SELECT a FROM x)")
    assert got == sorted([("x", f"{CTE_PREFIX}2"), ("x", f"{CTE_PREFIX}1")])


def test_quoted_names_match_exactly_unquoted_ones_fold_to_lower_case():
    got = resolve('WITH "Customers" AS (SELECT 1 AS x) SELECT * FROM customers, "Customers", CUSTOMERS')
    assert got == sorted([("customers", "table"), ("Customers", f"{CTE_PREFIX}1"), ("CUSTOMERS", "table")])


def test_qualified_names_are_never_ctes():
    got = resolve("WITH customers AS (SELECT 1 AS x) SELECT * FROM public.customers")
    assert got == sorted([("customers", "table")])


@pytest.mark.parametrize("sql,code", [
    ("WITH a AS (SELECT 1), a AS (SELECT 2) SELECT * FROM a", "42712"),
    ("WITH RECURSIVE x AS (SELECT * FROM customers) SELECT * FROM x", "42P01"),
    ("SELECT * FROM duckdb_databases", "42P01"),
    ("SELECT * FROM sqlite_master", "42P01"),
    ("SELECT * FROM read_csv('/etc/passwd')", "42501"),
    ("SELECT * FROM other.customers", "42P01"),
])
def test_what_is_refused(sql, code):
    with pytest.raises(SqlError) as info:
        resolve(sql, tables=["cell_towers"])
    assert info.value.sqlstate == code


def test_every_emitted_relation_name_is_quoted_and_ours():
    from proxy.rewrite.pipeline import plan
    role = Role("r", "raw", frozenset(["cell_towers"]))
    ctx = RewriteContext(role=role, user="u", database="demo", tables=TABLES, dialect="duckdb",
                         setting=lambda n: "")
    [q] = plan("WITH RECURSIVE cell_towers AS (SELECT 1 AS cell_id UNION SELECT cell_id FROM cell_towers) "
               "SELECT * FROM cell_towers", ctx)
    assert q.sql == (f'WITH RECURSIVE "{CTE_PREFIX}1" AS (SELECT 1 AS "cell_id" UNION SELECT cell_id FROM '
                     f'"{CTE_PREFIX}1" AS cell_towers) SELECT * FROM "{CTE_PREFIX}1" AS cell_towers')

