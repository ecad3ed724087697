"""Error recovery in the extended protocol, byte for byte as PostgreSQL does it: the
same message sequences go to a real PostgreSQL 15 server and to the proxy, and the
replies must match, message type by message type, SQLSTATE by SQLSTATE (issue 8)."""
from __future__ import annotations

import struct

import pytest

from tests.integration.conftest import PASSWORDS
from tests.wire_client import (FLUSH, SYNC, RawClient, bind, describe, error_fields, execute, function_call, parse,
                               query)


@pytest.fixture
def clients(pg_demo, proxy):
    pg = RawClient(pg_demo.port, "postgres", "demo")
    ours = RawClient(proxy.port, "admin", "demo", PASSWORDS["admin"])
    yield pg, ours
    pg.close()
    ours.close()


def replies(client: RawClient, *frames: bytes) -> list[str]:
    """The reply to one batch ending in Sync (or a simple Query): type codes, errors with their SQLSTATE."""
    client.send(*frames)
    out = []
    for code, body in client.read_until_ready():
        if code in ("N", "S"):  # notices and parameter changes may differ
            continue
        out.append(f"E{error_fields(body)['C']}" if code == "E" else code)
    return out


def same(clients, *frames: bytes) -> list[str]:
    pg, ours = clients
    expected, got = replies(pg, *frames), replies(ours, *frames)
    assert got == expected, f"PostgreSQL answers {expected}, the proxy {got}"
    return got


def test_after_an_error_everything_up_to_sync_is_ignored_a_simple_query_too(clients):
    assert same(clients, parse("", "SELEC 1"), query("SELECT 1"), bind("", ""), execute(""), SYNC) == ["E42601", "Z"]
    assert same(clients, query("SELECT 1")) == ["T", "D", "C", "Z"]


def test_a_failed_parse_of_the_unnamed_statement_drops_the_previous_one(clients):
    assert same(clients, parse("", "SELECT 1"), SYNC) == ["1", "Z"]
    same(clients, parse("", "SELEC 1"), SYNC)
    assert same(clients, bind("", ""), execute(""), SYNC) == ["E26000", "Z"]


@pytest.mark.parametrize("cast,oid,value", [("int4", 23, b"\x00\x01\x02"), ("int4", 23, b"\x00" * 5),
                                            ("int8", 20, b"\x00" * 5), ("int8", 20, b"\x00" * 9),
                                            ("float8", 701, b"\x00" * 3), ("date", 1082, b"\x00"),
                                            ("text", 25, b"\xff\xfe"), ("bool", 16, b"\x05")])
def test_a_malformed_binary_parameter_is_an_error_and_the_session_goes_on(clients, cast, oid, value):
    """Too few bytes for the type: 08P01; bytes left over: 22P03; bad UTF-8: 22021 (PostgreSQL's answers)."""
    bad = bind("", "", (value,), (1,))
    same(clients, parse("", f"SELECT $1::{cast}", (oid,)), bad, execute(""), SYNC)
    assert same(clients, query("SELECT 1")) == ["T", "D", "C", "Z"]


def test_more_than_32767_parameters_is_an_ordinary_error(clients):
    many = bind("", "", (None,) * 40_000)
    assert same(clients, parse("", "SELECT 1"), many, execute(""), SYNC) == ["1", "E08P01", "Z"]
    assert same(clients, query("SELECT 1")) == ["T", "D", "C", "Z"]


def test_statement_then_describe_errors_skip_to_sync(clients):
    assert same(clients, describe("S", "nope"), parse("x", "SELECT 1"), SYNC) == ["E26000", "Z"]
    assert same(clients, parse("x", "SELECT 1"), describe("S", "x"), SYNC) == ["1", "t", "T", "Z"]


def test_a_function_call_is_answered_and_the_next_batch_runs(clients):
    """PostgreSQL runs the call (random(): a FunctionCallResponse); the proxy refuses it (0A000).
    Either way ReadyForQuery follows at once and the next batch is not dropped."""
    pg, ours = clients
    assert replies(pg, function_call())[-1] == "Z"
    assert replies(ours, function_call()) == ["E0A000", "Z"]
    assert same(clients, parse("", "SELECT 1"), bind("", ""), execute(""), SYNC) == ["1", "2", "D", "C", "Z"]


def test_pg_backend_pid_is_each_sessions_own(proxy):
    pids = []
    for _ in range(2):
        c = RawClient(proxy.port, "analyst", "demo", PASSWORDS["analyst"])
        key = next(body for code, body in c.startup_messages if code == "K")
        c.send(query("SELECT pg_backend_pid()"))
        row = next(body for code, body in c.read_until_ready() if code == "D")
        (length,) = struct.unpack_from("!i", row, 2)
        pids.append((struct.unpack_from("!i", key)[0], int(row[6:6 + length])))
        c.close()
    assert pids[0][0] != pids[1][0]
    assert all(key == pid for key, pid in pids), pids


def test_an_error_after_flush_reaches_the_client_before_any_sync(clients):
    """asyncpg sends Parse, Describe, Flush and waits: the error must come without a Sync."""
    for client in clients:
        client.send(parse("", "SELECT * FROM no_such_table"), describe("S", ""), FLUSH)
        got = client.read_for(2)
        assert [code for code, _ in got] == ["E"] and error_fields(got[0][1])["C"] == "42P01"
        client.send(SYNC)
        assert [code for code, _ in client.read_until_ready()] == ["Z"]
