"""SQL-level cursors (DECLARE / FETCH / MOVE / CLOSE), as psycopg's named cursors,
SQLAlchemy's stream_results and psql scripts use them."""
from __future__ import annotations

import duckdb
import psycopg
import pytest

from tests.integration.test_psql import psql


@pytest.fixture(scope="module")
def call_ids(demo_db) -> list[int]:
    con = duckdb.connect(str(demo_db), read_only=True)
    ids = [r[0] for r in con.execute("SELECT call_id FROM calls WHERE duration_s > 600 ORDER BY call_id").fetchall()]
    con.close()
    return ids


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_psycopg_named_cursor_streams_everything_in_batches(proxy, call_ids, binary):
    with psycopg.connect(proxy.dsn()) as conn:
        with conn.cursor(name="long_calls", binary=binary) as cur:
            cur.itersize = 500
            cur.execute("SELECT call_id, started_at FROM calls WHERE duration_s > %s ORDER BY call_id", (600,))
            first = cur.fetchmany(7)
            rest = cur.fetchall()
    ids = [r[0] for r in first + rest]
    assert ids == call_ids and len(first) == 7


def test_psycopg_scroll_and_missing_cursor_errors(proxy):
    with psycopg.connect(proxy.dsn()) as conn:
        with pytest.raises(psycopg.errors.InvalidCursorName):
            conn.execute("FETCH 5 FROM nowhere")
        conn.rollback()
        conn.execute("DECLARE c CURSOR FOR SELECT call_id FROM calls ORDER BY call_id")
        assert conn.execute("MOVE 10 IN c").statusmessage == "MOVE 10"
        assert conn.execute("FETCH 2 FROM c").fetchall() == [(11,), (12,)]
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("FETCH PRIOR FROM c")
        conn.rollback()
        with pytest.raises(psycopg.errors.InvalidCursorName):  # closed by the rollback
            conn.execute("FETCH 1 FROM c")


def test_declare_needs_a_transaction_unless_with_hold(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.NoActiveSqlTransaction):
            conn.execute("DECLARE c CURSOR FOR SELECT 1")
        conn.execute("DECLARE h CURSOR WITH HOLD FOR SELECT cell_id FROM cell_towers ORDER BY cell_id")
        assert len(conn.execute("FETCH ALL FROM h").fetchall()) > 100
        assert conn.execute("FETCH 1 FROM h").fetchall() == []
        assert conn.execute("CLOSE h").statusmessage == "CLOSE CURSOR"


def test_sqlalchemy_stream_results(proxy, call_ids):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(proxy.dsn().replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, max_row_buffer=100).execute(
                sqlalchemy.text("SELECT call_id FROM calls WHERE duration_s > :d ORDER BY call_id"), {"d": 600})
            assert [r[0] for r in result] == call_ids
    finally:
        engine.dispose()


def test_psql_script_with_a_cursor(proxy, tmp_path):
    script = tmp_path / "cursor.sql"
    script.write_text("BEGIN;\nDECLARE towers CURSOR FOR SELECT cell_id FROM cell_towers ORDER BY cell_id;\n"
                      "FETCH 2 FROM towers;\nFETCH NEXT FROM towers;\nCLOSE towers;\nCOMMIT;\n")
    out = psql(proxy, "-At", "-v", "ON_ERROR_STOP=1", "-f", str(script))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0] == "BEGIN" and lines[1] == "DECLARE" and lines[-1] == "COMMIT"
    ids = [int(x) for x in lines if x.isdigit()]
    assert ids == sorted(ids) and len(ids) == 3


def test_cursors_go_through_the_policy(proxy):
    with psycopg.connect(proxy.dsn("analyst")) as conn:
        conn.execute("DECLARE c CURSOR FOR SELECT email FROM customers")
        emails = [r[0] for r in conn.execute("FETCH 20 FROM c").fetchall()]
        assert emails and all("***@" in e for e in emails)
    with psycopg.connect(proxy.dsn("reporter")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DECLARE c CURSOR FOR SELECT annual_income FROM customers")


def test_binary_cursor_fetched_as_text_and_back(proxy):
    """A cursor may be FETCHed in another format than it was declared in."""
    with psycopg.connect(proxy.dsn()) as conn:
        conn.execute("DECLARE b BINARY CURSOR FOR SELECT call_id, started_at, cost FROM calls ORDER BY call_id")
        as_text = conn.cursor(binary=False).execute("FETCH 3 FROM b").fetchall()
        conn.execute("DECLARE t CURSOR FOR SELECT call_id, started_at, cost FROM calls ORDER BY call_id")
        as_binary = conn.cursor(binary=True).execute("FETCH 3 FROM t").fetchall()
    assert as_text == as_binary and len(as_text) == 3
