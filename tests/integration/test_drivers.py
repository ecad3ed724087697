"""Real drivers against the proxy: psycopg 3 (text and binary), asyncpg, pg8000,
SQLAlchemy + pandas. Values are checked against DuckDB read directly."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import duckdb
import pytest


@pytest.fixture(scope="module")
def truth(proxy):
    """The same rows read straight from the database file, as the oracle."""
    con = duckdb.connect(str(proxy.db_path), read_only=True)
    yield con
    con.close()


SAMPLE = ("SELECT customer_id, full_name, birth_date, annual_income, signup_date "
          "FROM customers WHERE customer_id IN (1, 2, 3) ORDER BY customer_id")
CALLS = "SELECT call_id, started_at, duration_s, cost, direction FROM calls ORDER BY call_id LIMIT 5"


# --- psycopg 3 ---------------------------------------------------------------

psycopg = pytest.importorskip("psycopg")


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_psycopg_values_match_the_database(proxy, truth, binary):
    with psycopg.connect(proxy.dsn()) as conn:
        rows = conn.execute(SAMPLE, binary=binary).fetchall()
        calls = conn.execute(CALLS, binary=binary).fetchall()
    assert rows == truth.execute(SAMPLE).fetchall()
    assert calls == truth.execute(CALLS).fetchall()
    assert isinstance(rows[0][2], dt.date) and isinstance(calls[0][1], dt.datetime)
    assert isinstance(calls[0][3], Decimal)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_psycopg_parameters_and_types(proxy, binary):
    with psycopg.connect(proxy.dsn()) as conn:
        cur = conn.cursor(binary=binary)
        cur.execute("SELECT full_name FROM customers WHERE customer_id = %s", (42,))
        (name,) = cur.fetchone()
        assert isinstance(name, str) and name
        cur.execute("SELECT %s::int + 1, %s::text, %s::date, %s::numeric * 2, %s::bool, %s::float8",
                    (41, "héllo", dt.date(2024, 2, 29), Decimal("1.25"), True, 0.5))
        assert cur.fetchone() == (42, "héllo", dt.date(2024, 2, 29), Decimal("2.50"), True, 0.5)
        cur.execute("SELECT %s::timestamptz, %s::interval, %s::uuid, %s::bytea",
                    (dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc), dt.timedelta(days=1, seconds=5),
                     "12345678-1234-5678-1234-567812345678", b"\x00\xff"))
        ts, iv, uid, raw = cur.fetchone()
        assert ts == dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
        assert iv == dt.timedelta(days=1, seconds=5)
        assert str(uid) == "12345678-1234-5678-1234-567812345678"
        assert bytes(raw) == b"\x00\xff"


def test_psycopg_transactions_and_errors_keep_the_session(proxy):
    with psycopg.connect(proxy.dsn()) as conn:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        conn.execute("SELECT 1")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with pytest.raises(psycopg.errors.UndefinedColumn):
            conn.execute("SELECT nope FROM customers")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT 2").fetchone() == (2,)
        conn.commit()
        with conn.transaction():  # savepoints through psycopg's own API
            with pytest.raises(psycopg.errors.UndefinedTable):
                with conn.transaction():
                    conn.execute("SELECT * FROM nope")
            assert conn.execute("SELECT 3").fetchone() == (3,)


def test_psycopg_server_cursor_streams_in_batches(proxy):
    with psycopg.connect(proxy.dsn()) as conn:
        cur = conn.cursor()
        total = 0
        for batch in cur.stream("SELECT call_id FROM calls ORDER BY call_id"):
            total += 1
        assert total == conn.execute("SELECT count(*) FROM calls").fetchone()[0]


def test_psycopg_set_show_and_parameter_status(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        assert conn.info.parameter_status("server_version").startswith("16.")
        assert conn.info.parameter_status("standard_conforming_strings") == "on"
        conn.execute("SET application_name = 'reporting'")
        assert conn.info.parameter_status("application_name") == "reporting"
        assert conn.execute("SHOW application_name").fetchone() == ("reporting",)
        with pytest.raises(psycopg.errors.UndefinedObject):
            conn.execute("SET no_such_setting = 1")


# --- asyncpg -----------------------------------------------------------------

asyncpg = pytest.importorskip("asyncpg")


def test_asyncpg_prepared_statements_and_binary_values(proxy, truth):
    async def main():
        conn = await asyncpg.connect(proxy.dsn())
        try:
            stmt = await conn.prepare("SELECT customer_id, full_name, birth_date, annual_income "
                                      "FROM customers WHERE customer_id = $1")
            assert [a.name for a in stmt.get_attributes()] == ["customer_id", "full_name", "birth_date", "annual_income"]
            rows = [tuple(await stmt.fetchrow(i)) for i in (1, 2, 3)]
            count = await conn.fetchval("SELECT count(*) FROM calls WHERE customer_id = $1", 7)
            ts = await conn.fetchval("SELECT max(started_at) FROM calls WHERE duration_s > $1", 60)
            async with conn.transaction():
                cursor_rows = [r async for r in conn.cursor("SELECT call_id FROM calls ORDER BY call_id LIMIT 250",
                                                            prefetch=100)]
            return rows, count, ts, cursor_rows
        finally:
            await conn.close()

    rows, count, ts, cursor_rows = asyncio.run(main())
    expected = truth.execute("SELECT customer_id, full_name, birth_date, annual_income FROM customers "
                             "WHERE customer_id IN (1,2,3) ORDER BY 1").fetchall()
    assert rows == expected
    assert count == truth.execute("SELECT count(*) FROM calls WHERE customer_id = 7").fetchone()[0]
    assert ts == truth.execute("SELECT max(started_at) FROM calls WHERE duration_s > 60").fetchone()[0]
    assert [r["call_id"] for r in cursor_rows] == [
        r[0] for r in truth.execute("SELECT call_id FROM calls ORDER BY call_id LIMIT 250").fetchall()]


def test_asyncpg_errors_carry_sqlstate(proxy):
    async def main():
        conn = await asyncpg.connect(proxy.dsn())
        try:
            with pytest.raises(asyncpg.exceptions.UndefinedTableError):
                await conn.fetch("SELECT * FROM no_such_table")
            return await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    assert asyncio.run(main()) == 1


# --- pg8000 ------------------------------------------------------------------

pg8000 = pytest.importorskip("pg8000")


def test_pg8000(proxy, truth):
    conn = pg8000.connect(user="admin", password="admin-pw", host=proxy.host, port=proxy.port, database="demo")
    try:
        cur = conn.cursor()
        cur.execute(SAMPLE)
        assert [tuple(r) for r in cur.fetchall()] == truth.execute(SAMPLE).fetchall()
        cur.execute("SELECT count(*) FROM calls WHERE customer_id = %s", (5,))
        assert cur.fetchone()[0] == truth.execute("SELECT count(*) FROM calls WHERE customer_id = 5").fetchone()[0]
        with pytest.raises(pg8000.dbapi.DatabaseError) as info:
            cur.execute("SELECT * FROM nope")
        assert info.value.args[0]["C"] == "42P01"
        conn.rollback()
        cur.execute("SELECT 'ok'")
        assert cur.fetchone()[0] == "ok"
    finally:
        conn.close()


# --- SQLAlchemy + pandas -------------------------------------------------------

sqlalchemy = pytest.importorskip("sqlalchemy")
pd = pytest.importorskip("pandas")


@pytest.mark.parametrize("driver", ["psycopg", "pg8000", "asyncpg"])
def test_sqlalchemy_and_pandas(proxy, truth, driver):
    if driver == "asyncpg":
        url = proxy.dsn().replace("postgresql://", "postgresql+asyncpg://")

        async def main():
            from sqlalchemy.ext.asyncio import create_async_engine
            engine = create_async_engine(url)
            async with engine.connect() as conn:
                result = await conn.execute(sqlalchemy.text("SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY region"))
                rows = [tuple(r) for r in result]
            await engine.dispose()
            return rows

        rows = asyncio.run(main())
        assert rows == truth.execute("SELECT region, count(*) FROM customers GROUP BY region ORDER BY region").fetchall()
        return
    engine = sqlalchemy.create_engine(proxy.dsn().replace("postgresql://", f"postgresql+{driver}://"))
    try:
        frame = pd.read_sql("SELECT region, count(*) AS n, avg(annual_income) AS income "
                            "FROM customers GROUP BY region ORDER BY region", engine)
        expected = truth.execute("SELECT region, count(*), avg(annual_income) FROM customers "
                                 "GROUP BY region ORDER BY region").fetchall()
        assert list(frame.columns) == ["region", "n", "income"]
        assert [(r[0], r[1]) for r in frame.itertuples(index=False)] == [(e[0], e[1]) for e in expected]
        assert frame["income"].tolist() == pytest.approx([float(e[2]) for e in expected])
        with engine.connect() as conn:
            params = conn.execute(sqlalchemy.text("SELECT full_name FROM customers WHERE customer_id = :id"),
                                  {"id": 9}).scalar_one()
        assert params == truth.execute("SELECT full_name FROM customers WHERE customer_id = 9").fetchone()[0]
    finally:
        engine.dispose()
