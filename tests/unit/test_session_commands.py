"""Statements the proxy answers itself, and the settings they act on."""
import pytest

from proxy.errors import SqlError
from proxy.rewrite.parse import split_statements
from proxy.session_commands import LocalCommand, parse_local_command
from proxy.settings import Settings


def local(sql: str) -> LocalCommand:
    [stmt] = split_statements(sql)
    return parse_local_command(stmt)


@pytest.mark.parametrize("sql,expected", [
    ("SET search_path TO public", LocalCommand("set", "SET", "search_path", "public")),
    ("set extra_float_digits = 3", LocalCommand("set", "SET", "extra_float_digits", "3")),
    ("SET application_name = 'my app'", LocalCommand("set", "SET", "application_name", "my app")),
    ("SET LOCAL statement_timeout = '5s'", LocalCommand("set", "SET", "statement_timeout", "5s", True)),
    ("SET SESSION TimeZone TO DEFAULT", LocalCommand("set", "SET", "TimeZone", None)),
    ("SET TIME ZONE 'UTC'", LocalCommand("set", "SET", "TimeZone", "UTC")),
    ("SET NAMES 'UTF8'", LocalCommand("set", "SET", "client_encoding", "UTF8")),
    ("set search_path = a, b", LocalCommand("set", "SET", "search_path", "a, b")),
    ("SET anonproxy.epsilon = 0.2", LocalCommand("set", "SET", "anonproxy.epsilon", "0.2")),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED", LocalCommand("noop", "SET")),
    ("SHOW standard_conforming_strings", LocalCommand("show", "SHOW", "standard_conforming_strings")),
    ("show transaction isolation level", LocalCommand("show", "SHOW", "transaction_isolation")),
    ("SHOW ALL", LocalCommand("show_all", "SHOW")),
    ("RESET ALL", LocalCommand("reset_all", "RESET")),
    ("RESET search_path", LocalCommand("reset", "RESET", "search_path")),
    ("BEGIN READ ONLY", LocalCommand("begin", "BEGIN")),
    ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", LocalCommand("begin", "START TRANSACTION")),
    ("COMMIT", LocalCommand("commit", "COMMIT")),
    ("END WORK", LocalCommand("commit", "COMMIT")),
    ("ROLLBACK", LocalCommand("rollback", "ROLLBACK")),
    ("ABORT", LocalCommand("rollback", "ROLLBACK")),
    ("SAVEPOINT _pg3_1", LocalCommand("savepoint", "SAVEPOINT", "_pg3_1")),
    ("RELEASE SAVEPOINT s1", LocalCommand("release", "RELEASE", "s1")),
    ("ROLLBACK TO SAVEPOINT s1", LocalCommand("rollback_to", "ROLLBACK", "s1")),
    # Savepoint names as psycopg and SQLAlchemy write them (quoted), or with comments between the words:
    # sqlglot hands what follows RELEASE or SAVEPOINT over as one string, so these are read from the text.
    ('SAVEPOINT "_pg3_2"', LocalCommand("savepoint", "SAVEPOINT", "_pg3_2")),
    ("savepoint Sp1", LocalCommand("savepoint", "SAVEPOINT", "sp1")),
    ('RELEASE "My Sp"', LocalCommand("release", "RELEASE", "My Sp")),
    ("RELEASE s1", LocalCommand("release", "RELEASE", "s1")),
    ("RELEASE /* why */ SAVEPOINT s2", LocalCommand("release", "RELEASE", "s2")),
    ('ROLLBACK WORK TO SAVEPOINT "_pg3_2"', LocalCommand("rollback_to", "ROLLBACK", "_pg3_2")),
    ("ABORT TO s1", LocalCommand("rollback_to", "ROLLBACK", "s1")),
    ("ROLLBACK TO SAVEPOINT", LocalCommand("rollback_to", "ROLLBACK", "savepoint")),  # as in PostgreSQL's grammar
    ("DISCARD ALL", LocalCommand("discard_all", "DISCARD ALL")),
    ("DEALLOCATE ALL", LocalCommand("deallocate", "DEALLOCATE ALL")),
    ("DEALLOCATE PREPARE stmt_1", LocalCommand("deallocate", "DEALLOCATE", "stmt_1")),
])
def test_local_commands(sql, expected):
    assert local(sql) == expected


@pytest.mark.parametrize("sql", ["SAVEPOINT", "SAVEPOINT a b", "RELEASE", "RELEASE x y", "ROLLBACK TO",
                                 "ROLLBACK TO SAVEPOINT a b"])
def test_a_malformed_savepoint_statement_is_a_syntax_error(sql):
    with pytest.raises(SqlError) as info:
        local(sql)
    assert info.value.sqlstate == "42601"


def test_set_role_is_refused():
    with pytest.raises(SqlError) as info:
        local("SET ROLE admin")
    assert info.value.sqlstate == "42501"


def test_settings_defaults_are_what_drivers_expect():
    s = Settings("alice", {"application_name": "psql", "client_encoding": "utf-8"})
    assert s.get("server_version").startswith("16.")
    assert s.get("STANDARD_CONFORMING_STRINGS") == "on"
    assert s.get("client_encoding") == "UTF8"
    assert s.get("application_name") == "psql"
    assert dict(s.reported())["session_authorization"] == "alice"


def test_unknown_setting_is_postgres_error_but_custom_prefix_is_accepted():
    s = Settings("a", {})
    with pytest.raises(SqlError) as info:
        s.set("no_such_thing", "1")
    assert (info.value.sqlstate, info.value.message) == ("42704", 'unrecognized configuration parameter "no_such_thing"')
    s.set("myapp.flag", "0.2")
    assert s.get("myapp.flag") == "0.2"


def test_epsilon_is_a_dp_roles_setting_within_its_max():
    with pytest.raises(SqlError) as info:
        Settings("a", {}).set("anonproxy.epsilon", "0.2")
    assert info.value.sqlstate == "55P02"
    s = Settings("a", {}, epsilon_cap=2.0)
    assert s.epsilon(0.5) == 0.5  # the role's default until set
    for bad in ("0", "-1", "2.5", "nan", "lots"):
        with pytest.raises(SqlError) as info:
            s.set("anonproxy.epsilon", bad)
        assert info.value.sqlstate == "22023" and "at most 2" in info.value.hint
    s.set("anonproxy.epsilon", "0.25")
    assert s.epsilon(0.5) == 0.25 and s.get("anonproxy.epsilon") == "0.25"
    s.set("anonproxy.epsilon", None)
    assert s.epsilon(0.5) == 0.5


def test_reset_returns_to_the_startup_value():
    s = Settings("a", {"application_name": "app"})
    s.set("application_name", "other")
    s.set("application_name", None)
    assert s.get("application_name") == "app"


def test_rollback_undoes_sets_and_local_ends_with_the_transaction():
    s = Settings("a", {})
    s.begin()
    s.set("search_path", "x")
    s.set("statement_timeout", "5s", local=True)
    assert s.get("statement_timeout") == "5s"
    s.end(commit=False)
    assert s.get("search_path") == '"$user", public'
    assert s.get("statement_timeout") == "0"
    s.begin()
    s.set("search_path", "y")
    s.end(commit=True)
    assert s.get("search_path") == "y"


def test_read_only_and_unsupported_values():
    s = Settings("a", {})
    with pytest.raises(SqlError) as info:
        s.set("server_version", "9")
    assert info.value.sqlstate == "55P02"
    with pytest.raises(SqlError):
        s.set("client_encoding", "LATIN1")
    with pytest.raises(SqlError) as info:
        s.set("default_transaction_read_only", "off")
    assert info.value.sqlstate == "25006"


def test_split_statements_respects_quotes_comments_and_dollar_quotes():
    sql = "select 'a;b' as x; /* c; */ select $$ ; $$ ;; -- trailing; comment\n"
    stmts = split_statements(sql)
    assert [s.text for s in stmts] == ["select 'a;b' as x", "select $$ ; $$"]
    assert stmts[1].offset == sql.index("select $$")
    assert split_statements("  ;; -- nothing\n") == []


@pytest.mark.parametrize("sql,expected", [
    ('FETCH FORWARD 100 FROM "Big Cursor"', LocalCommand("fetch", "FETCH", "Big Cursor", "100")),
    ("fetch all in c1", LocalCommand("fetch", "FETCH", "c1", "ALL")),
    ("FETCH c1", LocalCommand("fetch", "FETCH", "c1", "1")),
    ("MOVE 5 IN C1", LocalCommand("move", "MOVE", "c1", "5")),
    ("CLOSE c1", LocalCommand("close_cursor", "CLOSE CURSOR", "c1")),
    ("CLOSE ALL", LocalCommand("close_cursor", "CLOSE CURSOR ALL")),
])
def test_cursor_commands(sql, expected):
    assert local(sql) == expected


def test_backward_fetch_is_refused():
    with pytest.raises(SqlError) as info:
        local("FETCH PRIOR FROM c1")
    assert info.value.sqlstate == "55000"
