"""Golden SQL for the policy passes: views for masked roles, k-suppression for
aggregate roles. Tables, rules and key are tiny so the SQL reads whole."""
import dataclasses

import pytest

from proxy.errors import SqlError
from proxy.policy.model import ColumnRule, Role, TablePolicy
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.pipeline import plan
from proxy.wire import types as pg

TABLES = {"people": {"id": pg.INT4, "name": pg.TEXT, "zip": pg.TEXT, "income": pg.INT4},
          "towns": {"zip": pg.TEXT, "town": pg.TEXT}}
PEOPLE = TablePolicy("people", "id", ("zip",), None, {
    "name": ColumnRule("hide"), "zip": ColumnRule("generalize", "prefix", {"length": 2}),
    "income": ColumnRule("raw"), "id": ColumnRule("null")})


def ctx(mode: str, k: int) -> RewriteContext:
    role = Role("r", mode, {"people": PEOPLE, "towns": TablePolicy("towns")}, k)
    return RewriteContext(role=role, user="u", database="db", tables=TABLES, dialect="duckdb",
                          setting=lambda n: "", token_key=None)


def sql_of(text: str, mode: str = "masked", k: int = 3) -> str:
    [q] = plan(text, ctx(mode, k))
    return q.sql


VIEW = ("(SELECT CAST(NULL AS INT) AS \"id\", LEFT(__anonproxy_src.zip, 2) AS \"zip\", "
        "__anonproxy_src.income AS \"income\" FROM (SELECT * FROM (SELECT *, COUNT(DISTINCT id) OVER "
        "(PARTITION BY __anonproxy_q0) AS __anonproxy_units FROM (SELECT *, LEFT(__anonproxy_kin.zip, 2) AS "
        "__anonproxy_q0 FROM \"people\" AS __anonproxy_kin) AS __anonproxy_q) AS __anonproxy_k "
        "WHERE __anonproxy_units >= 3 OFFSET 0) AS __anonproxy_src)")


def test_masked_view_replaces_the_table_keeping_the_alias():
    assert sql_of("SELECT p.zip FROM people p") == f"SELECT p.zip FROM {VIEW} AS p"
    assert sql_of("SELECT zip FROM public.people") == f"SELECT zip FROM {VIEW} AS people"


def test_the_view_is_a_fence_no_backend_pushes_the_client_filter_below_the_k_filter():
    assert VIEW.endswith("WHERE __anonproxy_units >= 3 OFFSET 0) AS __anonproxy_src)")


def test_postgres_counts_distinct_people_per_group_with_dense_rank():
    # PostgreSQL has no DISTINCT in window aggregates (and cannot hash a join on IS NOT
    # DISTINCT FROM): the largest dense_rank of the non-null units is their number.
    [q] = plan("SELECT zip FROM people", dataclasses.replace(ctx("masked", 3), dialect="postgres"))
    assert ("MAX(CASE WHEN NOT id IS NULL THEN __anonproxy_units_rank END) OVER (PARTITION BY __anonproxy_q0) "
            "AS __anonproxy_units FROM (SELECT *, DENSE_RANK() OVER (PARTITION BY __anonproxy_q0 ORDER BY id) "
            "AS __anonproxy_units_rank FROM") in q.sql
    assert "WHERE __anonproxy_units >= 3 OFFSET 0) AS __anonproxy_src" in q.sql


def test_public_tables_and_ctes():
    towns = ('(SELECT __anonproxy_src.zip AS "zip", __anonproxy_src.town AS "town" '
             'FROM "towns" AS __anonproxy_src)')
    assert sql_of("WITH people AS (SELECT * FROM towns) SELECT * FROM people") == \
        f'WITH "__anonproxy_cte_1" AS (SELECT * FROM {towns} AS towns) SELECT * FROM "__anonproxy_cte_1" AS people'


def test_client_text_holding_view_like_names_stays_client_text():
    # Views are tree nodes: an identifier or literal that looks like the proxy's names is
    # only a (missing) column or a string, never a view.
    out = sql_of("SELECT exists__anonproxy_view_people, '__anonproxy_view_people' AS x FROM people")
    assert out == ('SELECT exists__anonproxy_view_people, '
                   f"'__anonproxy_view_people' AS \"x\" FROM {VIEW} AS people")
    with pytest.raises(SqlError) as info:
        sql_of('WITH "__anonproxy_view_people" AS (SELECT 1) SELECT 1')
    assert info.value.sqlstate == "42602"


def test_aggregate_mode_adds_k_suppression_and_person_column():
    out = sql_of("SELECT zip, sum(income) FROM people GROUP BY zip", mode="aggregate", k=10)
    assert out.startswith('SELECT zip, SUM(income) AS "sum" FROM (SELECT CAST(NULL AS INT) AS "id"')
    assert ', __anonproxy_src.id AS __anonproxy_pu FROM (SELECT * FROM (SELECT *, COUNT(DISTINCT id) OVER' in out
    assert out.endswith("AS people GROUP BY zip HAVING COUNT(DISTINCT \"people\".__anonproxy_pu) >= 10")


def test_aggregate_mode_carries_persons_out_of_row_level_subqueries():
    out = sql_of("SELECT count(*) FROM (SELECT zip FROM people WHERE income > 5) s", mode="aggregate", k=10)
    assert "SELECT zip, \"people\".__anonproxy_pu AS __anonproxy_pu_0 FROM" in out
    assert out.endswith("AS s HAVING COUNT(DISTINCT \"s\".__anonproxy_pu_0) >= 10")


@pytest.mark.parametrize("text,code", [
    ("SELECT income FROM people", "42501"),
    ("SELECT max(income) FROM people", "42501"),
    ("SELECT count(*) FROM (SELECT DISTINCT zip FROM people) s", "0A000"),
    ("SELECT (SELECT income FROM people LIMIT 1)", "42501"),
])
def test_aggregate_mode_refusals(text, code):
    with pytest.raises(SqlError) as info:
        sql_of(text, mode="aggregate", k=10)
    assert info.value.sqlstate == code


def test_max_on_a_generalized_column_is_allowed():
    assert "MAX(zip)" in sql_of("SELECT max(zip) FROM people", mode="aggregate", k=10)
