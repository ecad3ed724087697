"""Extended query protocol details, driven through libpq's own calls (psycopg.pq),
so each message sequence is exactly what a real driver sends."""
from __future__ import annotations

import asyncio

import psycopg
from psycopg import pq


def test_named_statement_describe_bind_execute_close(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        pg = conn.pgconn
        res = pg.prepare(b"by_city", b"SELECT cell_id, lat FROM cell_towers WHERE city = $1 ORDER BY cell_id")
        assert res.status == pq.ExecStatus.COMMAND_OK
        desc = pg.describe_prepared(b"by_city")
        assert desc.nparams == 1 and desc.param_type(0) == 25  # inferred from the text column
        assert [desc.fname(i) for i in range(desc.nfields)] == [b"cell_id", b"lat"]
        assert [desc.ftype(i) for i in range(desc.nfields)] == [23, 701]
        res = pg.exec_prepared(b"by_city", [b"Riverton"], result_format=1)  # binary results
        assert res.status == pq.ExecStatus.TUPLES_OK and res.ntuples > 0
        assert len(res.get_value(0, 0)) == 4 and len(res.get_value(0, 1)) == 8
        pg.exec_(b"DEALLOCATE by_city")
        res = pg.describe_prepared(b"by_city")
        assert res.status == pq.ExecStatus.FATAL_ERROR
        assert res.error_field(pq.DiagnosticField.SQLSTATE) == b"26000"


def test_portal_row_limits_and_suspension(proxy):
    """asyncpg's cursors send Execute with a row limit and expect PortalSuspended."""
    import asyncpg

    async def walk(prefetch: int) -> list[int]:
        conn = await asyncpg.connect(proxy.dsn())
        try:
            async with conn.transaction():
                cur = conn.cursor("SELECT call_id FROM calls ORDER BY call_id LIMIT 30", prefetch=prefetch)
                return [r[0] async for r in cur]
        finally:
            await conn.close()

    for prefetch in (1, 7, 30, 31):
        assert asyncio.run(walk(prefetch)) == list(range(1, 31))


def test_parameter_errors_are_sqlstate_errors_and_session_continues(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        pg = conn.pgconn
        pg.prepare(b"p", b"SELECT $1::int + 1")
        res = pg.exec_prepared(b"p", [b"not a number"])
        assert res.status == pq.ExecStatus.FATAL_ERROR
        assert res.error_field(pq.DiagnosticField.SQLSTATE) == b"22P02"
        res = pg.exec_prepared(b"p", [b"41"])
        assert res.get_value(0, 0) == b"42"
        res = pg.prepare(b"two", b"SELECT 1; SELECT 2")
        assert res.error_field(pq.DiagnosticField.SQLSTATE) == b"42601"
