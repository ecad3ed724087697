"""The same product on a real PostgreSQL server: clients, values, tokens, and the
adversarial suites with the raw-data oracle."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest

from tests.integration import test_aggregate, test_masked
from tests.integration.test_masked import Oracle, run
from tests.integration.test_psql import psql


@pytest.fixture(scope="module")
def oracle(demo_db) -> Oracle:
    return Oracle(demo_db)  # the PostgreSQL copy holds exactly the demo rows


@pytest.fixture(scope="module")
def reporter_oracle(demo_db) -> Oracle:
    o = Oracle(demo_db)
    o.incomes = set()
    return o


def test_psql_counts_through_postgres(pg_proxy):
    out = psql(pg_proxy, "-At", "-c", "SELECT count(*) FROM customers")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "10000"


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_values_are_the_servers_own(pg_proxy, pg_demo, binary):
    query = ("SELECT customer_id, full_name, birth_date, annual_income, signup_date FROM customers "
             "ORDER BY customer_id LIMIT 50")
    with psycopg.connect(pg_proxy.dsn()) as conn:
        through = conn.cursor(binary=binary).execute(query).fetchall()
        calls = conn.cursor(binary=binary).execute("SELECT * FROM calls ORDER BY call_id LIMIT 50").fetchall()
    with psycopg.connect(pg_demo.dsn(dbname="demo")) as conn:
        assert through == conn.execute(query).fetchall()
        assert calls == conn.execute("SELECT * FROM calls ORDER BY call_id LIMIT 50").fetchall()


def test_tokens_equal_across_backends(pg_proxy, proxy):
    query = "SELECT call_id, customer_id FROM calls ORDER BY call_id LIMIT 300"
    on_pg, error = run(pg_proxy.dsn("analyst"), query)
    assert error is None, error
    on_duckdb, _ = run(proxy.dsn("analyst"), query)
    assert on_pg == on_duckdb


def test_masked_rows_equal_across_backends(pg_proxy, proxy):
    query = "SELECT customer_id, email, phone, birth_date, zip, annual_income FROM customers ORDER BY 1"
    on_pg, error = run(pg_proxy.dsn("analyst"), query)
    assert error is None, error
    assert on_pg == run(proxy.dsn("analyst"), query)[0]


def test_aggregates_equal_across_backends(pg_proxy, proxy):
    query = "SELECT birth_date, zip, gender, count(*), sum(annual_income) FROM customers GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    on_pg, error = run(pg_proxy.dsn("reporter"), query)
    assert error is None, error
    assert on_pg == run(proxy.dsn("reporter"), query)[0]


@pytest.mark.parametrize("sql,expected", test_masked.ATTACKS, ids=[f"{i:02d}" for i in range(len(test_masked.ATTACKS))])
def test_analyst_attacks_on_postgres(pg_proxy, oracle, sql, expected):
    error, leaks = oracle.scan(pg_proxy.dsn("analyst"), sql)
    assert leaks == [], f"{sql!r} leaked {leaks[:5]}"


@pytest.mark.parametrize("sql,expected", test_aggregate.ATTACKS, ids=[f"{i:02d}" for i in range(len(test_aggregate.ATTACKS))])
def test_reporter_attacks_on_postgres(pg_proxy, reporter_oracle, sql, expected):
    error, leaks = reporter_oracle.scan(pg_proxy.dsn("reporter"), sql)
    assert leaks == [], f"{sql!r} leaked {leaks[:5]}"
    if expected == "error":
        assert error is not None, f"{sql!r} was not refused on PostgreSQL"


def test_cancel_on_postgres(pg_proxy):
    with psycopg.connect(pg_proxy.dsn(), autocommit=True) as conn:
        threading.Timer(1.0, conn.cancel).start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT count(*) FROM calls a, calls b WHERE md5(a.call_id::text || b.call_id::text) = 'x'")
        assert time.monotonic() - started < 20
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_writes_refused_even_by_the_proxy_role(pg_demo):
    """Defence in depth: the role anonproxy logs in as cannot write either."""
    with psycopg.connect(pg_demo.dsn("anonproxy_reader", "demo")) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM calls")


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_named_cursors_on_postgres(pg_proxy, pg_demo, binary):
    query = "SELECT call_id, started_at, cost FROM calls WHERE duration_s > 600 ORDER BY call_id"
    with psycopg.connect(pg_proxy.dsn()) as conn:
        with conn.cursor(name="c", binary=binary) as cur:
            cur.itersize = 300
            cur.execute(query)
            through = cur.fetchall()
    with psycopg.connect(pg_demo.dsn(dbname="demo")) as conn:
        assert through == conn.execute(query).fetchall()


def test_backend_cursors_are_planned_for_every_row(pg_demo):
    """The proxy runs statements as server-side cursors, which PostgreSQL plans for their
    first 10% of rows by default: a join that matched nothing ran as a nested loop past a
    minute where psql's plan takes 0.4 s. Its sessions ask for psql's plan."""
    from proxy.backends.postgres import PostgresBackend
    backend = PostgresBackend(pg_demo.dsn("anonproxy_reader", "demo"))
    cursor = backend.cursor()
    try:
        cursor.execute("SELECT current_setting('cursor_tuple_fraction')", [])
        assert cursor.fetch(1) == [(b"1",)]  # text, as PostgreSQL sent it
    finally:
        cursor.close()
