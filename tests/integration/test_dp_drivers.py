"""The dp login through every driver the other roles are tested with (pgJDBC, node-pg,
postgres.js, psqlODBC, SQLAlchemy with its default driver, pg8000; psycopg and asyncpg are in
test_dp.py), on both backends: a released count with a date parameter (pgJDBC also
through its named server-side statement), a grouped release over a public domain, the
notice where the driver shows notices, a row-level statement refused with 42501, and
the session going on after it. The drivers share a proxy per backend, so a statement
one driver asked first is answered to the next from the ledger, as it would be. Answers are noisy, so each is checked against the raw
data within five times its stated 95% error (a false failure about once in 10^7).

These proxies have a budget of their own, large enough for every release here."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from proxy.dp.plan import geometric_bound
from tests.integration.conftest import PASSWORDS, ProxyServer, start_proxy, stop_proxy, write_config
from tests.integration.test_client_jdbc import JAR
from tests.integration.test_client_node import CLIENTS, NODE_DIR, _missing as node_missing
from tests.integration.test_client_odbc import driver_path
from tests.integration.test_dp import with_budget

REGIONS = ["Central", "Coast", "East", "Mountain", "North", "South"]
SINCE = dt.date(2020, 1, 1)
COUNT = "SELECT count(*) AS n FROM customers WHERE signup_date >= {p}"
GROUPED = ("SELECT region, count(*) AS n, avg(annual_income) AS income FROM customers "
           "GROUP BY region ORDER BY region")
ROW_LEVEL = "SELECT full_name FROM customers"
EPSILON = 0.5  # the demo role's default per statement
COUNT_SLACK = 5 * geometric_bound(EPSILON, 1)  # one quantity
GROUPED_SLACK = 5 * geometric_bound(EPSILON / 3, 1)  # count(*), and avg's sum and count


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def dp_server(request, tmp_path_factory, demo_db):
    db = demo_db if request.param == "duckdb" else request.getfixturevalue("pg_demo").dsn("anonproxy_reader", "demo")
    config = with_budget(write_config(tmp_path_factory.mktemp("dp-drivers"), db), 1000)
    process, port = start_proxy(config)
    yield ProxyServer("127.0.0.1", port, "demo", process, demo_db)
    stop_proxy(process)


@pytest.fixture(scope="module")
def truth(demo_db):
    con = duckdb.connect(str(demo_db), read_only=True)
    yield con
    con.close()


def true_count(truth, since: dt.date) -> int:
    return truth.execute("SELECT count(*) FROM customers WHERE signup_date >= ?", [since]).fetchone()[0]


def check_grouped(truth, rows: list[tuple]) -> None:
    """region, n, income rows: every region of the public domain, counts near the truth."""
    exact = dict(truth.execute("SELECT region, count(*) FROM customers GROUP BY region").fetchall())
    assert [r[0] for r in rows] == REGIONS
    for region, n, income in rows:
        assert abs(int(n) - exact.get(region, 0)) <= GROUPED_SLACK, (region, n, exact.get(region))
        assert 0 <= float(income) <= 300_000  # the column's bounds: a released average stays within them


# --- pgJDBC ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dp_probe(tmp_path_factory) -> Path:
    missing = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no {' or '.join(missing)} for the pgJDBC tests (Debian: default-jdk-headless)")
    if not JAR.exists():
        pytest.skip(f"no pgJDBC jar at {JAR} (Debian: libpostgresql-jdbc-java; or set PGJDBC_JAR)")
    out = tmp_path_factory.mktemp("dp-jdbc")
    source = Path(__file__).resolve().parents[1] / "clients" / "jdbc" / "DpProbe.java"
    done = subprocess.run(["javac", "-cp", str(JAR), "-d", str(out), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def test_pgjdbc(dp_server, dp_probe, truth):
    url = f"jdbc:postgresql://{dp_server.host}:{dp_server.port}/{dp_server.database}"
    done = subprocess.run(["java", "-cp", f"{JAR}{os.pathsep}{dp_probe}", "DpProbe", url, "dashboard",
                           PASSWORDS["dashboard"], GROUPED], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "DONE", done.stdout + done.stderr
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    counts = [(int(i), int(n)) for tag, i, n in (l for l in lines if l[0] == "COUNT")]
    assert [i for i, _ in counts] == list(range(6))  # the named server-side statement answered too
    for i, n in counts:
        assert abs(n - true_count(truth, SINCE + dt.timedelta(days=i))) <= COUNT_SLACK, (i, n)
    notices = [l[2] for l in lines if l[0] == "NOTICE"]
    # "DP: epsilon 0.5 spent; ..." or, for a statement another driver asked first, "DP: the answer released at ..."
    assert len(notices) == 6 and all(n.startswith("DP: ") and "95% error: count(*) ±" in n for n in notices), notices
    check_grouped(truth, [(k, n, a) for _, k, n, a in (l for l in lines if l[0] == "GROUP")])
    assert ["REFUSED", "42501"] in lines and ["AFTER", "1"] in lines


# --- node-pg and postgres.js -------------------------------------------------------------

@pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")
@pytest.mark.parametrize("client", CLIENTS)
def test_node_clients(dp_server, truth, client):
    steps = [{"name": "count", "sql": COUNT.format(p="$1"), "params": [{"date": SINCE.isoformat()}]},
             {"name": "grouped", "sql": GROUPED},
             {"name": "row_level", "sql": ROW_LEVEL},
             {"name": "after", "sql": "SELECT 1 AS one"}]
    done = subprocess.run(["node", CLIENTS[client], dp_server.dsn("dashboard"), json.dumps(steps)], cwd=NODE_DIR,
                          env={**os.environ, "TZ": "UTC"}, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["connect"] == {"ok": True}, got["connect"]
    result = got["steps"]
    assert result["count"]["ok"], result["count"]
    [row] = result["count"]["rows"]
    assert abs(int(row["n"]) - true_count(truth, SINCE)) <= COUNT_SLACK, row
    assert result["grouped"]["ok"], result["grouped"]
    check_grouped(truth, [(r["region"], r["n"], r["income"]) for r in result["grouped"]["rows"]])
    assert (result["row_level"]["ok"], result["row_level"]["code"]) == (False, "42501"), result["row_level"]
    assert result["after"]["rows"] == [{"one": 1}]


# --- psqlODBC ------------------------------------------------------------------------------

def test_psqlodbc(dp_server, truth):
    pyodbc = pytest.importorskip("pyodbc", reason="pyodbc is not installed (pip install pyodbc; needs unixodbc)")
    driver = driver_path()
    if driver is None:
        pytest.skip("no psqlODBC driver psqlodbcw.so (Debian: odbc-postgresql; or set PSQLODBC_DRIVER)")
    conn = pyodbc.connect(f"DRIVER={driver};SERVER={dp_server.host};PORT={dp_server.port};"
                          f"DATABASE={dp_server.database};UID=dashboard;PWD={PASSWORDS['dashboard']};sslmode=disable",
                          timeout=30)
    try:
        cursor = conn.cursor()
        [(n,)] = cursor.execute(COUNT.format(p="?"), SINCE).fetchall()
        assert abs(n - true_count(truth, SINCE)) <= COUNT_SLACK, n
        check_grouped(truth, [tuple(r) for r in cursor.execute(GROUPED).fetchall()])
        with pytest.raises(pyodbc.Error) as caught:
            cursor.execute(ROW_LEVEL).fetchall()
        assert caught.value.args[0] == "42501", caught.value.args
        assert cursor.execute("SELECT 1").fetchall()[0][0] == 1
    finally:
        conn.close()


# --- SQLAlchemy (its default driver) and pg8000 -------------------------------------

def test_sqlalchemy(dp_server, truth):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(dp_server.dsn("dashboard"))
    try:
        with engine.connect() as conn:
            n = conn.execute(sqlalchemy.text(COUNT.format(p=":since")), {"since": SINCE}).scalar_one()
            assert abs(n - true_count(truth, SINCE)) <= COUNT_SLACK, n
            check_grouped(truth, [tuple(r) for r in conn.execute(sqlalchemy.text(GROUPED))])
            with pytest.raises(sqlalchemy.exc.ProgrammingError) as caught:
                conn.execute(sqlalchemy.text(ROW_LEVEL))
            orig = caught.value.orig  # psycopg (SQLAlchemy 2.1's default) names it sqlstate, psycopg2 pgcode
            assert (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) == "42501"
            conn.rollback()
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_pg8000(dp_server, truth):
    pg8000 = pytest.importorskip("pg8000")
    conn = pg8000.connect(user="dashboard", password=PASSWORDS["dashboard"], host=dp_server.host,
                          port=dp_server.port, database=dp_server.database)
    try:
        cur = conn.cursor()
        cur.execute(COUNT.format(p="%s"), (SINCE,))
        [(n,)] = cur.fetchall()
        assert abs(n - true_count(truth, SINCE)) <= COUNT_SLACK, n
        assert any(notice.get(b"M", b"").startswith(b"DP: ") for notice in conn.notices), conn.notices
        cur.execute(GROUPED)
        check_grouped(truth, [tuple(r) for r in cur.fetchall()])
        with pytest.raises(pg8000.dbapi.DatabaseError) as caught:
            cur.execute(ROW_LEVEL)
        assert caught.value.args[0]["C"] == "42501"
        conn.rollback()
        cur.execute("SELECT 1")
        assert cur.fetchone()[0] == 1
    finally:
        conn.close()
