"""The DuckDB backend's translation to PostgreSQL (proxy/backends/duckdb.py): values
and errors as a PostgreSQL client expects them, against a real in-memory DuckDB."""
from __future__ import annotations

import duckdb
import pytest

from proxy.backends.duckdb import DuckDBCursor, translate_error
from proxy.wire import types as pg


def test_duckdb_intervals_keep_their_months():
    """DuckDB's Python values fold a month into 30 days; the cursor reads the three fields."""
    cursor = DuckDBCursor(duckdb.connect(), {})
    sql = "SELECT INTERVAL '14 months 3 days 04:05:06.789' AS a, -INTERVAL '1 month' AS b, NULL::INTERVAL AS c"
    columns = cursor.execute(sql, [], (1, 1, 0))
    [(a, b, c)] = cursor.fetch(10)
    assert (a, b, c) == (pg.Interval(14, 3, 14_706_789_000), pg.Interval(-1, 0, 0), None)
    assert [col.type_oid for col in columns] == [pg.INTERVAL] * 3
    assert pg.encode_value(a, pg.INTERVAL, False) == b"1 year 2 mons 3 days 04:05:06.789"


@pytest.mark.parametrize("sql, sqlstate, message", [
    ("SELECT 'x'::nosuchtype", "42704", 'type "nosuchtype" does not exist'),
    ("SELECT lower(1)", "42883", "function lower(integer) does not exist"),
    ("SELECT substr('a', 'b', 1.5)", "42883", "function substr(unknown, unknown, numeric) does not exist"),
    ("SELECT 2147483647::int + 1", "22003", "value out of range: overflow"),
    ("SELECT nosuchcol", "42703", 'column "nosuchcol" does not exist'),
    ("SELECT * FROM nosuch", "42P01", 'relation "nosuch" does not exist'),
    ("SELECT 1 // 0", "22012", "division by zero"),
])
def test_duckdb_errors_arrive_in_postgresql_words(sql, sqlstate, message):
    with pytest.raises(duckdb.Error) as info:
        duckdb.connect().execute(sql)
    error = translate_error(info.value)
    assert (error.sqlstate, str(error)) == (sqlstate, message)
