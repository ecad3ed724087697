"""The catalog statements real clients send (psql, pgAdmin, DBeaver, JDBC: the
duckgres corpus, MIT, in tests/data/client_queries): every one a real PostgreSQL 15
answers is answered for every role, over both backends, and no answer names
anything the role may not see."""
from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

CORPUS = yaml.safe_load((Path(__file__).parents[1] / "data" / "client_queries"
                         / "duckgres_client_compat_queries.yaml").read_text())
ROLES = ("admin", "analyst", "reporter", "partner", "dashboard")
# Names a restricted role's catalog must never show: a hidden column, DuckDB's own
# schemas and databases, the proxy's internal names, the backend's login.
HIDDEN = ("full_name", "anonproxy_reader", "__anonproxy", "duckdb", "'main'", "'temp'", "'system'")
# Answers that differ between any two sessions, on PostgreSQL too: compared by shape.
PER_SESSION = {"pg_backend_pid", "txid_current"}


def _answer(dsn: str, sql: str) -> list[tuple] | psycopg.Error:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        try:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            return exc


@pytest.fixture(scope="module")
def answered_by_postgres(pg_demo) -> set[str]:
    """The corpus statements PostgreSQL 15 itself answers, asked as an ordinary login
    of the demo database (as the proxy's users are)."""
    dsn = pg_demo.dsn("anonproxy_reader", "demo")
    return {q["name"] for q in CORPUS if not isinstance(_answer(dsn, q["sql"]), psycopg.Error)}


@pytest.fixture(params=["proxy", "pg_proxy"])
def server(request):
    return request.getfixturevalue(request.param)


def test_postgres_answers_most_of_the_corpus(answered_by_postgres):
    assert len(answered_by_postgres) >= 90, sorted(q["name"] for q in CORPUS if q["name"] not in answered_by_postgres)


@pytest.mark.parametrize("user", ROLES)
def test_every_statement_postgres_answers_is_answered(server, user, answered_by_postgres):
    failures = {}
    for query in CORPUS:
        if query["name"] in answered_by_postgres:
            answer = _answer(server.dsn(user), query["sql"])
            if isinstance(answer, psycopg.Error):
                failures[query["name"]] = f"{answer.sqlstate}: {answer}"
    assert not failures, failures


@pytest.mark.parametrize("user", ROLES[1:])
def test_no_answer_names_what_the_role_may_not_see(server, user):
    leaks = {}
    for query in CORPUS:
        answer = _answer(server.dsn(user), query["sql"])
        text = str(answer).lower()
        found = [name for name in HIDDEN if name in text]
        if user == "partner":  # it sees cell_towers only ("calls" is also a column of pg_stat_user_functions)
            found += [name for name in ("customers", "customer_id") if name in text]
        if found:
            leaks[query["name"]] = found
    assert not leaks, leaks


def test_both_backends_give_the_same_catalog_answers(proxy, pg_proxy):
    differ = {}
    for user in ROLES:
        for query in CORPUS:
            duck, pg = _answer(proxy.dsn(user), query["sql"]), _answer(pg_proxy.dsn(user), query["sql"])
            if query["name"] in PER_SESSION or isinstance(duck, psycopg.Error) or isinstance(pg, psycopg.Error):
                duck, pg = _shape(duck), _shape(pg)
            if duck != pg:
                differ[(user, query["name"])] = (str(duck)[:200], str(pg)[:200])
    assert not differ, differ


def _shape(answer: list[tuple] | psycopg.Error) -> str:
    if isinstance(answer, psycopg.Error):
        return type(answer).__name__
    return f"{len(answer)} rows of {[type(v).__name__ for v in answer[0]] if answer else []}"
