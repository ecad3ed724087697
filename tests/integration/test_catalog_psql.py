"""psql's meta-commands answer from each role's own catalog, the same over both backends."""
from __future__ import annotations

import subprocess

import psycopg
import pytest

HIDDEN = ("full_name", "main", "system", "temp", "__anonproxy")


def psql(server, user: str, command: str) -> str:
    result = subprocess.run(["psql", "-X", "-A", "-t", "-F", "|", server.dsn(user), "-c", command],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and not result.stderr, result.stderr
    return result.stdout


@pytest.fixture(params=["proxy", "pg_proxy"])
def server(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("user, tables", [
    ("admin", ["calls", "cell_towers", "customers"]),
    ("analyst", ["calls", "cell_towers", "customers"]),
    ("reporter", ["calls", "cell_towers", "customers"]),
    ("dashboard", ["cell_towers"]),
])
def test_dt_lists_exactly_the_role_tables(server, user, tables):
    rows = [line.split("|") for line in psql(server, user, r"\dt").splitlines()]
    assert rows == [["public", t, "table", user] for t in tables]


def test_d_customers_shows_what_the_analyst_receives(server):
    rows = [line.split("|")[:2] for line in psql(server, "analyst", r"\d customers").splitlines()]
    assert rows[0] == ["customer_id", "bigint"]  # tokenized integer id
    assert dict(rows)["email"] == "text" and dict(rows)["birth_date"] == "date"
    assert "full_name" not in dict(rows)


def test_admin_sees_every_column(server):
    names = [line.split("|")[0] for line in psql(server, "admin", r"\d customers").splitlines()]
    assert "full_name" in names


@pytest.mark.parametrize("user", ["admin", "analyst", "reporter", "dashboard"])
def test_nothing_hidden_in_any_output(server, user):
    out = "".join(psql(server, user, c) for c in (r"\dt", r"\dn", r"\l", r"\d cell_towers"))
    assert "public|pg_database_owner" in out and f"demo|{user}|UTF8" in out
    if user != "admin":
        assert not any(word in out for word in HIDDEN)


def test_dashboard_does_not_find_customers(server):
    result = subprocess.run(["psql", "-X", server.dsn("dashboard"), "-c", r"\d customers"],
                            capture_output=True, text=True, timeout=30)
    assert 'Did not find any relation named "customers"' in result.stderr


def test_both_backends_answer_the_same(proxy, pg_proxy):
    for user in ("analyst", "reporter"):
        assert psql(proxy, user, r"\d customers") == psql(pg_proxy, user, r"\d customers")


ESCAPES = ["SELECT relname FROM pg_class, read_text('/etc/hostname')",
           "SELECT relname FROM pg_class UNION ALL SELECT content FROM read_text('/etc/hostname')",
           "SELECT relname, (SELECT count(*) FROM read_csv('/etc/hostname')) FROM pg_class",
           "SELECT * FROM pg_class, duckdb_settings()",
           "SELECT * FROM pg_class, (SELECT * FROM read_blob('/etc/hostname')) AS b",
           # the store's own DuckDB functions: its settings, the environment
           "SELECT current_setting('temp_directory'::text) FROM pg_catalog.pg_am LIMIT 1",
           "SELECT current_setting(amname) FROM pg_catalog.pg_am WHERE amname = 'heap'",
           "SELECT getenv('HOME') FROM pg_catalog.pg_am", "SELECT typeof(oid) FROM pg_class"]


@pytest.mark.parametrize("sql", ESCAPES)
@pytest.mark.parametrize("user", ["analyst", "dashboard"])
def test_a_catalog_statement_reaches_nothing_but_the_catalog(server, user, sql):
    """Catalog statements run on a DuckDB store: DuckDB's file readers and system
    functions must not be reachable through them."""
    with psycopg.connect(server.dsn(user), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql).fetchall()
        assert info.value.sqlstate in ("42883", "0A000", "42P01", "42704"), info.value
        assert conn.execute("SELECT 1").fetchone() == (1,)



@pytest.mark.parametrize("user, id_type", [("admin", "integer"), ("analyst", "bigint"), ("reporter", "bigint")])
def test_the_declared_primary_key_is_shown_where_the_role_receives_it_one_to_one(server, user, id_type):
    """customer_id is raw for admin and tokenized for the others: still one-to-one, still the key."""
    out = subprocess.run(["psql", "-X", server.dsn(user), "-c", r"\d customers"],
                         capture_output=True, text=True, timeout=30).stdout
    assert '"customers_pkey" PRIMARY KEY, btree (customer_id)' in out
    [id_row] = [line for line in out.splitlines() if line.startswith(" customer_id ")]
    assert [cell.strip() for cell in id_row.split("|")] == ["customer_id", id_type, "", "not null", ""]
