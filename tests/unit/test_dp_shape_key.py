"""A dp plan's shape key (proxy/rewrite/dp_mode.py) and DuckDB's shape cache keyed by it
(proxy/backends/duckdb.py): statements that differ only in their conditions share one
planned result shape, and that shape is the one DuckDB gives each statement itself."""
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from proxy.backends.duckdb import DuckDBBackend, DuckDBCursor
from tests.unit.test_dp_mode import ROLE, planned

# Each inner list: statements that differ only in WHERE, ON, HAVING, ORDER BY or LIMIT.
FAMILIES = [
    ["SELECT region, count(*) FROM customers GROUP BY region",
     "SELECT region, count(*) FROM customers WHERE annual_income > 5000 GROUP BY region",
     "SELECT region, count(*) AS n FROM customers WHERE city = 'c1' GROUP BY region HAVING count(*) > 2 ORDER BY n"],
    ["SELECT date_trunc('month', started_at) AS m, sum(cost), avg(duration_s) FROM calls GROUP BY m",
     "SELECT date_trunc('month', started_at) AS m, sum(cost), avg(duration_s) FROM calls "
     "WHERE duration_s > 3 AND cost < 10 GROUP BY m ORDER BY m LIMIT 2"],
    ["SELECT t.region, count(*) FROM calls k JOIN cell_towers t ON t.cell_id = k.cell_id GROUP BY t.region",
     "SELECT t.region, count(*) FROM calls k JOIN cell_towers t ON t.cell_id = k.cell_id AND k.duration_s > 100 "
     "GROUP BY t.region"],
    ["SELECT count(*), sum(annual_income) FROM customers",
     "SELECT count(*), sum(annual_income) FROM customers WHERE signup_date > DATE '2020-01-20'"],
    # Differ from the families above in what they select or group by: shapes of their own.
    ["SELECT city, count(*) FROM customers GROUP BY city"],
    ["SELECT region, city, count(*) FROM customers GROUP BY region, city"],
    ["SELECT sum(annual_income), count(*) FROM customers"],
    ["SELECT extract(year FROM started_at) AS y, count(*) FROM calls GROUP BY y"],
]


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("shape") / "demo.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, full_name VARCHAR, region VARCHAR, "
                "city VARCHAR, annual_income INTEGER, signup_date DATE, income_band INTEGER)")
    con.execute("CREATE TABLE calls (call_id BIGINT, customer_id INTEGER, started_at TIMESTAMP, duration_s INTEGER, "
                "cost DECIMAL(10, 2), cell_id INTEGER)")
    con.execute("CREATE TABLE cell_towers (cell_id INTEGER PRIMARY KEY, region VARCHAR)")
    con.execute("INSERT INTO customers SELECT i, 'n' || i, CASE WHEN i % 2 = 0 THEN 'North' ELSE 'South' END, "
                "'c' || (i % 3), i * 1000, DATE '2020-01-01' + i::INTEGER, i * 1000 FROM range(1, 50) t(i)")
    con.execute("INSERT INTO calls SELECT i, 1 + i % 49, TIMESTAMP '2024-01-01' + to_hours(i * 7), i % 600, "
                "(i % 20)::DECIMAL(10, 2), i % 5 FROM range(1, 500) t(i)")
    con.execute("INSERT INTO cell_towers SELECT i, CASE WHEN i % 2 = 0 THEN 'North' ELSE 'South' END "
                "FROM range(0, 5) t(i)")
    con.close()
    return path


def test_statements_differing_only_in_conditions_share_a_shape_key_and_no_others_do():
    keys = [{planned(text).dp.shape_key for text in family} for family in FAMILIES]
    assert all(len(k) == 1 for k in keys)
    assert len(set().union(*keys)) == len(FAMILIES)


def test_another_roles_key_is_another_key():
    """Roles see a table through different policy views: their shapes are not shared."""
    other = replace(ROLE, name="board")
    text = FAMILIES[0][0]
    assert planned(text).dp.shape_key != planned(text, role=other).dp.shape_key


def test_the_shape_cached_by_key_is_each_statements_own(database):
    keyed = DuckDBBackend(database)  # one shape cache, primed by the first statement of each family
    for family in FAMILIES:
        for text in family:
            q = planned(text)
            cursor = keyed.cursor()
            columns = cursor.execute(q.sql, [], (), shape_key=q.dp.shape_key)
            rows = sorted(cursor.fetch(1000))
            own = DuckDBCursor(keyed._db.cursor(), {})  # a cache that has seen nothing: planned from this text
            assert columns == own.execute(q.sql, [], ()), text
            assert rows == sorted(own.fetch(1000)), text
            own.close()
    # The families' later statements were not planned for their shape: one entry per family.
    assert len(keyed._shapes) == len(FAMILIES)
    keyed.close()
