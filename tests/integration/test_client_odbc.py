"""psqlODBC (Debian: odbc-postgresql, unixodbc), through pyodbc with the driver's
default settings, sees each role's catalog as PostgreSQL would show it: SQLTables and
SQLColumns list exactly the role's tables and the columns it receives, SQLPrimaryKeys
and SQLStatistics answer, and queries run, with and without parameters."""
from __future__ import annotations

import datetime as dt
import glob
import os

import psycopg
import pytest

from tests.integration.conftest import PASSWORDS
from tests.integration.visible_schema import KEYS, TABLES, USERS, visible_columns

pyodbc = pytest.importorskip("pyodbc", reason="pyodbc is not installed (pip install pyodbc; needs unixodbc)")

DRIVER_GLOBS = ["/usr/lib/*/odbc/psqlodbcw.so", "/usr/lib/odbc/psqlodbcw.so", "/usr/lib64/psqlodbcw.so",
                "/usr/local/lib/psqlodbcw.so", "/usr/lib/*/psqlodbcw.so"]


def driver_path() -> str | None:
    if os.environ.get("PSQLODBC_DRIVER"):
        return os.environ["PSQLODBC_DRIVER"]
    found = sorted(path for pattern in DRIVER_GLOBS for path in glob.glob(pattern))
    return found[0] if found else None


@pytest.fixture(scope="session")
def driver() -> str:
    path = driver_path()
    if path is None:
        pytest.skip("no psqlODBC driver psqlodbcw.so (Debian: odbc-postgresql; or set PSQLODBC_DRIVER)")
    return path


@pytest.fixture(params=["proxy", "pg_proxy"])
def server(request):
    return request.getfixturevalue(request.param)


def connect(driver: str, server, user: str):
    return pyodbc.connect(f"DRIVER={driver};SERVER={server.host};PORT={server.port};DATABASE={server.database};"
                          f"UID={user};PWD={PASSWORDS[user]};sslmode=disable", timeout=30)


@pytest.mark.parametrize("user", USERS)
def test_tables_lists_exactly_the_role_tables(server, driver, user):
    with connect(driver, server, user) as conn:
        listed = [(r.table_schem, r.table_name, r.table_type) for r in conn.cursor().tables(schema="public")]
        everything = [(r.table_schem, r.table_name, r.table_type) for r in conn.cursor().tables()]
    assert listed == everything == [("public", t, "TABLE") for t in TABLES[user]]


@pytest.mark.parametrize("user", USERS)
def test_columns_gives_what_the_role_receives(server, driver, user):
    expected = visible_columns(server, user)
    with connect(driver, server, user) as conn:
        for table in TABLES[user]:
            rows = conn.cursor().columns(table=table, schema="public").fetchall()
            assert [(r.column_name, r.type_name) for r in rows] == expected[table], table
            assert [r.ordinal_position for r in rows] == list(range(1, len(rows) + 1))
            # a key column is NOT NULL (SQL_NO_NULLS = 0), the others nullable (SQL_NULLABLE = 1)
            assert [r.nullable for r in rows] == [0 if r.column_name == KEYS[table] else 1 for r in rows], table
        customers = [r.column_name for r in conn.cursor().columns(table="customers")]
    if user == "admin":
        assert "full_name" in customers
    elif user == "partner":
        assert customers == []  # a hidden table has no columns either
    else:
        assert "full_name" not in customers and customers[0] == "customer_id"


@pytest.mark.parametrize("user", USERS)
def test_primary_keys_and_statistics(server, driver, user):
    with connect(driver, server, user) as conn:
        for table in TABLES[user]:
            keys = [(r.table_name, r.column_name, r.key_seq, r.pk_name)
                    for r in conn.cursor().primaryKeys(table, schema="public")]
            assert keys == [(table, KEYS[table], 1, f"{table}_pkey")]
            indexes = [(r.index_name, r.column_name, r.non_unique)
                       for r in conn.cursor().statistics(table, schema="public") if r.index_name]
            assert indexes == [(f"{table}_pkey", KEYS[table], 0)], table


@pytest.mark.parametrize("user", USERS)
def test_queries_with_and_without_parameters(server, driver, user):
    with psycopg.connect(server.dsn(user)) as pg:
        towers = pg.execute("SELECT * FROM cell_towers ORDER BY cell_id LIMIT 3").fetchall()
        if "customers" in TABLES[user]:
            sql = "SELECT count(*) FROM customers WHERE signup_date >= %s"
        else:
            sql = "SELECT count(*) FROM cell_towers WHERE %s < DATE '2030-01-01'"
        (dated,), = pg.execute(sql, (dt.date(2020, 1, 1),)).fetchall()
    with connect(driver, server, user) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT * FROM cell_towers ORDER BY cell_id LIMIT 3")
        assert [d[0] for d in cursor.description] == [name for name, _ in visible_columns(server, user)["cell_towers"]]
        assert [tuple(r) for r in cursor.fetchall()] == towers
        assert cursor.execute(sql.replace("%s", "?"), dt.date(2020, 1, 1)).fetchall()[0][0] == dated > 0
