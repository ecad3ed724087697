"""node-pg (npm `pg`) and postgres.js (npm `postgres`), with default settings, as every
role: connect (postgres.js asks pg_type for the array types first), bind a JS Date,
decode an int4[] and list exactly the visible tables and columns from information_schema.

Each client runs as `node tests/clients/node/<client>.mjs URL STEPS` and prints one JSON
report; the packages come from tests/clients/node/package-lock.json (`make install-test`
runs `npm ci` there when npm exists). Without node or the packages these tests skip.

The reference for "what the role receives" is the data path, not the catalog: psycopg's
cursor.description of `SELECT * FROM t LIMIT 0` (for the aggregate-only role, which may
not read rows of private tables, one grouped probe per column)."""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.integration.visible_schema import TABLES, USERS, information_schema_columns, visible_columns

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
CLIENTS = {"pg": "pg.mjs", "postgres": "postgres.mjs"}
SINCE = "2020-01-01"


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "no `node` binary on PATH (Node.js 18+ runs the node-pg and postgres.js tests)"
    absent = [p for p in ("pg", "postgres") if not (NODE_DIR / "node_modules" / p / "package.json").exists()]
    if absent:
        return f"npm packages {absent} not installed: run `npm ci --prefix {NODE_DIR}` (part of `make install-test`)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


@pytest.fixture(params=["proxy", "pg_proxy"])
def server(request):
    return request.getfixturevalue(request.param)


def visible_schema(server, user: str) -> dict[str, list[tuple[str, str]]]:
    """{table: [(column, type name)]} as the role receives them through the proxy."""
    return visible_columns(server, user)


def steps_for(user: str) -> list[dict]:
    steps = [
        {"name": "whoami", "sql": "SELECT current_user AS u"},
        {"name": "tables", "sql": "SELECT table_name FROM information_schema.tables "
                                  "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"},
        {"name": "columns", "sql": "SELECT table_name, column_name, data_type FROM information_schema.columns "
                                   "WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
         "params": ["public"]},
        {"name": "array", "sql": "SELECT ARRAY[1,2,3] AS a, '{4,5}'::int[] AS b"},
        {"name": "date_echo", "sql": "SELECT $1::date AS d", "params": [{"date": SINCE}]},
        {"name": "after_all", "sql": "SELECT 1 AS one"},
    ]
    if user != "partner":
        steps.insert(-1, {"name": "date_filter", "sql": "SELECT count(*) AS n FROM customers WHERE signup_date >= $1",
                          "params": [{"date": SINCE}]})
    return steps


@functools.lru_cache(maxsize=None)
def _report(client: str, url: str, user: str) -> dict:
    # TZ=UTC: node-pg sends a Date in local time ('2020-01-01T00:00:00.000+00:00' here).
    env = {**os.environ, "TZ": "UTC"}
    result = subprocess.run(["node", CLIENTS[client], url, json.dumps(steps_for(user))], cwd=NODE_DIR, env=env,
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def report(client: str, server, user: str) -> dict:
    got = _report(client, server.dsn(user), user)
    assert got["connect"] == {"ok": True}, got["connect"]
    return got


def step(got: dict, name: str) -> dict:
    result = got["steps"][name]
    assert result["ok"], f"{name}: {result}"
    return result


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_connects_with_defaults(server, client, user):
    got = report(client, server, user)
    assert step(got, "whoami")["rows"] == [{"u": user}]
    assert step(got, "after_all")["rows"] == [{"one": 1}]  # nothing before broke the session


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_lists_exactly_the_visible_tables(server, client, user):
    rows = step(report(client, server, user), "tables")["rows"]
    assert [r["table_name"] for r in rows] == TABLES[user]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_lists_the_columns_the_role_receives(server, client, user):
    rows = [(r["table_name"], r["column_name"], r["data_type"])
            for r in step(report(client, server, user), "columns")["rows"]]
    assert rows == information_schema_columns(server, user)
    names = {(t, c) for t, c, _ in rows}
    if user != "partner":
        assert (("customers", "full_name") in names) == (user == "admin")


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_integer_array_decodes(server, client, user):
    result = step(report(client, server, user), "array")
    assert result["rows"] == [{"a": [1, 2, 3], "b": [4, 5]}]
    assert [f["type"] for f in result["fields"]] == [1007, 1007]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_date_parameter(server, client, user):
    """A JS Date bound to a date: node-pg sends it as text with a UTC offset,
    '2020-01-01T00:00:00.000+00:00', which PostgreSQL's date input accepts."""
    got = report(client, server, user)
    assert step(got, "date_echo")["rows"] == [{"d": f"{SINCE}T00:00:00.000Z"}]
    if user == "partner":
        return
    with psycopg.connect(server.dsn(user)) as ref:
        expected = ref.execute("SELECT count(*) FROM customers WHERE signup_date >= %s",
                               (dt.date.fromisoformat(SINCE),)).fetchone()[0]
    assert step(got, "date_filter")["rows"] == [{"n": str(expected)}]  # int8 arrives as a string in both clients
