"""Many clients at once, cancel, and bad bytes: each failure stays in its own connection."""
from __future__ import annotations

import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from proxy.wire import messages as m

# A cross product of calls with itself, filtered by a hash no statistic can prune:
# minutes of work unless cancelled.
SLOW = "SELECT count(*) FROM calls a, calls b WHERE md5(a.call_id::text || b.call_id::text) = 'x'"


def still_serving(proxy) -> None:
    with psycopg.connect(proxy.dsn(), connect_timeout=10) as conn:
        assert conn.execute("SELECT count(*) FROM cell_towers").fetchone()[0] > 0
    assert proxy.alive()


def test_fifty_concurrent_connections(proxy):
    def work(i: int) -> tuple[int, int]:
        with psycopg.connect(proxy.dsn()) as conn:
            n = conn.execute("SELECT count(*) FROM calls WHERE customer_id = %s", (i + 1,)).fetchone()[0]
            rows = conn.execute("SELECT call_id FROM calls WHERE customer_id = %s", (i + 1,)).fetchall()
            return n, len(rows)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(work, range(50)))
    assert all(n == rows for n, rows in results)
    assert sum(n for n, _ in results) > 0


def test_cancel_stops_the_running_statement(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        timer = threading.Timer(1.0, conn.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as info:
            conn.execute(SLOW)
        assert time.monotonic() - started < 20
        assert "canceling statement due to user request" in str(info.value)
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the session goes on


def test_cancel_with_a_wrong_key_does_nothing(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        pid = conn.info.backend_pid
        with socket.create_connection((proxy.host, proxy.port)) as s:
            s.sendall(struct.pack("!iiii", 16, m.CANCEL_REQUEST_CODE, pid, 12345))
            assert s.recv(1) == b""  # the server just closes a cancel connection
        assert conn.execute("SELECT 5").fetchone() == (5,)


@pytest.mark.parametrize("payload", [
    struct.pack("!i", 3),                                   # startup length below the minimum
    struct.pack("!i", 1 << 30) + b"xxxx",                   # absurd startup length
    struct.pack("!ii", 8, 1234 << 16),                       # unknown protocol major
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                    # another protocol entirely
])
def test_malformed_startup_closes_only_that_connection(proxy, payload):
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as s:
        s.sendall(payload)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"E")  # a FATAL ErrorResponse, then close
    assert b"C08P01\0" in data
    still_serving(proxy)


def test_truncated_startup_then_disconnect(proxy):
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as s:
        s.sendall(struct.pack("!i", 100) + b"\0\3\0\0user\0")  # promises 100 bytes, sends 13
    still_serving(proxy)


def test_garbage_inside_an_authenticated_session_closes_it(proxy):
    conn = psycopg.connect(proxy.dsn(), autocommit=True)
    other = psycopg.connect(proxy.dsn(), autocommit=True)
    try:
        sock = socket.socket(fileno=conn.pgconn.socket)
        sock.sendall(b"Q" + struct.pack("!i", 2))  # a length shorter than the length field
        sock.detach()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        assert other.execute("SELECT 2").fetchone() == (2,)
    finally:
        conn.close()
        other.close()
    still_serving(proxy)


def test_truncated_message_mid_session(proxy):
    conn = psycopg.connect(proxy.dsn(), autocommit=True)
    sock = socket.socket(fileno=conn.pgconn.socket)
    sock.sendall(b"Q" + struct.pack("!i", 1000) + b"SELECT")  # and then nothing more
    sock.shutdown(socket.SHUT_WR)
    sock.detach()
    conn.close()
    still_serving(proxy)


def test_ssl_request_is_declined_without_tls_and_plain_login_follows(proxy):
    with psycopg.connect(proxy.dsn(sslmode="prefer")) as conn:
        assert conn.pgconn.ssl_in_use is False
        assert conn.execute("SELECT 1").fetchone() == (1,)


def read_message(s: socket.socket) -> tuple[bytes, bytes]:
    head = b""
    while len(head) < 5:
        head += s.recv(5 - len(head))
    (length,) = struct.unpack("!i", head[1:])
    body = b""
    while len(body) < length - 4:
        body += s.recv(length - 4 - len(body))
    return head[:1], body


def test_newer_protocol_minor_and_unknown_options_are_negotiated_not_fatal(proxy):
    params = b"user\0admin\0database\0demo\0_pq_.future_option\0on\0\0"
    body = struct.pack("!i", (3 << 16) | 2) + params
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as s:
        s.sendall(struct.pack("!i", len(body) + 4) + body)
        code, payload = read_message(s)
        assert code == b"v"
        minor, count = struct.unpack_from("!ii", payload)
        assert (minor, count) == (0, 1) and payload[8:] == b"_pq_.future_option\0"
        code, payload = read_message(s)
        assert code == b"R" and struct.unpack_from("!i", payload)[0] == 10  # SASL follows
        assert b"SCRAM-SHA-256\0" in payload


def test_gssenc_request_is_declined(proxy):
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as s:
        s.sendall(struct.pack("!ii", 8, m.GSSENC_REQUEST_CODE))
        assert s.recv(1) == b"N"


def test_empty_query_and_only_comments(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        result = conn.pgconn.exec_(b"  ; -- nothing here\n")
        assert result.status == psycopg.pq.ExecStatus.EMPTY_QUERY
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_invalid_utf8_is_an_error_and_the_session_continues(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        res = conn.pgconn.exec_(b"SELECT '\xff\xfe'")
        assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
        assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"22021"
        assert conn.execute("SELECT 1").fetchone() == (1,)
