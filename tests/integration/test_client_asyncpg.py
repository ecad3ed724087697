"""asyncpg, with default settings, as every role: connects, decodes arrays (which makes
asyncpg introspect the type with its catalog query, `... WHERE t.oid = any($1::oid[])`),
binds dates, and lists exactly the visible tables and columns from information_schema.
Data values themselves are test_drivers.py's job.

The reference for "what the role receives" is the data path, not the catalog: psycopg's
cursor.description of `SELECT * FROM t LIMIT 0` (for the aggregate-only role, which may
not read rows of private tables, one grouped probe per column)."""
from __future__ import annotations

import asyncio
import datetime as dt

import psycopg
import pytest

from tests.integration.visible_schema import TABLES, USERS, information_schema_columns, visible_columns

asyncpg = pytest.importorskip("asyncpg")



@pytest.fixture(params=["proxy", "pg_proxy"])
def server(request):
    return request.getfixturevalue(request.param)


def visible_schema(server, user: str) -> dict[str, list[tuple[str, str]]]:
    """{table: [(column, type name)]} as the role receives them through the proxy."""
    return visible_columns(server, user)


def run(server, user, body):
    """Connect with nothing but the DSN, run `body(conn)`, close."""
    async def main():
        conn = await asyncpg.connect(server.dsn(user))
        try:
            return await body(conn)
        finally:
            await conn.close()
    return asyncio.run(asyncio.wait_for(main(), 60))


@pytest.mark.parametrize("user", USERS)
def test_connects_and_lists_exactly_the_visible_tables(server, user):
    async def body(conn):
        who = await conn.fetchval("SELECT current_user")
        tables = await conn.fetch("SELECT table_name, table_type FROM information_schema.tables "
                                  "WHERE table_schema = $1 ORDER BY table_name", "public")
        return who, [tuple(r) for r in tables]

    who, tables = run(server, user, body)
    assert who == user
    assert tables == [(t, "BASE TABLE") for t in TABLES[user]]


@pytest.mark.parametrize("user", USERS)
def test_columns_are_those_the_role_receives(server, user):
    async def body(conn):
        rows = await conn.fetch("SELECT table_name, column_name, data_type FROM information_schema.columns "
                                "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")
        return [tuple(r) for r in rows]

    rows = run(server, user, body)
    assert rows == information_schema_columns(server, user)
    names = {(t, c) for t, c, _ in rows}
    if user != "partner":
        assert (("customers", "full_name") in names) == (user == "admin")
        assert dict(((t, c), d) for t, c, d in rows)[("customers", "customer_id")] == \
            ("integer" if user == "admin" else "bigint")  # tokenized for analyst and reporter


@pytest.mark.parametrize("user", USERS)
def test_integer_arrays_decode(server, user):
    """int4[] is not among asyncpg's built-in codecs: it asks the catalog (its
    INTRO_LOOKUP_TYPES query, `$1::oid[]`) before it can decode or encode one."""
    async def body(conn):
        return (await conn.fetchval("SELECT ARRAY[1,2,3]"),
                await conn.fetchval("SELECT '{1,2}'::int[]"),
                await conn.fetchval("SELECT $1::int[]", [4, 5]),
                await conn.fetchval("SELECT 1"))  # the session goes on

    assert run(server, user, body) == ([1, 2, 3], [1, 2], [4, 5], 1)


@pytest.mark.parametrize("user", USERS)
def test_date_parameter(server, user):
    since = dt.date(2020, 1, 1)

    async def body(conn):
        echoed = await conn.fetchval("SELECT $1::date", since)
        count = None
        if user != "partner":
            count = await conn.fetchval("SELECT count(*) FROM customers WHERE signup_date >= $1", since)
        return echoed, count

    echoed, count = run(server, user, body)
    assert echoed == since
    if user != "partner":
        with psycopg.connect(server.dsn(user)) as ref:
            expected = ref.execute("SELECT count(*) FROM customers WHERE signup_date >= %s", (since,)).fetchone()[0]
        assert count == expected and count > 0


def test_partner_does_not_find_customers(server):
    async def body(conn):
        with pytest.raises(asyncpg.exceptions.UndefinedTableError):
            await conn.fetch("SELECT count(*) FROM customers")
        return await conn.fetchval("SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers'")

    assert run(server, "partner", body) == 0
