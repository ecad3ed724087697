"""Bounded work (DESIGN.md section 3, principle 6), against a real server on both
backends: the role's statement timeout (57014), the memory guard (53200), and
statement size and nesting limits (54001); each failure stays in its own
statement, and everyone else is served meanwhile."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import psycopg
import pytest

from tests.integration.conftest import ProxyServer, start_proxy, stop_proxy, write_config

# Minutes of work on either backend unless stopped: a cross product of calls
# with itself, filtered by a hash no statistic can prune.
SLOW = "SELECT count(*) FROM calls a, calls b WHERE md5(a.call_id::text || b.call_id::text) = 'x'"
# What aggregate mode accepts: no functions over private values in a condition.
SLOW_AGGREGATE = "SELECT count(*) FROM calls a, calls b WHERE a.duration_s > 0"
# The same cross product, sent row by row: the timeout must also stop streaming.
STREAMING = "SELECT a.call_id FROM calls a, calls b"
TIMEOUTS = {"analyst": {"statement_timeout": "2s"}, "reporter": {"statement_timeout": "2s"},
            "admin": {"statement_timeout": "30s"}}
TIMEOUT_S = 2.0
SLACK_S = 3.0  # how late a timeout may be reported: a PostgreSQL cancel is a round trip


def _backend_db(request, demo_db) -> Path | str:
    if request.param == "postgres":
        return request.getfixturevalue("pg_demo").dsn("anonproxy_reader", "demo")
    return demo_db


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def limited(request, tmp_path_factory, demo_db) -> ProxyServer:
    """The demo roles with short statement timeouts, on each backend."""
    db = _backend_db(request, demo_db)
    config = write_config(tmp_path_factory.mktemp("limited"), db, role_settings=TIMEOUTS)
    process, port = start_proxy(config)
    yield ProxyServer("127.0.0.1", port, "demo", process, Path(str(db)))
    stop_proxy(process)


def _memory_config(directory: Path, db: Path | str, max_memory: str) -> Path:
    config = write_config(directory, db, extra=f"limits: {{max_memory: {max_memory}}}\n",
                          role_settings={"analyst": {"statement_timeout": "60s"}, "admin": {"statement_timeout": "60s"}})
    if isinstance(db, Path):  # DuckDB's own buffer limit must sit below the process's
        text = config.read_text().replace(f'path: "{db}"}}', f'path: "{db}", memory_limit: 256MB}}')
        config.write_text(text)
    return config


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def guarded(request, tmp_path_factory, demo_db) -> ProxyServer:
    """A proxy whose whole process may use only 768 MB."""
    db = _backend_db(request, demo_db)
    process, port = start_proxy(_memory_config(tmp_path_factory.mktemp("guarded"), db, "768MB"))
    yield ProxyServer("127.0.0.1", port, "demo", process, Path(str(db)))
    stop_proxy(process)


def _fails(conn: psycopg.Connection, sql: str, params: tuple = ()) -> tuple[psycopg.Error, float]:
    started = time.monotonic()
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql, params or None)
    return info.value, time.monotonic() - started


def _is_timeout(error: psycopg.Error) -> bool:
    return error.sqlstate == "57014" and "canceling statement due to statement timeout" in str(error)


# --- statement timeout --------------------------------------------------------

def test_the_roles_timeout_is_the_sessions_default(limited):
    with psycopg.connect(limited.dsn("analyst"), autocommit=True) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("2s",)
        assert conn.execute("SELECT current_setting('statement_timeout')").fetchone() == ("2s",)
    with psycopg.connect(limited.dsn("admin"), autocommit=True) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)


@pytest.mark.parametrize("user", ["analyst", "reporter"])
def test_a_slow_statement_gets_57014_after_the_roles_timeout_and_the_session_goes_on(limited, user):
    with psycopg.connect(limited.dsn(user), autocommit=True) as conn:
        error, took = _fails(conn, SLOW if user == "analyst" else SLOW_AGGREGATE)
        assert _is_timeout(error), error
        assert TIMEOUT_S <= took < TIMEOUT_S + SLACK_S
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_timeout_stops_rows_while_they_stream(limited):
    with psycopg.connect(limited.dsn("analyst"), autocommit=True) as conn:
        started, rows = time.monotonic(), 0
        with pytest.raises(psycopg.Error) as info:
            for _ in conn.cursor().stream(STREAMING):  # single-row mode: rows arrive as they are sent
                rows += 1
        assert _is_timeout(info.value), info.value
        assert rows > 0  # it was stopped while streaming, not before
        assert time.monotonic() - started < TIMEOUT_S + SLACK_S
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_a_cancel_while_rows_stream_is_an_error_not_a_short_result(limited):
    """DuckDB ends an interrupted fetch with no rows rather than an error; the
    client must still learn that its result was cut."""
    with psycopg.connect(limited.dsn("admin"), autocommit=True) as conn:
        timer = threading.Timer(0.2, conn.cancel_safe)  # started once rows flow, not on a clock
        rows = 0
        with pytest.raises(psycopg.errors.QueryCanceled) as info:
            for _ in conn.cursor().stream(STREAMING):
                rows += 1
                if rows == 1:
                    timer.start()
        timer.join()
        assert "canceling statement due to user request" in str(info.value)
        assert rows > 0
        assert conn.execute("SELECT 4").fetchone() == (4,)


def test_the_timeout_covers_the_extended_protocol_and_sql_cursors(limited):
    with psycopg.connect(limited.dsn("analyst")) as conn:  # a transaction: psycopg sends BEGIN
        error, took = _fails(conn, SLOW + " AND a.call_id > %s", (0,))  # Parse/Bind/Execute
        assert _is_timeout(error) and took < TIMEOUT_S + SLACK_S
        conn.rollback()
        with conn.cursor("big") as cursor:  # DECLARE ... ; FETCH, each under the timeout
            cursor.execute(STREAMING)
            with pytest.raises(psycopg.Error) as info:
                cursor.fetchmany(50_000_000)
        assert _is_timeout(info.value), info.value
        conn.rollback()
        assert conn.execute("SELECT 3").fetchone() == (3,)


def test_a_timeout_inside_a_transaction_fails_it_as_postgresql_does(limited):
    with psycopg.connect(limited.dsn("analyst"), autocommit=True) as conn:
        conn.execute("BEGIN")
        error, _ = _fails(conn, SLOW)
        assert _is_timeout(error)
        error, _ = _fails(conn, "SELECT 1")
        assert error.sqlstate == "25P02"  # current transaction is aborted
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_set_statement_timeout_lower_works_higher_is_refused(limited):
    with psycopg.connect(limited.dsn("analyst"), autocommit=True) as conn:
        conn.execute("SET statement_timeout = 500")
        assert conn.execute("SHOW statement_timeout").fetchone() == ("500ms",)
        error, took = _fails(conn, SLOW)
        assert _is_timeout(error) and 0.5 <= took < 0.5 + SLACK_S
        for value in ("'1h'", "0", "'3s'"):
            error, _ = _fails(conn, f"SET statement_timeout = {value}")
            assert error.sqlstate == "42501", error
            assert error.diag.message_primary.startswith('permission denied to set parameter "statement_timeout"')
            assert "at most 2s" in (error.diag.message_detail or "")
        error, _ = _fails(conn, "SET statement_timeout = 'soon'")
        assert error.sqlstate == "22023"
        assert conn.execute("SHOW statement_timeout").fetchone() == ("500ms",)  # refusals change nothing
        conn.execute("RESET statement_timeout")
        assert conn.execute("SHOW statement_timeout").fetchone() == ("2s",)


def test_a_runaway_statement_does_not_stall_other_sessions(limited):
    """While one session runs minutes of work, another logs in and is answered at once."""
    runaway = psycopg.connect(limited.dsn("admin"), autocommit=True)  # 30 s timeout
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            runaway.execute(SLOW)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        time.sleep(0.5)
        for _ in range(5):
            started = time.monotonic()
            with psycopg.connect(limited.dsn("analyst"), autocommit=True, connect_timeout=10) as other:
                assert other.execute("SELECT count(*) FROM cell_towers").fetchone()[0] > 0
            assert time.monotonic() - started < 2.0
        assert thread.is_alive()  # the runaway was running all along
    finally:
        runaway.cancel_safe()
        thread.join(30)
        runaway.close()
    assert outcome and getattr(outcome[0], "sqlstate", None) == "57014"


def test_planning_counts_against_the_timeout_and_never_stalls_the_server(limited):
    """A 1 MB IN list takes sqlglot many seconds to plan; planning runs in a
    worker thread, is stopped at the timeout, and others are served meanwhile."""
    huge = "SELECT count(*) FROM calls WHERE call_id IN (" + ",".join(["1"] * 500_000) + ")"
    assert len(huge) < 1 << 20
    done: list[tuple[psycopg.Error, float]] = []

    def run() -> None:
        with psycopg.connect(limited.dsn("analyst"), autocommit=True) as conn:
            done.append(_fails(conn, huge))
            assert conn.execute("SELECT 1").fetchone() == (1,)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    with psycopg.connect(limited.dsn("reporter"), autocommit=True) as other:
        started = time.monotonic()
        assert other.execute("SELECT count(*) FROM cell_towers").fetchone()[0] > 0
        assert time.monotonic() - started < 1.5
    thread.join(60)
    [(error, took)] = done
    assert _is_timeout(error), error
    assert took < TIMEOUT_S + SLACK_S


# --- statement size and nesting ---------------------------------------------

@pytest.fixture(params=["proxy", "pg_proxy"])
def any_proxy(request) -> ProxyServer:
    return request.getfixturevalue(request.param)


def test_3000_nested_parentheses_get_54001_and_the_session_goes_on(any_proxy):
    with psycopg.connect(any_proxy.dsn("analyst"), autocommit=True) as conn:
        error, took = _fails(conn, "SELECT " + "(" * 3000 + "1" + ")" * 3000)
        assert error.sqlstate == "54001"
        assert error.diag.message_primary == "statement is too complex"
        assert "limits.max_nesting_depth" in (error.diag.message_hint or "")
        assert took < 2
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_nesting_up_to_the_limit_runs(any_proxy):
    with psycopg.connect(any_proxy.dsn("analyst"), autocommit=True) as conn:
        assert conn.execute("SELECT " + "(" * 200 + "41 + 1" + ")" * 200).fetchone() == (42,)
        sub = "SELECT count(*) FROM " + "(SELECT * FROM " * 150 + "cell_towers" + ") AS t" * 150
        assert conn.execute(sub).fetchone()[0] > 0
        cases = "SELECT " + "CASE WHEN true THEN " * 150 + "7" + " END" * 150
        assert conn.execute(cases).fetchone() == (7,)


def test_nesting_that_sends_the_parser_into_backtracking_gets_54001_at_once(any_proxy):
    with psycopg.connect(any_proxy.dsn("analyst"), autocommit=True) as conn:
        for sql in ("SELECT " + "ARRAY[" * 25 + "1" + "]" * 25, "SELECT " + "int(" * 25 + "1" + ")" * 25):
            error, took = _fails(conn, sql)  # unchecked, sqlglot would take hours
            assert error.sqlstate == "54001" and took < 2, error
        assert conn.execute("SELECT ARRAY[ARRAY[1, 2], ARRAY[3, 4]]").fetchone() is not None


def test_deep_nesting_in_a_prepared_statement_gets_54001(any_proxy):
    with psycopg.connect(any_proxy.dsn("analyst"), autocommit=True) as conn:
        error, _ = _fails(conn, "SELECT " + "(" * 3000 + "%s::int" + ")" * 3000, (1,))  # Parse
        assert error.sqlstate == "54001"
        assert conn.execute("SELECT %s::int", (5,)).fetchone() == (5,)


def test_an_over_long_statement_gets_54001(any_proxy):
    with psycopg.connect(any_proxy.dsn("analyst"), autocommit=True) as conn:
        error, took = _fails(conn, "SELECT '" + "x" * (1 << 20) + "'")
        assert error.sqlstate == "54001"
        assert error.diag.message_primary == "statement is too long"
        assert "limits.max_statement_length" in (error.diag.message_hint or "")
        assert took < 2
        assert conn.execute("SELECT 1").fetchone() == (1,)


# --- memory -------------------------------------------------------------------

class PeakMemory:
    """Samples a process's resident set from outside, as the kernel sees it."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                resident = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
            except OSError:
                return
            self.peak = max(self.peak, resident * 4096)
            time.sleep(0.01)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# Strings built row by row: DuckDB's memory_limit does not bound them, and a
# FETCH of such rows is held by the proxy until it is whole.
HUNGRY = {"duckdb": "SELECT max(length(repeat(city, 10000000))) FROM customers",
          "postgres": "SELECT repeat(city, 30000000) FROM cell_towers"}


LIMIT_BYTES = 768 << 20


def resident(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * 4096


def wait_for_memory_back(pid: int, timeout: float = 30) -> float:
    """Seconds until the process is back under the limit: freed memory returns
    to the system in the background, and until then the guard refuses work."""
    started = time.monotonic()
    while resident(pid) > LIMIT_BYTES * 9 // 10:
        assert time.monotonic() - started < timeout, f"still {resident(pid) >> 20} MB after {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_memory_hungry_statement_gets_53200_and_the_server_stays_up(guarded, request):
    backend = request.node.callspec.params["guarded"]
    with psycopg.connect(guarded.dsn("analyst"), autocommit=True) as conn:
        with PeakMemory(guarded.process.pid) as memory:
            error, took = _fails(conn, HUNGRY[backend])
        assert error.sqlstate == "53200", error
        assert error.diag.message_primary == "out of memory"
        assert "limits.max_memory" in (error.diag.message_detail or "")
        assert took < 30
        assert guarded.alive()
        # Without the guard the DuckDB statement grows the process past 8 GB; with
        # it, the overshoot past 768 MB is the allocations in flight when it acted.
        assert memory.peak < 4 << 30, f"peak {memory.peak >> 20} MB"
        wait_for_memory_back(guarded.process.pid)
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the same session goes on
    with psycopg.connect(guarded.dsn("admin"), autocommit=True, connect_timeout=10) as fresh:  # a new login
        assert fresh.execute("SELECT count(*) FROM cell_towers").fetchone()[0] > 0


def test_repeated_attacks_leave_the_server_serving(guarded, request):
    """Memory comes back after each attack, so attacks cannot ratchet the process up."""
    backend = request.node.callspec.params["guarded"]
    with psycopg.connect(guarded.dsn("analyst"), autocommit=True) as conn:
        for _ in range(3):
            error, _ = _fails(conn, HUNGRY[backend])
            assert error.sqlstate == "53200"
            wait_for_memory_back(guarded.process.pid)
            assert conn.execute("SELECT count(*) FROM cell_towers").fetchone()[0] > 0
    assert guarded.alive()


# --- DuckDB spilling ------------------------------------------------------------

# Ten million groups: more hash table than 100 MB holds.
GROUPS = ("SELECT count(*) FROM (SELECT a.call_id * 1000 + b.call_id AS k, count(*) FROM calls a, "
          "(SELECT call_id FROM calls ORDER BY call_id LIMIT 50) b GROUP BY k) AS g")


@pytest.fixture(scope="module")
def small_duckdb(tmp_path_factory, demo_db):
    """DuckDB with a 100 MB buffer limit, without and with a temp directory to spill to."""
    servers = []
    for spill in (False, True):
        directory = tmp_path_factory.mktemp("spill")
        extra = f', memory_limit: 100MB, temp_directory: "{directory}"' if spill else ", memory_limit: 100MB"
        config = write_config(directory, demo_db, extra="limits: {max_memory: 0}\n")
        config.write_text(config.read_text().replace(f'path: "{demo_db}"}}', f'path: "{demo_db}"{extra}}}'))
        process, port = start_proxy(config)
        servers.append(ProxyServer("127.0.0.1", port, "demo", process, demo_db))
    yield servers
    for server in servers:
        stop_proxy(server.process)


def test_without_a_temp_directory_duckdb_does_not_spill_and_says_out_of_memory(small_duckdb):
    no_spill, spill = small_duckdb
    with psycopg.connect(no_spill.dsn("admin"), autocommit=True) as conn:
        error, _ = _fails(conn, GROUPS)
        assert error.sqlstate == "53200" and error.diag.message_primary == "out of memory"
        assert "backend.memory_limit" in (error.diag.message_detail or "")
        assert "DuckDB" not in str(error) and "temp" not in str(error).lower()  # PostgreSQL's words only
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with duckdb.connect(str(spill.db_path), read_only=True) as direct:  # no limits: the expected answer
        expected = direct.execute(GROUPS).fetchone()
    with psycopg.connect(spill.dsn("admin"), autocommit=True) as conn:
        assert conn.execute(GROUPS).fetchone() == expected
