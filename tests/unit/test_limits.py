"""Bounded work, the pure parts: timeout and size values as PostgreSQL writes
them, the role's cap on SET statement_timeout, the configuration keys, the
statement length and nesting checks, and stopping planning in its thread."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from proxy.config import ConfigError, load_config
from proxy.errors import SqlError
from proxy.policy.model import ColumnRule, Role, TablePolicy
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.parse import MAX_TYPE_CALL_DEPTH, StatementLimits, split_statements
from proxy.rewrite.pipeline import plan
from proxy.running import Interruptible, Registry, Stopped
from proxy.settings import Settings
from proxy.units import format_duration_ms, format_size, parse_duration_ms, parse_size
from proxy.wire import types as pg
from proxy.wire.scram import make_verifier


# --- values -------------------------------------------------------------------

@pytest.mark.parametrize("value,ms", [
    (60000, 60000), ("60000", 60000), ("60s", 60000), ("500ms", 500), ("2min", 120000), ("1h", 3_600_000),
    ("1d", 86_400_000), ("1.5s", 1500), (" 30 s ", 30000), ("0", 0), ("2600us", 3), (0, 0),
])
def test_durations_in_postgresql_forms(value, ms):
    assert parse_duration_ms(value) == ms


@pytest.mark.parametrize("value", ["", "soon", "5S", "5 sec", "-1", "1e12", True, "10 minutes", "1s2"])
def test_bad_durations_are_refused(value):
    with pytest.raises(ValueError):
        parse_duration_ms(value)


@pytest.mark.parametrize("ms,text", [(0, "0"), (500, "500ms"), (1500, "1500ms"), (2000, "2s"), (60000, "1min"),
                                     (90000, "90s"), (3_600_000, "1h"), (86_400_000, "1d")])
def test_durations_print_as_show_prints_them(ms, text):
    assert format_duration_ms(ms) == text
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("value,size", [(1048576, 1 << 20), ("1MB", 1 << 20), ("4GB", 4 << 30), ("4GiB", 4 << 30),
                                        ("512 kB", 512 << 10), ("1.5GB", 3 << 29), ("100", 100), ("7B", 7)])
def test_sizes_are_powers_of_1024_as_in_postgresql(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["lots", "1XB", "-1MB", True])
def test_bad_sizes_are_refused(value):
    with pytest.raises(ValueError):
        parse_size(value)


def test_sizes_print_in_the_largest_exact_unit():
    assert [format_size(n) for n in (4 << 30, 1536 << 20, 1000, 0)] == ["4GB", "1536MB", "1000B", "0B"]


# --- SET statement_timeout under the role's cap -------------------------------

def test_the_roles_cap_is_the_default_and_lower_values_are_accepted():
    s = Settings("a", {}, 60_000)
    assert s.get("statement_timeout") == "1min" and s.statement_timeout_ms() == 60_000
    s.set("statement_timeout", "5000")
    assert s.get("statement_timeout") == "5s" and s.statement_timeout_ms() == 5000
    s.set("statement_timeout", None)  # RESET
    assert s.get("statement_timeout") == "1min"


@pytest.mark.parametrize("value", ["2min", "0", "60001"])
def test_above_the_cap_or_off_is_refused_like_postgresql(value):
    s = Settings("a", {}, 60_000)
    with pytest.raises(SqlError) as info:
        s.set("statement_timeout", value)
    assert info.value.sqlstate == "42501"
    assert info.value.message == f'permission denied to set parameter "statement_timeout" to "{value}"'
    assert info.value.detail == "This role's statements may run for at most 1min."
    assert s.get("statement_timeout") == "1min"


def test_invalid_timeout_values_are_22023():
    with pytest.raises(SqlError) as info:
        Settings("a", {}, 60_000).set("statement_timeout", "a while")
    assert (info.value.sqlstate, info.value.message) == (
        "22023", 'invalid value for parameter "statement_timeout": "a while"')


def test_a_startup_value_within_the_cap_is_the_reset_value_and_one_above_it_is_ignored():
    assert Settings("a", {"statement_timeout": "10s"}, 60_000).get("statement_timeout") == "10s"
    assert Settings("a", {"statement_timeout": "0"}, 60_000).get("statement_timeout") == "1min"


def test_without_a_cap_zero_turns_the_timeout_off():
    s = Settings("a", {}, 0)
    assert s.statement_timeout_ms() == 0
    s.set("statement_timeout", "1h")
    s.set("statement_timeout", "0")
    assert s.statement_timeout_ms() == 0


# --- configuration --------------------------------------------------------------

VERIFIER = str(make_verifier("pw", salt=b"0123456789ab"))


def config_text(role_extra: str = "", backend_extra: str = "", top_extra: str = "", backend: str = "duckdb") -> str:
    where = "path: db.duckdb" if backend == "duckdb" else 'dsn: "postgresql://u@h/db"'
    return f"""
backend: {{type: {backend}, {where}{backend_extra}}}
users:
  alice: {{role: analyst, password: "{VERIFIER}"}}
roles:
  admin: {{mode: raw, tables: "*"}}
  partner: {{mode: raw, tables: [calls]{role_extra}}}
  analyst: {{mode: masked, tables: {{calls: {{privacy_unit: customer_id}}}}{role_extra}}}
{top_extra}"""


def load(tmp_path: Path, text: str):
    (tmp_path / "db.duckdb").write_bytes(b"")
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value.problems


def test_defaults(tmp_path):
    cfg = load(tmp_path, config_text())
    assert {r.name: r.statement_timeout_ms for r in cfg.roles.values()} == {
        "admin": 60_000, "partner": 60_000, "analyst": 60_000}
    assert cfg.limits.statement == StatementLimits(1 << 20, 200)
    assert 16 << 20 <= cfg.backend.memory_limit <= 4 << 30
    assert cfg.backend.threads >= 1 and cfg.backend.temp_directory is None
    assert cfg.limits.max_memory > cfg.backend.memory_limit


def test_role_timeouts_in_postgresql_forms(tmp_path):
    cfg = load(tmp_path, config_text(role_extra=", statement_timeout: 90s"))
    assert cfg.roles["analyst"].statement_timeout_ms == 90_000
    cfg = load(tmp_path, config_text(role_extra=", statement_timeout: 1500"))
    assert cfg.roles["partner"].statement_timeout_ms == 1500


def test_no_timeout_only_for_full_access_raw_roles(tmp_path):
    text = config_text(role_extra=", statement_timeout: 0").replace('tables: "*"}', 'tables: "*", statement_timeout: 0}')
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert found[0].startswith("roles.partner.statement_timeout: 0 (no timeout) is allowed only for raw roles "
                               'reading every table (tables: "*")')
    assert found[1].startswith("roles.analyst.statement_timeout: 0 (no timeout)")
    text = config_text().replace('tables: "*"}', 'tables: "*", statement_timeout: 0}')
    assert load(tmp_path, text).roles["admin"].statement_timeout_ms == 0


def test_bad_timeouts_are_named_by_path(tmp_path):
    [problem] = problems(tmp_path, config_text().replace('tables: "*"}', 'tables: "*", statement_timeout: 5 minutes}'))
    assert problem.startswith("roles.admin.statement_timeout: expected a duration such as 60s, 500ms or 2min, "
                              "got '5 minutes'")


def test_backend_resources(tmp_path):
    spill = tmp_path / "spill"
    spill.mkdir()
    cfg = load(tmp_path, config_text(backend_extra=", memory_limit: 1GB, threads: 3, temp_directory: spill, "
                                                   "max_temp_directory_size: 2GB"))
    b = cfg.backend
    assert (b.memory_limit, b.threads, b.temp_directory, b.max_temp_directory_size) == (1 << 30, 3, spill, 2 << 30)


def test_bad_backend_resources_are_named_by_path(tmp_path):
    found = problems(tmp_path, config_text(backend_extra=", memory_limit: lots, threads: 0, temp_directory: nowhere"))
    assert [p.split(":")[0] for p in found] == ["backend.memory_limit", "backend.threads", "backend.temp_directory"]
    assert "got 0" in found[1] and "is not a writable directory" in found[2]


def test_duckdb_resources_on_postgres_are_refused(tmp_path):
    [problem] = problems(tmp_path, config_text(backend="postgres", backend_extra=", threads: 4"))
    assert problem.startswith("backend.threads: applies to the duckdb backend only")


def test_limits(tmp_path):
    cfg = load(tmp_path, config_text(
        backend_extra=", memory_limit: 512MB",
        top_extra="limits: {max_statement_length: 64kB, max_nesting_depth: 50, max_memory: 2GB}"))
    assert cfg.limits.statement == StatementLimits(64 << 10, 50)
    assert cfg.limits.max_memory == 2 << 30
    assert load(tmp_path, config_text(top_extra="limits: {max_memory: 0}")).limits.max_memory == 0


def test_bad_limits_are_named_by_path(tmp_path):
    found = problems(tmp_path, config_text(
        backend_extra=", memory_limit: 2GB",
        top_extra="limits: {max_statement_length: 10, max_nesting_depth: 5000, max_memory: 1GB, max_rows: 5}"))
    assert [p.split(":")[0] for p in found] == [
        "limits.max_rows", "limits.max_statement_length", "limits.max_nesting_depth", "limits.max_memory"]
    assert "leaves no room above backend.memory_limit" in found[3]


# --- statement length and nesting, before sqlglot parses --------------------------

LIMITS = StatementLimits(max_length=100, max_depth=5)


def too_complex(sql: str, limits: StatementLimits = LIMITS) -> SqlError:
    with pytest.raises(SqlError) as info:
        split_statements(sql, limits)
    assert info.value.sqlstate == "54001"
    return info.value


def test_length_is_counted_in_utf8_bytes_of_the_whole_message():
    split_statements("SELECT '" + "x" * 91 + "'", LIMITS)  # exactly 100 bytes
    error = too_complex("SELECT '" + "x" * 92 + "'")
    assert error.message == "statement is too long"
    assert error.detail == "The statement is 101 bytes long; at most 100 are accepted."
    assert "limits.max_statement_length" in error.hint
    too_complex("SELECT '" + "é" * 46 + "'")  # 101 bytes in 55 characters
    too_complex("SELECT 1;" * 12)


def test_nesting_up_to_the_limit_passes_one_more_is_refused_at_its_token():
    assert len(split_statements("SELECT ((((( 1 )))))", LIMITS)) == 1
    error = too_complex("SELECT (((((( 1 ))))))")
    assert error.message == "statement is too complex"
    assert error.position == len("SELECT (((((") + 1
    assert "limits.max_nesting_depth" in error.hint


@pytest.mark.parametrize("sql", [
    "SELECT CASE WHEN ((((( true))))) THEN 1 END",
    "SELECT x[[[[[[1]]]]]]",
    "SELECT {'a': {'b': ((((1))))}}",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT 1))))))",
])
def test_parentheses_brackets_braces_case_and_subqueries_all_count(sql):
    too_complex(sql)


def test_nesting_is_per_statement_and_ignores_quoted_text():
    assert len(split_statements("SELECT ((((1)))); SELECT ((((2))))", LIMITS)) == 2
    assert len(split_statements("SELECT '((((((((', \"((((((((\" FROM t -- ((((((((\n", LIMITS)) == 1
    assert len(split_statements("SELECT (1) + (2) + (3) + (4) + (5) + (6) + (7)", LIMITS)) == 1
    assert len(split_statements("BEGIN; SELECT CASE WHEN true THEN 1 END; END", LIMITS)) == 3


def test_type_name_calls_and_array_constructors_have_their_own_small_limit():
    ok = "SELECT " + "ARRAY[" * MAX_TYPE_CALL_DEPTH + "1" + "]" * MAX_TYPE_CALL_DEPTH
    split_statements(ok)
    for sql in ("SELECT " + "ARRAY[" * 6 + "1" + "]" * 6, "SELECT " + "int(abs(" * 6 + "1" + "))" * 6):
        with pytest.raises(SqlError) as info:
            split_statements(sql)
        assert info.value.sqlstate == "54001" and "type-name calls" in info.value.detail
    split_statements("SELECT " + "abs(" * 100 + "1" + ")" * 100)  # plain calls: only the depth limit
    split_statements("SELECT 1" + " UNION (SELECT 1" * 20 + ")" * 20)


# --- the parser and every pass handle the depth limit --------------------------

TABLES = {"people": {"id": pg.INT4, "name": pg.TEXT, "zip": pg.TEXT, "income": pg.INT4}}
PEOPLE = TablePolicy("people", "id", (), None, {"zip": ColumnRule("raw"), "income": ColumnRule("raw")})
DEEP = 200  # the default limit


def context(mode: str) -> RewriteContext:
    role = Role("r", mode, None if mode == "raw" else {"people": PEOPLE}, 1 if mode == "raw" else 2)
    return RewriteContext(role=role, user="u", database="db", tables=TABLES, dialect="duckdb",
                          setting=lambda n: "", token_key=None)


@pytest.mark.parametrize("mode", ["raw", "masked", "aggregate"])
@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM people WHERE " + "(" * (DEEP - 1) + "zip = 'x'" + ")" * (DEEP - 1),
    "SELECT count(*) FROM " + "(SELECT * FROM " * (DEEP - 1) + "people" + ") AS t" * (DEEP - 1),
    "SELECT count(*) FROM people WHERE zip = " + "CASE WHEN true THEN " * (DEEP - 1) + "'x'" + " END" * (DEEP - 1),
    "SELECT count(*) FROM people WHERE " + "NOT " * 1000 + "zip = 'x'",
])
def test_statements_at_the_depth_limit_plan_in_a_worker_thread(mode, sql):
    """The server plans in its thread pool; no pass may run out of recursion there."""
    def attempt() -> str:
        try:
            plan(sql, context(mode))
            return "planned"
        except SqlError as exc:  # a policy refusal is fine; "too complex" is not
            return exc.sqlstate
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(attempt).result() != "54001"


def test_recursion_beyond_the_parser_is_54001_not_an_internal_error():
    sql = "SELECT " + "NOT " * 30000 + "true"  # no brackets: only the recursion limit stops it
    with pytest.raises(SqlError) as info:
        plan(sql, context("raw"))
    assert info.value.sqlstate == "54001"


# --- stopping planning ---------------------------------------------------------------

def test_pure_python_work_that_never_ends_by_itself_is_stopped_in_its_thread():
    """No timing premise: the work only ends when stopped (planning is pure Python too)."""
    registry = Registry()
    planner = Interruptible()
    running = registry.running(planner.interrupt)
    entered = threading.Event()

    def forever() -> None:
        entered.set()
        while True:
            pass

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(planner.run, forever)
        assert entered.wait(10)
        running.stop("timeout")
        with pytest.raises(Stopped):
            future.result(timeout=10)
        assert running.error().sqlstate == "57014"
        assert pool.submit(sum, range(10)).result() == 45  # no stray exception left in the pooled thread


def test_a_stop_racing_the_end_of_planning_never_leaks_into_the_next_task():
    with ThreadPoolExecutor(2) as pool:
        for i in range(300):
            planner = Interruptible()
            future = pool.submit(planner.run, sum, range(i * 50))
            threading.Timer(0.0001 * (i % 7), planner.interrupt).start()
            try:
                future.result()
            except Stopped:
                pass
        time.sleep(0.05)
        assert all(f.result() == 4950 for f in [pool.submit(sum, range(100)) for _ in range(50)])


def test_the_registry_stops_everything_in_flight_once_with_the_first_reason():
    registry = Registry()
    cancelled: list[int] = []
    runs = [registry.running(lambda i=i: cancelled.append(i)) for i in range(3)]
    registry.discard(runs[2])
    assert registry.stop_all("memory") == 2
    runs[0].stop("timeout")  # too late: memory stopped it first
    deadline = time.monotonic() + 5
    while (runs[0].cancelling or runs[1].cancelling) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(cancelled) == [0, 1]
    assert [r.reason for r in runs] == ["memory", "memory", None]
    assert runs[0].error().sqlstate == "53200"
