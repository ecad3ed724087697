"""The masked analyst of the demo policy, attacked and checked against the raw data.

An oracle reads the raw tables directly and fails the test if any protected
value (full name, email, full phone, exact birth date, 5-digit zip, exact
income) appears in any answer, error messages included.
"""
from __future__ import annotations

from collections import Counter

import duckdb
import pytest

from proxy.policy.tokens import pads, reference_token
from tests.integration.conftest import start_proxy, stop_proxy, write_config
from tests.oracle import DATE, TEST_KEY, Oracle, run


@pytest.fixture(scope="module")
def oracle(demo_db) -> Oracle:
    return Oracle(demo_db)


# (statement, expected): "rows" must run, "error" must be refused; every answer is scanned.
# DuckDB's EXCLUDE and FROM-first syntax run (they too see only policy views); constructs
# off the allow-list (COLUMNS(), TABLESAMPLE) are refused.
ATTACKS = [
    ("SELECT * FROM customers", "rows"),
    ('SELECT * FROM "customers"', "rows"),
    ("SELECT * FROM CUSTOMERS", "rows"),
    ("SELECT * FROM public.customers", "rows"),
    ("SELECT * FROM main.customers", "rows"),
    ("SELECT * FROM demo.public.customers", "rows"),
    ("SELECT c FROM customers c", "rows"),
    ("SELECT to_json(c) FROM customers c LIMIT 50", "rows"),
    ("SELECT row_to_json(c) FROM customers c LIMIT 50", "rows"),
    ("WITH customers AS (SELECT * FROM customers) SELECT * FROM customers", "rows"),
    ("WITH x AS (SELECT * FROM customers) SELECT * FROM x", "rows"),
    ("SELECT * FROM (SELECT * FROM customers) AS calls", "rows"),
    ("SELECT (SELECT email FROM customers ORDER BY email LIMIT 1)", "rows"),
    ("SELECT * FROM calls WHERE customer_id IN (SELECT customer_id FROM customers WHERE email LIKE 'j%') LIMIT 100", "rows"),
    ("SELECT city, count(*) FROM customers GROUP BY city HAVING max(email) > 'a'", "rows"),
    ("SELECT email FROM customers UNION SELECT phone FROM customers", "rows"),
    ("SELECT email FROM customers INTERSECT SELECT email FROM customers", "rows"),
    ("SELECT zip FROM customers EXCEPT SELECT '00000'", "rows"),
    ("SELECT email, row_number() OVER (ORDER BY email) FROM customers", "rows"),
    ("SELECT first_value(phone) OVER (PARTITION BY city ORDER BY phone) FROM customers", "rows"),
    ("SELECT t.city, x.email FROM cell_towers t, LATERAL (SELECT email FROM customers c WHERE c.city = t.city LIMIT 1) x", "rows"),
    ("SELECT * EXCLUDE (email) FROM customers", "rows"),
    ("SELECT COLUMNS('.*') FROM customers", "error"),  # not on the allow-list: DuckDB's, not PostgreSQL's
    ("FROM customers SELECT email", "rows"),
    ("SELECT md5(email), sha256(phone), upper(email), CAST(birth_date AS text), birth_date::varchar FROM customers", "rows"),
    ("SELECT length(full_name) FROM customers", "error"),
    ("SELECT full_name FROM customers", "error"),
    ('SELECT "full_name" FROM customers', "error"),
    ("SELECT c.full_name FROM customers c", "error"),
    ("SELECT customers.full_name FROM customers", "error"),
    ("SELECT CASE WHEN full_name IS NULL THEN 1 END FROM customers", "error"),
    ("SELECT count(*) FROM customers WHERE email = 'jesse.watson@example.com'", "rows"),
    ("SELECT count(*) FROM customers WHERE zip LIKE '1233%' AND length(zip) = 5", "rows"),
    ("SELECT * FROM customers WHERE birth_date = '1968-03-16'", "rows"),
    ("SELECT zip FROM customers ORDER BY zip LIMIT 5 OFFSET 100", "rows"),
    ("SELECT annual_income FROM customers ORDER BY annual_income DESC LIMIT 20", "rows"),
    ("SELECT min(annual_income), max(annual_income), min(birth_date), max(birth_date) FROM customers", "rows"),
    ("SELECT string_agg(email, ',') FROM customers", "rows"),
    ("SELECT array_agg(phone) FROM customers WHERE city = 'Riverton'", "rows"),
    ("VALUES (1, 'a'), (2, 'b')", "rows"),
    ("SELECT * FROM customers TABLESAMPLE SYSTEM (10)", "error"),  # not on the allow-list
    ("SELECT * FROM read_csv('examples/data/demo.duckdb')", "error"),
    ("SELECT * FROM 'examples/data/demo.duckdb'", "error"),
    ("SELECT * FROM duckdb_tables()", "error"),
    ("SELECT current_query()", "error"),
    ("SELECT getenv('HOME')", "error"),
    ("SELECT current_setting('TimeZone')", "rows"),
    ("SELECT * FROM pg_catalog.pg_class", "rows"),  # the role's own catalog: its visible schema only
    ("SELECT * FROM information_schema.columns", "rows"),
    ("SELECT 1; SELECT email, phone FROM customers", "rows"),
    ("SELECT /* full_name */ email -- , full_name\n FROM customers", "rows"),
    ("SELECT * FROM customers c JOIN calls k ON c.customer_id = k.customer_id LIMIT 50", "rows"),
    ("SELECT birth_date, zip, gender, count(*) FROM customers GROUP BY 1, 2, 3 ORDER BY 4 LIMIT 20", "rows"),
    ("SELECT * FROM customers AS c(a, b, c_email) LIMIT 10", "rows"),
    ("SELECT regexp_replace(email, '\\*', 'x'), split_part(email, '@', 1) FROM customers", "rows"),
    ("SELECT * FROM customers WHERE email IN (SELECT email FROM customers) LIMIT 10", "rows"),
    ("SELECT * FROM (VALUES (1)) v(x), customers LIMIT 5", "rows"),
    ("EXPLAIN SELECT * FROM customers", "error"),
    # COPY (query) TO STDOUT is a read through the policy (test_copy.py compares it with the
    # SELECT); reaching a hidden column or the server's files through COPY is refused.
    ("COPY (SELECT full_name FROM customers) TO STDOUT", "error"),
    ("COPY customers TO '/tmp/anonproxy-leak.csv'", "error"),
    ("INSERT INTO cell_towers VALUES (1, 'x', 'y', 0, 0)", "error"),
    ("ATTACH 'examples/data/demo.duckdb' AS raw", "error"),
    ("PRAGMA table_info('customers')", "error"),
    ("INSTALL httpfs", "error"),
    ("SET threads = 1", "error"),
    ("SELECT * FROM customers WHERE customer_id = 1", "rows"),
    ("SELECT * FROM __anonproxy_view_customers", "error"),
    ("SELECT email AS __anonproxy_view_customers FROM customers", "error"),
    ("SELECT * FROM customers AS __anonproxy_src", "error"),
]


@pytest.mark.parametrize("sql,expected", ATTACKS, ids=[f"{i:02d}" for i in range(len(ATTACKS))])
def test_analyst_never_receives_a_protected_value(proxy, oracle, sql, expected):
    error, leaks = oracle.scan(proxy.dsn("analyst"), sql)
    assert (error is None) == (expected == "rows"), f"{sql!r} -> {error or 'rows'}"
    assert leaks == [], f"{sql!r} leaked {leaks[:5]}"


def test_the_oracle_catches_raw_values(proxy, oracle):
    """The same statements as admin (raw) must trip it: the oracle is not blind."""
    rows, _ = run(proxy.dsn("admin"), "SELECT full_name, email, phone, birth_date, zip, annual_income FROM customers LIMIT 20")
    kinds = {leak.split()[0] for row in rows for leak in oracle.leaks(row)}
    assert kinds == {"name", "email", "phone", "birth", "zip", "income"}


def test_k_anonymity_holds_for_every_visible_customer(proxy, demo_db):
    rows, _ = run(proxy.dsn("analyst"), "SELECT birth_date, zip, gender, customer_id FROM customers")
    combos = Counter((b, z, g) for b, z, g, _ in rows)
    assert min(combos.values()) >= 5
    raw = duckdb.connect(str(demo_db), read_only=True)
    expected = raw.execute(
        "SELECT count(*) FROM customers WHERE (year(birth_date) // 10, left(zip, 3), gender, year(signup_date)) IN ("
        "SELECT (year(birth_date) // 10, left(zip, 3), gender, year(signup_date)) FROM customers GROUP BY ALL "
        "HAVING count(DISTINCT customer_id) >= 5)").fetchone()[0]
    raw.close()
    assert len(rows) == expected < 10_000  # exactly the customers of groups of 5 or more


def test_tokens_are_the_keyed_hmac_and_calls_get_a_new_one_every_week(proxy, demo_db):
    """customers: HMAC of the id; calls: HMAC of the id and the call's week, so a caller's
    calls link within a week and nothing links them to the customer (policies/demo.yaml)."""
    raw = duckdb.connect(str(demo_db), read_only=True)
    raw_customers = raw.execute("SELECT customer_id FROM customers").fetchall()
    raw_calls = raw.execute("SELECT call_id, customer_id, CAST(date_trunc('week', started_at) AS VARCHAR) "
                            "FROM calls").fetchall()
    raw.close()
    tokens, _ = run(proxy.dsn("analyst"), "SELECT customer_id FROM customers")
    assert 0 < len(tokens) and {t for (t,) in tokens} <= {reference_token(TEST_KEY, str(uid), integer=True)
                                                        for (uid,) in raw_customers}
    calls, _ = run(proxy.dsn("analyst"), "SELECT call_id, customer_id FROM calls")
    assert sorted(calls) == sorted((reference_token(TEST_KEY, str(cid), integer=True),
                                    reference_token(TEST_KEY, f"{uid}|{week}", integer=True))
                                   for cid, uid, week in raw_calls)
    joined, _ = run(proxy.dsn("analyst"), "SELECT count(*) FROM calls k JOIN customers c USING (customer_id)")
    assert joined == [(0,)]  # different inputs to the HMAC: no call token is a customer token


def test_tokens_survive_restarts_and_change_completely_with_the_key(proxy, demo_db, tmp_path):
    query = "SELECT customer_id FROM customers ORDER BY email, customer_id LIMIT 100"
    first, _ = run(proxy.dsn("analyst"), query)
    (tmp_path / "same").mkdir()
    process, port = start_proxy(write_config(tmp_path / "same", demo_db))  # a new process, the same key
    try:
        again, _ = run(f"postgresql://analyst:analyst-pw@127.0.0.1:{port}/demo", query)
    finally:
        stop_proxy(process)
    (tmp_path / "other").mkdir()
    process, port = start_proxy(write_config(tmp_path / "other", demo_db, key=b"another-key-" + bytes(range(32))))
    try:
        other, _ = run(f"postgresql://analyst:analyst-pw@127.0.0.1:{port}/demo", "SELECT customer_id FROM customers")
    finally:
        stop_proxy(process)
    assert again == first
    assert not {r[0] for r in first} & {r[0] for r in other}


@pytest.mark.parametrize("sql", [
    "SELECT customer_id::date FROM customers",
    "SELECT customer_id + 'x' FROM customers",
    "SELECT * FROM customers WHERE customer_id = 'abc'",
    "SELECT sum(email) FROM customers",
])
def test_errors_keep_the_key_out(proxy, sql):
    _, error = run(proxy.dsn("analyst"), sql)
    assert error is not None
    for secret in (*pads(TEST_KEY), TEST_KEY.hex()):
        assert secret not in error.lower()


def test_analyst_sql_works_as_expected_on_transformed_columns(proxy, demo_db):
    """CTEs, windows and GROUP BY behave as on any database, over weeks and regions."""
    rows, error = run(proxy.dsn("analyst"), """
        WITH weekly AS (
            SELECT started_at AS week, cell_id AS region, count(*) AS calls, count(DISTINCT customer_id) AS callers
            FROM calls GROUP BY 1, 2)
        SELECT week, region, calls, callers, rank() OVER (PARTITION BY week ORDER BY calls DESC) AS r
        FROM weekly WHERE week = DATE '2024-02-26' ORDER BY r""")
    assert error is None, error
    raw = duckdb.connect(str(demo_db), read_only=True)
    expected = raw.execute("""
        SELECT t.region, count(*), count(DISTINCT k.customer_id) FROM calls k JOIN cell_towers t USING (cell_id)
        WHERE date_trunc('week', k.started_at) = DATE '2024-02-26' GROUP BY 1""").fetchall()
    raw.close()
    assert sorted((r[1], r[2], r[3]) for r in rows) == sorted(expected) and len(expected) > 1
    assert rows[0][4] == 1 and rows[0][2] == max(r[2] for r in rows)


def test_l_diversity_keeps_only_groups_with_l_sensitive_values(demo_db, tmp_path):
    """A policy with l_diversity: every released quasi-identifier group holds >= l segments."""
    config = write_config(tmp_path, demo_db, extra="")
    text = config.read_text().replace(
        "        quasi_identifiers: [birth_date, zip, gender, signup_date]\n",
        "        quasi_identifiers: [birth_date, zip, gender, signup_date]\n"
        "        l_diversity: {column: segment, l: 2}\n", 1)
    assert "l_diversity" in text
    config.write_text(text)
    process, port = start_proxy(config)
    try:
        rows, error = run(f"postgresql://analyst:analyst-pw@127.0.0.1:{port}/demo",
                          "SELECT birth_date, zip, gender, signup_date, count(DISTINCT segment), count(*) "
                          "FROM customers GROUP BY 1, 2, 3, 4")
    finally:
        stop_proxy(process)
    assert error is None, error
    assert rows and all(r[4] >= 2 and r[5] >= 5 for r in rows)
    raw = duckdb.connect(str(demo_db), read_only=True)
    expected = raw.execute("SELECT count(*) FROM (SELECT 1 FROM customers GROUP BY year(birth_date) // 10, left(zip, 3), "
                           "gender, year(signup_date) HAVING count(*) >= 5 AND count(DISTINCT segment) >= 2)").fetchone()[0]
    raw.close()
    assert len(rows) == expected


def test_data_errors_quote_no_value_for_masked_roles(proxy):
    """The backend may run a filter before the k-anonymity join: a cast error
    could otherwise print a value from a row the view suppresses."""
    _, error = run(proxy.dsn("analyst"), "SELECT count(*) FROM customers WHERE CAST(city || CAST(signup_date AS text) AS date) > now()")
    assert error.startswith("22") and "the value is not shown" in error
    assert not DATE.search(error)
