"""The demo's reporter (aggregate mode, k=10): only aggregates leave, and only
from groups of at least 10 customers, checked against the raw data."""
from __future__ import annotations

import duckdb
import pytest

from tests.integration.test_masked import Oracle, run


@pytest.fixture(scope="module")
def oracle(demo_db) -> Oracle:
    o = Oracle(demo_db)
    o.incomes = set()  # the reporter's income column is raw on purpose: exact sums and averages
    return o


@pytest.fixture(scope="module")
def raw(demo_db):
    con = duckdb.connect(str(demo_db), read_only=True)
    yield con
    con.close()


ATTACKS = [
    ("SELECT count(*) FROM customers", "rows"),
    ("SELECT city, count(*), avg(annual_income) FROM customers GROUP BY city", "rows"),
    ("SELECT zip, gender, count(*) FROM customers GROUP BY zip, gender", "rows"),
    ("SELECT birth_date, zip, gender, count(*) FROM customers GROUP BY 1, 2, 3", "rows"),
    ("SELECT customer_id, count(*) FROM calls GROUP BY customer_id", "rows"),
    ("SELECT annual_income, count(*) FROM customers GROUP BY annual_income", "rows"),
    ("SELECT count(*) FROM customers WHERE customer_id = 1", "rows"),
    ("SELECT sum(annual_income) FROM customers WHERE city = 'Eagle Pass' AND gender = 'X'", "rows"),
    ("SELECT count(*) FROM (SELECT city FROM customers WHERE gender = 'F') s", "rows"),
    ("WITH x AS (SELECT * FROM customers) SELECT region, sum(annual_income) FROM x GROUP BY region", "rows"),
    ("WITH x AS (SELECT zip, count(*) AS n FROM customers GROUP BY zip) SELECT * FROM x", "rows"),
    ("SELECT * FROM (SELECT city, count(*) n FROM customers GROUP BY city) s WHERE n < 20", "rows"),
    ("SELECT c.region, count(*), sum(k.duration_s) FROM calls k JOIN customers c ON c.customer_id = k.customer_id GROUP BY 1", "rows"),
    ("SELECT max(birth_date), min(zip), max(city) FROM customers", "error"),
    ("SELECT max(birth_date), min(zip) FROM customers", "rows"),
    ("SELECT city, max(lat) FROM cell_towers GROUP BY city", "rows"),
    ("SELECT * FROM cell_towers", "rows"),
    ("SELECT annual_income FROM customers", "error"),
    ("SELECT * FROM customers", "error"),
    ("SELECT max(annual_income) FROM customers", "error"),
    ("SELECT min(annual_income + 0) FROM customers", "error"),
    ("SELECT string_agg(city, ',') FROM customers", "error"),
    ("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY annual_income) FROM customers", "error"),
    ("SELECT mode() WITHIN GROUP (ORDER BY signup_date) FROM customers", "error"),
    ("SELECT array_agg(customer_id) FROM customers", "error"),
    ("SELECT (SELECT annual_income FROM customers LIMIT 1)", "error"),
    ("SELECT city, annual_income FROM customers ORDER BY annual_income DESC LIMIT 1", "error"),
    ("SELECT DISTINCT zip FROM customers", "error"),
    ("SELECT count(*) FROM (SELECT DISTINCT city FROM customers) s", "error"),
    ("SELECT city FROM customers UNION SELECT city FROM cell_towers", "error"),
    ("SELECT count(*) FROM (SELECT city FROM customers UNION ALL SELECT city FROM customers) s", "error"),
    ("SELECT x.m FROM (SELECT max(annual_income) m FROM customers) x", "error"),
    ("SELECT m FROM (SELECT annual_income AS m FROM customers) x GROUP BY m HAVING count(*) > 0", "rows"),
    ("SELECT full_name, count(*) FROM customers GROUP BY 1", "error"),
    ("SELECT email FROM customers", "error"),
    ("SELECT row_number() OVER (ORDER BY annual_income), annual_income FROM customers", "error"),
    ("SELECT city, rank() OVER (ORDER BY count(*) DESC) FROM customers GROUP BY city", "rows"),
    ("SELECT count(*) FROM customers WHERE annual_income = (SELECT max(annual_income) FROM customers)", "error"),
    ("SELECT count(*) FROM calls WHERE customer_id IN (SELECT customer_id FROM customers WHERE city = 'Riverton')", "rows"),
    ("SELECT count(*) FROM customers WHERE zip LIKE '1233%'", "rows"),
]


@pytest.mark.parametrize("sql,expected", ATTACKS, ids=[f"{i:02d}" for i in range(len(ATTACKS))])
def test_reporter_gets_only_aggregates_and_no_protected_value(proxy, oracle, sql, expected):
    error, leaks = oracle.scan(proxy.dsn("reporter"), sql)
    assert (error is None) == (expected == "rows"), f"{sql!r} -> {error or 'rows'}"
    assert leaks == [], f"{sql!r} leaked {leaks[:5]}"


@pytest.mark.parametrize("group", ["city", "zip_prefix", "year, zip_prefix, gender", "segment, gender", "region"])
def test_exactly_the_groups_of_ten_or_more_are_released(proxy, raw, group):
    view = ("(SELECT *, left(zip, 3) AS zip_prefix, CAST(date_trunc('year', birth_date) AS DATE) AS year "
            "FROM customers)")
    expected = raw.execute(f"SELECT {group}, count(*), sum(annual_income) FROM {view} GROUP BY {group} "
                           f"HAVING count(*) >= 10 ORDER BY ALL").fetchall()
    names = group.replace("zip_prefix", "zip").replace("year", "birth_date")
    got, error = run(proxy.dsn("reporter"), f"SELECT {names}, count(*), sum(annual_income) FROM customers "
                                            f"GROUP BY {names} ORDER BY {', '.join(['1', '2', '3'][:names.count(',') + 1])}, "
                                            f"{names.count(',') + 2}, {names.count(',') + 3}")
    assert error is None, error
    assert sorted(got) == sorted(expected)
    total = raw.execute(f"SELECT count(*) FROM (SELECT {group} FROM {view} GROUP BY {group})").fetchone()[0]
    if group == "year, zip_prefix, gender":
        assert total - len(got) > 100  # this grouping has many small groups: they were all cut


def test_a_global_aggregate_over_fewer_than_k_people_returns_no_row(proxy, raw):
    few = raw.execute("SELECT city, gender FROM customers GROUP BY ALL HAVING count(*) BETWEEN 1 AND 9 LIMIT 1").fetchone()
    assert few is not None
    rows, error = run(proxy.dsn("reporter"),
                      f"SELECT count(*), avg(annual_income) FROM customers WHERE city = '{few[0]}' AND gender = '{few[1]}'")
    assert error is None and rows == []


# Every attack of either suite runs as both roles: whatever the outcome, nothing protected leaks.
from tests.integration.test_masked import ATTACKS as MASKED_ATTACKS  # noqa: E402

BOTH = sorted({sql for sql, _ in MASKED_ATTACKS} | {sql for sql, _ in ATTACKS})


@pytest.fixture(scope="module")
def analyst_oracle(demo_db) -> Oracle:
    return Oracle(demo_db)  # incomes included: the analyst only ever sees them binned


@pytest.mark.parametrize("user", ["analyst", "reporter"])
@pytest.mark.parametrize("sql", BOTH, ids=[f"{i:03d}" for i in range(len(BOTH))])
def test_every_attack_as_both_roles_leaks_nothing(proxy, oracle, analyst_oracle, user, sql):
    _, leaks = (analyst_oracle if user == "analyst" else oracle).scan(proxy.dsn(user), sql)
    assert leaks == [], f"{user}: {sql!r} leaked {leaks[:5]}"


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM customers WHERE CAST(CAST(annual_income AS text) || 'x' AS INTEGER) > 0",
    "SELECT count(*) FROM customers WHERE CAST(city || CAST(signup_date AS text) AS date) > now()",
    "SELECT sum(CAST(CAST(customer_id AS text) || 'x' AS bigint)) FROM calls",
])
def test_error_prone_expressions_over_private_rows_are_refused_before_they_run(proxy, raw, sql):
    """A cast that can fail on one row would print that row's value, or tell by failing
    whether the row exists: the grammar refuses it, and the refusal quotes no value."""
    _, error = run(proxy.dsn("reporter"), sql)
    assert error is not None and error.startswith("42501")
    sample = raw.execute("SELECT annual_income, city FROM customers ORDER BY customer_id LIMIT 1").fetchone()
    assert str(sample[0]) not in error and sample[1] not in error


def test_refusals_leave_the_session_usable(proxy):
    import psycopg
    with psycopg.connect(proxy.dsn("reporter")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT annual_income FROM customers")
        conn.rollback()
        assert conn.execute("SELECT count(*) >= 10 FROM customers").fetchone() == (True,)
