"""pgJDBC, with default settings, sees each role's catalog as PostgreSQL would show it:
DatabaseMetaData lists exactly the role's tables and the columns it receives, keys and
indexes answer, and a PreparedStatement with setDate runs.

tests/clients/jdbc/CatalogProbe.java is compiled once per session against the
system's pgJDBC jar (Debian: libpostgresql-jdbc-java) and run once per server and
role; it prints one tab-separated line per result and, for a failed call,
ERROR<TAB>call<TAB>SQLSTATE<TAB>message.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.integration.visible_schema import KEYS, TABLES, USERS, visible_columns

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "clients" / "jdbc" / "CatalogProbe.java"
JAR = Path(os.environ.get("PGJDBC_JAR", "/usr/share/java/postgresql.jar"))
# PostgreSQL type name -> java.sql.Types, as pgJDBC reports them against PostgreSQL.
JDBC_TYPES = {"int2": 5, "int4": 4, "int8": -5, "numeric": 2, "float4": 7, "float8": 8, "bool": -7,
              "text": 12, "varchar": 12, "date": 91, "timestamp": 93, "timestamptz": 93}
DATE = dt.date(2020, 1, 1)


def date_query(user: str) -> str:
    """A statement with one date parameter, on a date column the role may read."""
    if "customers" in TABLES[user]:
        return "SELECT count(*) FROM customers WHERE signup_date >= ?"
    return "SELECT count(*) FROM cell_towers WHERE ? < DATE '2030-01-01'"


def test_visible_columns_differ_by_role(proxy):
    """The oracle itself: hidden columns are absent, tokenized ids are int8."""
    admin, analyst, reporter = (dict(visible_columns(proxy, u)["customers"]) for u in ("admin", "analyst", "reporter"))
    assert "full_name" in admin and "full_name" not in analyst and "full_name" not in reporter
    assert "email" in analyst and "email" not in reporter
    assert analyst["customer_id"] == reporter["customer_id"] == "int8"


# --- the probe ----------------------------------------------------------------

class Probe:
    def __init__(self, output: str):
        self.lines = [line.split("\t") for line in output.splitlines() if line]
        self.errors = {f[1]: f"SQLSTATE {f[2]}: {f[3]}" for f in self.lines if f[0] == "ERROR"}

    def rows(self, tag: str) -> list[list[str]]:
        return [f[1:] for f in self.lines if f[0] == tag]

    def ok(self, *calls: str) -> None:
        """The calls ran without an error (the error, if any, is the failure message)."""
        failed = {c: self.errors[c] for c in calls if c in self.errors}
        assert not failed, failed


@pytest.fixture(scope="session")
def probe_classes(tmp_path_factory) -> Path:
    missing = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no {' or '.join(missing)} for the pgJDBC tests (Debian: default-jdk-headless)")
    if not JAR.exists():
        pytest.skip(f"no pgJDBC jar at {JAR} (Debian: libpostgresql-jdbc-java; or set PGJDBC_JAR)")
    out = tmp_path_factory.mktemp("jdbc")
    done = subprocess.run(["javac", "-cp", str(JAR), "-d", str(out), str(PROBE)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


_runs: dict[tuple[int, str], Probe] = {}


@pytest.fixture
def jdbc(probe_classes):
    def run(server, user: str) -> Probe:
        key = (server.port, user)
        if key not in _runs:
            from tests.integration.conftest import PASSWORDS
            url = f"jdbc:postgresql://{server.host}:{server.port}/{server.database}"
            done = subprocess.run(["java", "-cp", f"{JAR}{os.pathsep}{probe_classes}", "CatalogProbe",
                                   url, user, PASSWORDS[user], date_query(user)],
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0 and "DONE" in done.stdout.splitlines(), done.stdout + done.stderr
            _runs[key] = Probe(done.stdout)
        return _runs[key]
    return run


@pytest.fixture(params=["proxy", "pg_proxy"])
def server(request):
    return request.getfixturevalue(request.param)


# --- the tests ----------------------------------------------------------------

@pytest.mark.parametrize("user", USERS)
def test_connects_and_lists_the_schemas(server, jdbc, user):
    probe = jdbc(server, user)
    probe.ok("connect", "getSchemas")
    assert probe.rows("CONNECT")[0][0] == "PostgreSQL"
    assert [r[0] for r in probe.rows("SCHEMA")] == ["information_schema", "pg_catalog", "public"]


@pytest.mark.parametrize("user", USERS)
def test_get_tables_lists_exactly_the_role_tables(server, jdbc, user):
    probe = jdbc(server, user)
    probe.ok("getTables")
    assert probe.rows("TABLE") == [["public", t, "TABLE"] for t in TABLES[user]]


@pytest.mark.parametrize("user", USERS)
def test_get_columns_gives_what_the_role_receives(server, jdbc, user):
    probe = jdbc(server, user)
    expected = visible_columns(server, user)
    probe.ok(*(f"getColumns {t}" for t in TABLES[user]))
    for table in TABLES[user]:
        rows = [r[1:] for r in probe.rows("COLUMN") if r[0] == table]
        assert [(name, type_name) for name, type_name, *_ in rows] == expected[table], table
        assert [int(r[4]) for r in rows] == list(range(1, len(rows) + 1))
        assert all(int(data_type) == JDBC_TYPES[type_name] for _, type_name, data_type, *_ in rows), rows
    names = {t: [r[1] for r in probe.rows("COLUMN") if r[0] == t] for t in TABLES[user]}
    if user == "admin":
        assert "full_name" in names["customers"]
    elif user in ("analyst", "reporter"):
        assert "full_name" not in names["customers"] and names["customers"][0] == "customer_id"
        assert ("email" in names["customers"]) == (user == "analyst")
    else:
        assert list(names) == ["cell_towers"]


@pytest.mark.parametrize("user", USERS)
def test_get_primary_keys(server, jdbc, user):
    probe = jdbc(server, user)
    probe.ok(*(f"getPrimaryKeys {t}" for t in TABLES[user]))
    assert probe.rows("PK") == [[t, KEYS[t], "1", f"{t}_pkey"] for t in TABLES[user]]


@pytest.mark.parametrize("user", USERS)
def test_get_columns_nullability(server, jdbc, user):
    """A key column is NOT NULL (columnNoNulls = 0), the others nullable (1), as in PostgreSQL."""
    probe = jdbc(server, user)
    probe.ok(*(f"getColumns {t}" for t in TABLES[user]))
    for table in TABLES[user]:
        nullable = {r[1]: int(r[4]) for r in probe.rows("COLUMN") if r[0] == table}
        assert nullable == {c: 0 if c == KEYS[table] else 1 for c in nullable}, table


@pytest.mark.parametrize("user", USERS)
def test_get_index_info_lists_the_primary_key_index(server, jdbc, user):
    probe = jdbc(server, user)
    probe.ok(*(f"getIndexInfo {t}" for t in TABLES[user]))
    assert probe.rows("INDEX") == [[t, f"{t}_pkey", KEYS[t], "false", "1"] for t in TABLES[user]]


@pytest.mark.parametrize("user", USERS)
def test_get_type_info(server, jdbc, user):
    probe = jdbc(server, user)
    probe.ok("getTypeInfo")
    (count, names), = probe.rows("TYPEINFO")
    names = set(names.split(","))
    assert int(count) == len(names) > 0
    assert {"bool", "int2", "int4", "int8", "numeric", "float8", "text", "varchar", "date", "timestamp"} <= names
    hidden = {"calls", "customers"} - set(TABLES[user])
    assert not hidden & names, hidden & names  # a hidden table's row type does not exist either


@pytest.mark.parametrize("user", USERS)
def test_get_functions(server, jdbc, user):
    probe = jdbc(server, user)
    probe.ok("getFunctions public", "getFunctions lower")
    functions = {r[0]: r[1] for r in probe.rows("FUNCTIONS")}
    assert functions["public"] == "0"  # the demo defines no functions
    assert "pg_catalog.lower" in functions["lower"].split(",")


@pytest.mark.parametrize("user", USERS)
def test_prepared_statement_with_set_date(server, jdbc, user):
    probe = jdbc(server, user)
    probe.ok("setDate")
    with psycopg.connect(server.dsn(user)) as conn:
        (expected,), = conn.execute(date_query(user).replace("?", "%s"), (DATE,)).fetchall()
    assert probe.rows("DATE") == [[str(expected)]]
    assert expected > 0


@pytest.mark.parametrize("user", USERS)
def test_result_set_metadata_names_the_table(server, jdbc, user):
    """As against PostgreSQL: RowDescription carries the table's OID and column numbers,
    so getTableName is the table and isNullable comes from pg_attribute (key NOT NULL)."""
    probe = jdbc(server, user)
    probe.ok("ResultSetMetaData")
    columns = visible_columns(server, user)["cell_towers"]
    assert probe.rows("RSMD") == [[name, "cell_towers", "0" if name == "cell_id" else "1", type_name]
                                  for name, type_name in columns]
