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
    ("partner", ["cell_towers"]),
    ("dashboard", ["calls", "cell_towers", "customers"]),
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


@pytest.mark.parametrize("user", ["admin", "analyst", "reporter", "partner", "dashboard"])
def test_nothing_hidden_in_any_output(server, user):
    out = "".join(psql(server, user, c) for c in (r"\dt", r"\dn", r"\l", r"\d cell_towers"))
    assert "public|pg_database_owner" in out and f"demo|{user}|UTF8" in out
    if user != "admin":
        assert not any(word in out for word in HIDDEN)


def test_partner_does_not_find_customers(server):
    result = subprocess.run(["psql", "-X", server.dsn("partner"), "-c", r"\d customers"],
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
@pytest.mark.parametrize("user", ["analyst", "partner", "dashboard"])
def test_a_catalog_statement_reaches_nothing_but_the_catalog(server, user, sql):
    """Catalog statements run on a DuckDB store: DuckDB's file readers and system
    functions must not be reachable through them."""
    with psycopg.connect(server.dsn(user), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql).fetchall()
        assert info.value.sqlstate in ("42883", "0A000", "42P01", "42704"), info.value
        assert conn.execute("SELECT 1").fetchone() == (1,)



@pytest.mark.parametrize("user, id_type", [("admin", "integer"), ("analyst", "bigint"), ("reporter", "bigint"),
                                           ("dashboard", "bigint")])
def test_the_declared_primary_key_is_shown_where_the_role_receives_it_one_to_one(server, user, id_type):
    """customer_id is raw for admin and tokenized for the others: still one-to-one, still the key."""
    out = subprocess.run(["psql", "-X", server.dsn(user), "-c", r"\d customers"],
                         capture_output=True, text=True, timeout=30).stdout
    assert '"customers_pkey" PRIMARY KEY, btree (customer_id)' in out
    [id_row] = [line for line in out.splitlines() if line.startswith(" customer_id ")]
    assert [cell.strip() for cell in id_row.split("|")] == ["customer_id", id_type, "", "not null", ""]


# psql 15's tab completion after `SELECT * FROM cu` (Query_for_list_of_selectables
# with the schema alternatives it appends).
TAB_COMPLETION = """SELECT c.relname, NULL::pg_catalog.text FROM pg_catalog.pg_class c
 WHERE c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE '{prefix}%'
   AND pg_catalog.pg_table_is_visible(c.oid)
   AND c.relnamespace <> (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')
UNION ALL
SELECT NULL::pg_catalog.text, n.nspname FROM pg_catalog.pg_namespace n
 WHERE n.nspname LIKE '{prefix}%' AND n.nspname NOT LIKE E'pg\\\\_%'
LIMIT 1000"""


@pytest.mark.parametrize("user, completions", [("analyst", ["calls", "cell_towers", "customers"]),
                                               ("partner", ["cell_towers"])])
def test_tab_completion_offers_exactly_the_role_tables(server, user, completions):
    with psycopg.connect(server.dsn(user), autocommit=True) as conn:
        cursor = conn.execute(TAB_COMPLETION.format(prefix="c"))
        assert [d.name for d in cursor.description] == ["relname", "text"]
        assert sorted(name for name, _ in cursor.fetchall()) == completions


@pytest.mark.parametrize("command", [r"\dt+", r"\d+ cell_towers", r"\dv", r"\df", r"\du", r"\dx", r"\dp", r"\dd",
                                     r"\di", r"\dT", r"\do", r"\dconfig"])
@pytest.mark.parametrize("user", ["admin", "analyst", "reporter", "partner"])
def test_meta_commands_answer_for_every_role(server, user, command):
    result = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", server.dsn(user), "-c", command],
                            capture_output=True, text=True, timeout=30)
    out = result.stdout
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr
    if user != "admin":
        assert not any(word in out for word in HIDDEN), out
    if command == r"\dx":
        assert " plpgsql | 1.0     | pg_catalog |" in out
    if command == r"\du":
        assert f" {user} " in out
    if command == r"\d+ cell_towers":
        assert '"cell_towers_pkey" PRIMARY KEY, btree (cell_id)' in out and "Access method: heap" in out
    if command == r"\dv":
        assert result.stderr == "Did not find any relations.\n"  # no views: the policy views are not the role's


@pytest.mark.parametrize("user", ["analyst", "reporter"])
def test_gdesc_describes_what_the_role_would_receive(server, user):
    query = "SELECT count(*) AS n, region FROM customers GROUP BY region"
    result = subprocess.run(["psql", "-X", "-A", "-t", "-F", "|", server.dsn(user)], input=f"{query} \\gdesc\n",
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.splitlines() == ["n|bigint", "region|text"], result.stderr


@pytest.mark.parametrize("user, sql", [
    ("analyst", "SELECT c.email, c.city, upper(c.city) AS u, k.duration_s FROM customers c, calls k LIMIT 1"),
    ("admin", "SELECT * FROM cell_towers LIMIT 1"),
    ("partner", "SELECT cell_towers.*, 1 AS one FROM cell_towers LIMIT 1"),
])
def test_row_description_names_the_table_column_in_the_roles_catalog(server, user, sql):
    """RowDescription's table OID and column number point at the role's own pg_attribute row,
    as PostgreSQL's do; a computed column has none."""
    with psycopg.connect(server.dsn(user), autocommit=True) as conn:
        cursor = conn.execute(sql)
        described = [(d.name, cursor.pgresult.ftable(i), cursor.pgresult.ftablecol(i))
                     for i, d in enumerate(cursor.description)]
        for name, table_oid, attnum in described:
            if name in ("u", "one"):
                assert (table_oid, attnum) == (0, 0)
                continue
            row = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum = %s",
                               (table_oid, attnum)).fetchone()
            assert row == (name,), (name, table_oid, attnum)


def test_postgresql_own_catalog_is_described_like_any_relation(server):
    """\\dS lists and \\d describes pg_catalog's relations, as against PostgreSQL."""
    described = psql(server, "partner", r"\d pg_catalog.pg_class").splitlines()
    assert described[:3] == ["oid|oid|||", "relname|name|||", "relnamespace|oid|||"]
    listed = psql(server, "analyst", r"\dtS pg_clas*")
    assert listed.startswith("pg_catalog|pg_class|table|analyst")
