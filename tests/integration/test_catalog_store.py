"""The per-role catalog store (proxy/catalog/store.py): catalog-shaped SQL runs on
it, and for a table declared on a real PostgreSQL 15 server its rows equal
PostgreSQL's own."""
from __future__ import annotations

import duckdb
import pytest

from proxy.catalog.model import VisibleColumn
from proxy.catalog.store import build_store, relations, table_name

BOOL, INT2, INT4, INT8, TEXT, VARCHAR, BPCHAR, NUMERIC = 16, 21, 23, 20, 25, 1043, 1042, 1700
FLOAT8, DATE, TIMESTAMP, TIMESTAMPTZ, TEXT_ARRAY = 701, 1082, 1114, 1184, 1009

DEMO = {
    "customers": [VisibleColumn("customer_id", INT8, not_null=True), VisibleColumn("email", TEXT),
                  VisibleColumn("birth_date", DATE)],
    "calls": [VisibleColumn("call_id", INT8, not_null=True), VisibleColumn("customer_id", INT8)],
}

# One table of many types, declared on PostgreSQL and described to the model by hand.
SAMPLE_DDL = """CREATE TABLE sample (
    id bigint PRIMARY KEY, name varchar(20) NOT NULL, note text, amount numeric(10,2), ratio double precision,
    flag boolean, born date, seen timestamp, seen_tz timestamptz(3), tags text[], small smallint, code char(3))"""
SAMPLE = {"sample": [
    VisibleColumn("id", INT8, not_null=True), VisibleColumn("name", VARCHAR, 24, True), VisibleColumn("note", TEXT),
    VisibleColumn("amount", NUMERIC, (10 << 16 | 2) + 4), VisibleColumn("ratio", FLOAT8), VisibleColumn("flag", BOOL),
    VisibleColumn("born", DATE), VisibleColumn("seen", TIMESTAMP), VisibleColumn("seen_tz", TIMESTAMPTZ, 3),
    VisibleColumn("tags", TEXT_ARRAY), VisibleColumn("small", INT2), VisibleColumn("code", BPCHAR, 7)]}


@pytest.fixture(scope="module")
def store():
    built = build_store(DEMO, {"customers": ["customer_id"], "calls": ["call_id"]}, database="demo", user="analyst")
    yield built
    built.close()


def query(store, sql: str) -> list[tuple]:
    return store.connection.execute(sql).fetchall()


def test_every_relation_is_a_table_even_when_empty(store):
    tables = {name for (name,) in query(store, "SELECT table_name FROM information_schema.tables"
                                               " WHERE table_schema = 'pgcat'")}
    assert tables == {table_name(r) for r in relations()}  # the extracted ones and those psql adds
    assert query(store, "SELECT count(*) FROM pgcat.pg_trigger") == [(0,)]


def test_column_types_keep_postgresql_oids(store):
    assert store.column_types["pg_class"]["oid"] == 26
    assert store.column_types["pg_class"]["relname"] == 19
    assert store.column_types["information_schema_columns"]["table_name"] == 19  # sql_identifier's base type


def test_psql_list_tables_shape(store):
    rows = query(store, """
        SELECT n.nspname, c.relname, CASE c.relkind WHEN 'r' THEN 'table' WHEN 'i' THEN 'index' END, r.rolname
        FROM pgcat.pg_class c
        LEFT JOIN pgcat.pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pgcat.pg_roles r ON r.oid = c.relowner
        WHERE c.relkind IN ('r', 'p', '') AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
        ORDER BY 1, 2""")
    assert rows == [("public", "calls", "table", "analyst"), ("public", "customers", "table", "analyst")]


def test_describe_table_columns(store):
    rows = query(store, """
        SELECT a.attname, t.typname, a.attnotnull
        FROM pgcat.pg_attribute a
        JOIN pgcat.pg_class c ON c.oid = a.attrelid
        JOIN pgcat.pg_type t ON t.oid = a.atttypid
        WHERE c.relname = 'customers' AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum""")
    assert rows == [("customer_id", "int8", True), ("email", "text", False), ("birth_date", "date", False)]


def test_primary_key_columns(store):
    rows = query(store, """
        SELECT c.relname, a.attname, con.conname
        FROM pgcat.pg_index i
        JOIN pgcat.pg_class c ON c.oid = i.indrelid
        JOIN pgcat.pg_attribute a ON a.attrelid = c.oid AND list_contains(i.indkey, a.attnum)
        JOIN pgcat.pg_constraint con ON con.conindid = i.indexrelid
        WHERE i.indisprimary ORDER BY 1""")
    assert rows == [("calls", "call_id", "calls_pkey"), ("customers", "customer_id", "customers_pkey")]


def test_information_schema_columns(store):
    rows = query(store, """
        SELECT column_name, data_type, is_nullable FROM pgcat.information_schema_columns
        WHERE table_schema = 'public' AND table_name = 'customers' ORDER BY ordinal_position""")
    assert rows == [("customer_id", "bigint", "NO"), ("email", "text", "YES"), ("birth_date", "date", "YES")]


@pytest.fixture(scope="module")
def postgres():
    """A real PostgreSQL 15 holding SAMPLE_DDL, and our store for the same table."""
    psycopg = pytest.importorskip("psycopg")
    from tests import pg_server
    try:
        server = pg_server.start()
    except pg_server.CannotStart as exc:
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    ours = build_store(SAMPLE, {"sample": ["id"]}, database="postgres", user="postgres")
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(SAMPLE_DDL)
            yield conn, ours
    finally:
        ours.close()
        server.stop()


ATTRIBUTES = """SELECT a.attname, a.atttypid, a.attnum, a.atttypmod, a.attnotnull, a.attlen, a.attbyval,
    a.attalign, a.attstorage, a.attndims, a.attcollation
    FROM {s}pg_attribute a JOIN {s}pg_class c ON c.oid = a.attrelid
    WHERE c.relname = '{rel}' AND a.attnum > 0 ORDER BY a.attnum"""
TYPES = """SELECT t.oid, t.typname, t.typlen, t.typbyval, t.typtype, t.typcategory, t.typelem, t.typarray,
    t.typinput::text, t.typalign, t.typstorage, t.typcollation
    FROM {s}pg_type t WHERE t.oid IN (SELECT a.atttypid FROM {s}pg_attribute a JOIN {s}pg_class c
    ON c.oid = a.attrelid WHERE c.relname = 'sample' AND a.attnum > 0) ORDER BY t.oid"""
CLASSES = """SELECT relname, relkind, relnatts, relhasindex, relpersistence, relam, relnamespace, relreplident
    FROM {s}pg_class WHERE relname IN ('sample', 'sample_pkey') ORDER BY relname"""
INDEX = """SELECT i.indnatts, i.indisunique, i.indisprimary, i.indkey::int2[], i.indclass::oid[],
    i.indcollation::oid[], con.contype, con.conname, con.conkey
    FROM {s}pg_index i JOIN {s}pg_constraint con ON con.conindid = i.indexrelid
    WHERE con.conname = 'sample_pkey'"""
INFO_COLUMNS = """SELECT column_name, ordinal_position, is_nullable, data_type, character_maximum_length,
    character_octet_length, numeric_precision, numeric_precision_radix, numeric_scale, datetime_precision,
    udt_name, dtd_identifier, is_updatable
    FROM {s}columns WHERE table_name = 'sample' ORDER BY ordinal_position"""


def both(postgres, sql: str, schema: str = "pg_catalog.", ours_schema: str = "pgcat.", **fmt: str):
    """(our rows, PostgreSQL's rows) for one statement; the casts only PostgreSQL needs
    (its int2vector/oidvector/regproc) are dropped for ours, arrays compared as lists."""
    conn, ours = postgres
    theirs = conn.execute(sql.format(s=schema, **fmt)).fetchall()
    ours_sql = sql.replace("::int2[]", "").replace("::oid[]", "").replace("::text", "")
    mine = ours.connection.execute(ours_sql.format(s=ours_schema, **fmt)).fetchall()
    return _plain(mine), _plain(theirs)


def _plain(rows: list[tuple]) -> list[tuple]:
    return [tuple(list(v) if isinstance(v, (list, tuple)) else v for v in row) for row in rows]


@pytest.mark.parametrize("sql,rel", [(ATTRIBUTES, "sample"), (ATTRIBUTES, "sample_pkey"), (TYPES, ""),
                                     (CLASSES, ""), (INDEX, "")])
def test_rows_equal_postgresql_own(postgres, sql, rel):
    mine, theirs = both(postgres, sql, rel=rel)
    assert theirs and mine == theirs


def test_information_schema_columns_equal_postgresql_own(postgres):
    mine, theirs = both(postgres, INFO_COLUMNS, "information_schema.", "pgcat.information_schema_")
    assert theirs and mine == theirs


@pytest.mark.parametrize("sql", ["SELECT * FROM read_text('/etc/hostname')", "ATTACH '/tmp/x.duckdb' AS x",
                                 "INSTALL httpfs", "SET enable_external_access = true",
                                 "COPY pgcat.pg_class TO '/tmp/anonproxy-catalog-leak.csv'"])
def test_the_store_reaches_no_file_extension_or_setting(store, sql):
    """Client SQL runs on the store (transpiled, behind an allow-list): as a second wall,
    the store itself has no external access, autoloading or changeable configuration."""
    with pytest.raises(duckdb.Error):
        store.connection.cursor().execute(sql)
