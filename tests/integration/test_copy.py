"""COPY (query) TO STDOUT through the role's policy, on both backends: psql's \\copy,
psycopg's copy and asyncpg's copy_from_query receive exactly what a SELECT would."""
from __future__ import annotations

import asyncio
import csv
import io
import subprocess

import psycopg
import pytest

QUERY = "SELECT customer_id, email, city, annual_income FROM customers ORDER BY customer_id LIMIT 50"


@pytest.fixture(params=["proxy", "pg_proxy"])
def server(request):
    return request.getfixturevalue(request.param)


def selected(server, user: str, sql: str, null: str = "") -> list[list[str]]:
    """The same rows as text, read with an ordinary SELECT through the proxy."""
    with psycopg.connect(server.dsn(user), autocommit=True) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return [[null if v is None else str(v) for v in row] for row in cursor.fetchall()]


def test_psql_copy_csv_with_header_is_the_select(server):
    out = subprocess.run(["psql", "-X", server.dsn("analyst"), "-c", f"\\copy ({QUERY}) to stdout with csv header"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["customer_id", "email", "city", "annual_income"]
    assert rows[1:] == selected(server, "analyst", QUERY)
    assert "@" in rows[1][1] and "*" in rows[1][1]  # masked, as the SELECT is


def test_psycopg_copy_text_format_and_row_count(server):
    with psycopg.connect(server.dsn("analyst"), autocommit=True) as conn:
        cursor = conn.cursor()
        with cursor.copy(f"COPY ({QUERY}) TO STDOUT") as copy:
            data = b"".join(bytes(block) for block in copy)
        assert cursor.rowcount == 50
    rows = [line.split("\t") for line in data.decode().splitlines()]
    assert rows == selected(server, "analyst", QUERY, null="\\N")


def test_copy_a_table_by_name_with_columns(server):
    with psycopg.connect(server.dsn("analyst"), autocommit=True) as conn:
        with conn.cursor().copy("COPY cell_towers (cell_id, city) TO STDOUT (FORMAT csv)") as copy:
            data = b"".join(bytes(block) for block in copy).decode()
    assert list(csv.reader(io.StringIO(data))) == selected(server, "analyst",
                                                           "SELECT cell_id, city FROM cell_towers")


def test_asyncpg_copy_from_query(server):
    asyncpg = pytest.importorskip("asyncpg")

    async def run() -> bytes:
        conn = await asyncpg.connect(server.dsn("reporter"))
        try:
            out = io.BytesIO()
            await conn.copy_from_query("SELECT region, count(*) FROM customers GROUP BY region ORDER BY region",
                                       output=out, format="csv")
            return out.getvalue()
        finally:
            await conn.close()

    rows = list(csv.reader(io.StringIO(asyncio.run(run()).decode())))
    assert rows == selected(server, "reporter", "SELECT region, count(*) FROM customers GROUP BY region ORDER BY region")


@pytest.mark.parametrize("user, sql, sqlstate", [
    ("reporter", "COPY customers TO STDOUT", "42501"),             # row-level: aggregates only
    ("analyst", "COPY (SELECT full_name FROM customers) TO STDOUT", "42703"),  # hidden column
    ("partner", "COPY customers TO STDOUT", "42P01"),           # not its table
    ("analyst", "COPY customers FROM STDIN", "25006"),
    ("admin", "COPY (SELECT 1) TO '/tmp/anonproxy-copy'", "25006"),
    ("analyst", "COPY (SELECT 1) TO STDOUT (FORMAT binary)", "0A000"),
])
def test_copy_is_refused_as_the_query_or_the_write_would_be(server, user, sql, sqlstate):
    with psycopg.connect(server.dsn(user), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            with conn.cursor().copy(sql) as copy:
                b"".join(bytes(block) for block in copy)
        assert info.value.sqlstate == sqlstate, info.value
        assert conn.execute("SELECT 1").fetchone() == (1,)
