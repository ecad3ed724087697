"""The rewrite pipeline, pass by pass, with golden SQL."""
import pytest

from proxy.errors import SqlError
from proxy.policy.model import Role
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.pipeline import BackendQuery, PlanCache, plan
from proxy.session_commands import LocalCommand
from proxy.wire import types as pg

TABLES = {
    "customers": {"customer_id": pg.INT4, "full_name": pg.TEXT, "birth_date": pg.DATE},
    "calls": {"call_id": pg.INT8, "customer_id": pg.INT4, "started_at": pg.TIMESTAMP},
    "cell_towers": {"cell_id": pg.INT4, "city": pg.TEXT},
}
SETTINGS = {"application_name": "tests", "TimeZone": "UTC"}


def ctx(tables=None, user="alice") -> RewriteContext:
    role = Role("r", "raw", None if tables is None else frozenset(tables))
    return RewriteContext(role=role, user=user, database="demo", tables=TABLES, dialect="duckdb",
                          setting=lambda name: SETTINGS[name], backend_pid=77)


def sql_of(text: str, context: RewriteContext | None = None) -> str:
    [q] = plan(text, context or ctx())
    assert isinstance(q, BackendQuery)
    return q.sql


@pytest.mark.parametrize("client,backend", [
    ("SELECT count(*) FROM customers", 'SELECT COUNT(*) AS "count" FROM "customers" AS customers'),
    ("select customer_id, 1, 'x', sum(customer_id) from public.customers group by 1",
     'SELECT customer_id, 1 AS "?column?", \'x\' AS "?column?", SUM(customer_id) AS "sum" '
     'FROM "customers" AS customers GROUP BY 1'),
    ('SELECT c.full_name FROM demo.public."customers" AS c', 'SELECT c.full_name FROM "customers" AS c'),
    ("SELECT version()", "SELECT 'PostgreSQL 16.4 (anonproxy) on x86_64-pc-linux-gnu, compiled by anonproxy, 64-bit' AS \"version\""),
    ("SELECT pg_catalog.version()", "SELECT 'PostgreSQL 16.4 (anonproxy) on x86_64-pc-linux-gnu, compiled by anonproxy, 64-bit' AS \"version\""),
    ("select current_schema(), current_database(), current_user",
     'SELECT \'public\' AS "current_schema", \'demo\' AS "current_database", \'alice\' AS "current_user"'),
    ("SELECT user, session_user", 'SELECT \'alice\' AS "user", \'alice\' AS "session_user"'),
    ("select current_setting('application_name')", 'SELECT \'tests\' AS "current_setting"'),
    ("SELECT 1 UNION ALL SELECT 2", 'SELECT 1 AS "?column?" UNION ALL SELECT 2 AS "?column?"'),
    ("WITH x AS (SELECT cell_id FROM cell_towers) SELECT * FROM x",
     'WITH "__anonproxy_cte_1" AS (SELECT cell_id FROM "cell_towers" AS cell_towers) '
     'SELECT * FROM "__anonproxy_cte_1" AS x'),
    ("SELECT CAST(1 AS int)", 'SELECT CAST(1 AS INT) AS "int4"'),
    ("SELECT 1::bigint, 'a'::text, true, CASE WHEN true THEN 1 END, (SELECT 1 AS x), "
     "coalesce(1, 2), count(*) FILTER (WHERE true), sum(1) OVER (), EXISTS (SELECT 1), ARRAY[1], -1, 2 + 2",
     'SELECT CAST(1 AS BIGINT) AS "int8", CAST(\'a\' AS TEXT) AS "text", TRUE AS "?column?", '
     'CASE WHEN TRUE THEN 1 END AS "case", (SELECT 1 AS "x") AS "x", '
     'COALESCE(1, 2) AS "coalesce", COUNT(*) FILTER(WHERE TRUE) AS "count", SUM(1) OVER () AS "sum", '
     'EXISTS(SELECT 1 AS "?column?") AS "exists", [1] AS "array", -1 AS "?column?", 2 + 2 AS "?column?"'),
])
def test_golden_sql(client, backend):
    assert sql_of(client) == backend


def test_several_statements_are_planned_in_order_with_local_commands():
    planned = plan("SET application_name = 'x'; SELECT 1; BEGIN", ctx())
    assert isinstance(planned[0], LocalCommand) and planned[0].action == "set"
    assert isinstance(planned[1], BackendQuery)
    assert planned[2].action == "begin"


def test_a_syntax_error_anywhere_plans_nothing_and_maps_the_position():
    text = "SELECT 1; SELECT 2 FRM calls"
    with pytest.raises(SqlError) as info:
        plan(text, ctx())
    assert info.value.sqlstate == "42601"
    assert info.value.message == 'syntax error at or near "calls"'
    assert info.value.position == text.index("calls") + 1


@pytest.mark.parametrize("text,code,message", [
    ("SELECT * FROM customers", "42P01", 'relation "customers" does not exist'),
    ("SELECT * FROM \"CUSTOMERS\"", "42P01", 'relation "CUSTOMERS" does not exist'),
    ("SELECT * FROM other.cell_towers", "42P01", 'relation "other.cell_towers" does not exist'),
    ("SELECT * FROM nope", "42P01", 'relation "nope" does not exist'),
    ("DELETE FROM cell_towers", "42501", "DELETE is not allowed: anonproxy serves read-only queries"),
    ("CREATE TABLE t (a int)", "42501", "CREATE is not allowed: anonproxy serves read-only queries"),
    ("SELECT * INTO t2 FROM cell_towers", "42501", "INTO is not allowed: anonproxy serves read-only queries"),
    ("SELECT * FROM read_csv('/etc/passwd')", "42501", "table function READ_CSV('/etc/passwd') is not allowed"),
    ("SELECT * FROM cell_towers WHERE city IN (SELECT full_name FROM customers)", "42P01",
     'relation "customers" does not exist'),
    ("SELECT * FROM pg_catalog.pg_class, cell_towers", "0A000", "a statement may read the catalog or tables, not both"),
    ("SELECT * FROM pg_catalog.pg_nope", "42P01", 'relation "pg_catalog.pg_nope" does not exist'),
])
def test_guard_refusals(text, code, message):
    with pytest.raises(SqlError) as info:
        plan(text, ctx(tables=["cell_towers"]))
    assert (info.value.sqlstate, info.value.message) == (code, message)


def test_catalog_statements_run_on_the_role_catalog_store():
    [query] = plan("SELECT relname FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^x$'",
                   ctx(tables=["cell_towers"]))
    assert query.catalog and query.column_oids == (19,)
    assert "pgcat.pg_class" in query.sql and "REGEXP" in query.sql.upper()


def test_cte_named_like_a_forbidden_table_is_only_the_cte():
    out = sql_of("WITH customers AS (SELECT city FROM cell_towers) SELECT city FROM customers",
                 ctx(tables=["cell_towers"]))
    assert out == ('WITH "__anonproxy_cte_1" AS (SELECT city FROM "cell_towers" AS cell_towers) '
                   'SELECT city FROM "__anonproxy_cte_1" AS customers')


def test_parameter_types_are_inferred_from_context():
    [q] = plan("SELECT * FROM calls c WHERE c.customer_id = $1 AND started_at > $2 LIMIT $3", ctx())
    assert q.param_oids == (pg.INT4, pg.TIMESTAMP, pg.INT8)
    [q] = plan("SELECT $1::date, $2", ctx())
    assert q.param_oids == (pg.DATE, pg.TEXT)
    [q] = plan("SELECT $2 FROM calls WHERE call_id = $1", ctx(), (pg.INT4,))
    assert q.param_oids == (pg.INT4, pg.TEXT)  # declared types win


def test_plan_cache_hits_and_is_per_login():
    cache = PlanCache()
    a = cache.plan("SELECT current_user", ctx(user="a"))
    assert cache.plan("SELECT current_user", ctx(user="a")) is a
    b = cache.plan("SELECT current_user", ctx(user="b"))
    assert b is not a and "'b'" in b[0].sql


def test_plans_reading_settings_are_not_cached():
    cache = PlanCache()
    first = cache.plan("SELECT current_setting('TimeZone')", ctx())
    assert cache.plan("SELECT current_setting('TimeZone')", ctx()) is not first


def test_set_config_confirming_the_current_value_answers_it_and_changing_one_is_refused():
    # asyncpg runs SELECT current_setting('jit'), set_config('jit', 'off', false) on connect
    [q] = plan("SELECT set_config('TimeZone', 'UTC', false)", ctx())
    assert q.sql == "SELECT 'UTC' AS \"set_config\"" and not q.cacheable
    with pytest.raises(SqlError) as info:
        plan("SELECT set_config('TimeZone', 'Europe/Paris', false)", ctx())
    assert info.value.sqlstate == "0A000" and "SET TimeZone" in info.value.hint


@pytest.mark.parametrize("sql, emitted", [
    ("SELECT 5 / 2", 'SELECT 5 // 2 AS "?column?"'),
    ("SELECT 5.5 / 2", 'SELECT 5.5 // 2 AS "?column?"'),  # DuckDB's // divides non-integers as / does
    ("SELECT INTERVAL '1 day' / 2", 'SELECT INTERVAL \'1\' DAY / 2 AS "?column?"'),
])
def test_division_is_postgresql_division_on_duckdb(sql, emitted):
    assert sql_of(sql) == emitted


@pytest.mark.parametrize("sql, emitted", [
    ("SELECT '{1,2}'::int[]", "SELECT CAST(['1', '2'] AS INT[]) AS \"int4\""),
    ("SELECT '{\"a b\",NULL}'::text[]", "SELECT CAST(['a b', NULL] AS TEXT[]) AS \"text\""),
    ("SELECT '[1,2]'::int[]", "SELECT CAST('[1,2]' AS INT[]) AS \"int4\""),  # DuckDB's own syntax is left alone
])
def test_postgresql_array_literals_on_duckdb(sql, emitted):
    assert sql_of(sql) == emitted


def test_a_malformed_array_literal_is_22p02():
    with pytest.raises(SqlError) as info:
        sql_of("SELECT '{1,2'::int[]")
    assert info.value.sqlstate == "22P02"
