"""TLS: a real handshake after SSLRequest; TLS required globally, per role and per
user, refused before any password is exchanged; SCRAM-SHA-256-PLUS with psql's
channel_binding=require; a man in the middle with its own certificate (the
attack of issue 8) relays nothing."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest
from cryptography import x509
from scramp import ScramClient

from proxy.tls import end_point_hash
from proxy.wire import messages as m
from tests.certs import self_signed
from tests.integration.conftest import PASSWORDS, start_proxy, stop_proxy, write_config

PSQL = shutil.which("psql")
needs_psql = pytest.mark.skipif(PSQL is None, reason="psql binary not installed (apt-get install postgresql-client)")


def startup(user: str, database: str = "demo") -> bytes:
    body = struct.pack("!i", 3 << 16) + b"".join(f"{k}\0{v}\0".encode() for k, v in
                                                   (("user", user), ("database", database))) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _read_exactly(sock, 5)
    (length,) = struct.unpack("!i", head[1:])
    return head[:1], _read_exactly(sock, length - 4)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def error_fields(payload: bytes) -> dict[str, str]:
    return {f[:1]: f[1:] for f in payload.decode().split("\0") if f}


def first_answer(port: int, user: str) -> tuple[bytes, bytes]:
    """The server's first message after a plaintext StartupMessage."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(startup(user))
        return read_message(sock)


def psql(port: int, user: str, conninfo: str, password: str | None = None,
         host: str = "127.0.0.1") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = PASSWORDS.get(user, "x") if password is None else password
    dsn = f"host={host} port={port} user={user} dbname=demo gssencmode=disable connect_timeout=10 {conninfo}"
    return subprocess.run([PSQL, dsn, "-X", "-At", "-c", "SELECT count(*) FROM cell_towers"],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory, demo_db):
    """TLS optional; analyst requires it per user, reporter per role."""
    directory = tmp_path_factory.mktemp("tls")
    self_signed(directory)
    users_tls = "tls: {cert: server.crt, key: server.key}\n"
    config = write_config(directory, demo_db, extra=users_tls, role_settings={"reporter": {"require_tls": "true"}})
    text = config.read_text()
    line = next(line for line in text.splitlines() if line.startswith("  analyst: {role: analyst,"))
    config.write_text(text.replace(line, line.replace("{role: analyst,", "{require_tls: true, role: analyst,")))
    process, port = start_proxy(config)
    yield directory, port
    stop_proxy(process)


@pytest.fixture(scope="module")
def required_proxy(tmp_path_factory, demo_db):
    directory = tmp_path_factory.mktemp("tls_required")
    self_signed(directory)
    config = write_config(directory, demo_db, extra="tls: {cert: server.crt, key: server.key, require: true}\n")
    process, port = start_proxy(config)
    yield directory, port
    stop_proxy(process)


def test_tls_session_with_verified_certificate(tls_proxy):
    directory, port = tls_proxy
    dsn = (f"postgresql://admin:admin-pw@localhost:{port}/demo?sslmode=verify-full"
           f"&sslrootcert={directory / 'server.crt'}")
    with psycopg.connect(dsn) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 10000


def test_plain_connections_still_work_when_tls_is_optional(tls_proxy):
    _, port = tls_proxy
    with psycopg.connect(f"postgresql://admin:admin-pw@127.0.0.1:{port}/demo?sslmode=disable") as conn:
        assert not conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)


# --- TLS required ---------------------------------------------------------------------


def test_plaintext_is_refused_before_any_password_when_tls_is_required(required_proxy):
    _, port = required_proxy
    code, payload = first_answer(port, "admin")
    assert code == b"E"  # not AuthenticationSASL: no password exchange at all
    fields = error_fields(payload)
    assert (fields["S"], fields["C"]) == ("FATAL", "28000")
    assert fields["M"] == 'connection requires TLS (SSL) for user "admin"'
    assert "sslmode=require" in fields["H"]


@needs_psql
def test_psql_sees_the_refusal_and_logs_in_over_tls(required_proxy):
    _, port = required_proxy
    plain = psql(port, "admin", "sslmode=disable")
    assert plain.returncode == 2
    assert 'FATAL:  connection requires TLS (SSL) for user "admin"' in plain.stderr
    assert "HINT:  Connect with sslmode=require" in plain.stderr
    tls = psql(port, "admin", "sslmode=require")
    assert tls.returncode == 0, tls.stderr
    assert int(tls.stdout) > 0


def test_per_user_and_per_role_requirements(tls_proxy):
    directory, port = tls_proxy
    assert first_answer(port, "analyst")[0] == b"E"   # users.analyst.require_tls
    assert first_answer(port, "reporter")[0] == b"E"  # roles.reporter.require_tls
    assert first_answer(port, "admin")[0] == b"R"     # SASL: plaintext is fine for admin
    with pytest.raises(psycopg.OperationalError, match='connection requires TLS'):
        psycopg.connect(f"postgresql://analyst:analyst-pw@127.0.0.1:{port}/demo?sslmode=disable")
    for user in ("analyst", "reporter"):
        with psycopg.connect(f"postgresql://{user}:{PASSWORDS[user]}@127.0.0.1:{port}/demo?sslmode=require") as conn:
            assert conn.pgconn.ssl_in_use


def test_unknown_users_cannot_be_told_from_real_ones_by_the_tls_answer(tls_proxy):
    # Two of the four users require TLS: unknown names get either answer, each name
    # always the same one; answering them all alike would single out one group.
    _, port = tls_proxy
    names = [f"nobody{i}" for i in range(40)]
    answers = {name: first_answer(port, name)[0] for name in names}
    assert set(answers.values()) == {b"E", b"R"}
    assert 8 <= sum(a == b"E" for a in answers.values()) <= 32
    assert all(first_answer(port, name)[0] == answers[name] for name in names[:10])


# --- channel binding with psql ----------------------------------------------------------


@needs_psql
def test_psql_channel_binding_require_logs_in_over_tls(tls_proxy):
    _, port = tls_proxy
    out = psql(port, "analyst", "sslmode=require channel_binding=require")
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 0


@needs_psql
def test_psql_channel_binding_require_fails_on_the_client_over_plaintext(tls_proxy):
    _, port = tls_proxy
    out = psql(port, "admin", "sslmode=disable channel_binding=require")
    assert out.returncode == 2
    assert "channel binding required" in out.stderr and "FATAL" not in out.stderr


# --- a man in the middle with its own certificate ---------------------------------------------


class Relay:
    """Terminates the client's TLS with its own certificate and opens its own TLS to
    the proxy, then copies bytes; with `strip_plus` it also removes
    SCRAM-SHA-256-PLUS from the mechanisms the proxy offers. Runs on its own event
    loop in a thread until closed."""

    SSL_REQUEST = struct.pack("!ii", 8, m.SSL_REQUEST_CODE)

    def __init__(self, upstream_port: int, cert: Path, key: Path, strip_plus: bool = False) -> None:
        self.upstream_port = upstream_port
        self.strip_plus = strip_plus
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_context.load_cert_chain(cert, key)
        self.client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client_context.check_hostname = False
        self.client_context.verify_mode = ssl.CERT_NONE
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True).start()

    async def _serve(self) -> None:
        async with await asyncio.start_server(self._relay, sock=self.listener):
            await asyncio.get_running_loop().run_in_executor(None, self.done.wait)

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        assert await client_in.readexactly(8) == self.SSL_REQUEST
        client_out.write(b"S")
        await client_out.start_tls(self.server_context)
        proxy_in, proxy_out = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        proxy_out.write(self.SSL_REQUEST)
        assert await proxy_in.readexactly(1) == b"S"
        await proxy_out.start_tls(self.client_context)
        await asyncio.gather(self._copy(client_in, proxy_out), self._copy_to_client(proxy_in, client_out))

    @staticmethod
    async def _copy(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                target.write(data)
                await target.drain()
        except (OSError, ConnectionError):
            pass
        target.close()

    async def _copy_to_client(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        if not self.strip_plus:
            return await self._copy(source, target)
        try:
            while True:
                head = await source.readexactly(5)
                payload = await source.readexactly(struct.unpack("!i", head[1:])[0] - 4)
                if head[:1] == b"R" and struct.unpack_from("!i", payload)[0] == 10:
                    payload = payload.replace(b"SCRAM-SHA-256-PLUS\0", b"")
                target.write(head[:1] + struct.pack("!i", len(payload) + 4) + payload)
                await target.drain()
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            pass
        target.close()

    def close(self) -> None:
        self.done.set()


@pytest.fixture(scope="module")
def mitm_cert(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("mitm"), "mitm")


def tls_scram_login(port: int, user: str, cb_data: bytes) -> tuple[list[bytes], dict[str, str]]:
    """A SCRAM-SHA-256-PLUS login over TLS binding to `cb_data`: (the mechanisms
    offered, the final answer's fields; {} for AuthenticationOk)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    client = ScramClient(["SCRAM-SHA-256-PLUS"], "-", PASSWORDS[user],
                         channel_binding=("tls-server-end-point", cb_data))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(struct.pack("!ii", 8, m.SSL_REQUEST_CODE))
        assert raw.recv(1) == b"S"
        with context.wrap_socket(raw) as sock:
            sock.sendall(startup(user))
            _, payload = read_message(sock)
            offered = payload[4:].split(b"\0")[:-2]
            first = client.get_client_first().encode()
            body = b"SCRAM-SHA-256-PLUS\0" + struct.pack("!i", len(first)) + first
            sock.sendall(b"p" + struct.pack("!i", len(body) + 4) + body)
            _, payload = read_message(sock)
            client.set_server_first(payload[4:].decode())
            final = client.get_client_final().encode()
            sock.sendall(b"p" + struct.pack("!i", len(final) + 4) + final)
            code, payload = read_message(sock)
            return offered, error_fields(payload) if code == b"E" else {}


def test_binding_to_another_certificate_is_refused_with_28p01(tls_proxy, mitm_cert):
    directory, port = tls_proxy
    ours = end_point_hash(x509.load_pem_x509_certificate((directory / "server.crt").read_bytes()))
    theirs = end_point_hash(x509.load_pem_x509_certificate(mitm_cert[0].read_bytes()))
    offered, answer = tls_scram_login(port, "analyst", ours)
    assert offered == [b"SCRAM-SHA-256-PLUS", b"SCRAM-SHA-256"] and answer == {}
    _, answer = tls_scram_login(port, "analyst", theirs)
    assert (answer["C"], answer["M"]) == ("28P01", 'password authentication failed for user "analyst"')


@needs_psql
@pytest.mark.parametrize("channel_binding, strip_plus", [("require", False), ("prefer", False), ("prefer", True)])
def test_a_man_in_the_middle_cannot_relay_a_login(tls_proxy, mitm_cert, channel_binding, strip_plus):
    # Relayed as is, psql binds to the relay's certificate: the proxy sees another
    # hash. With -PLUS stripped, psql says 'y' (it could bind): a downgrade, refused.
    _, port = tls_proxy
    relay = Relay(port, *mitm_cert, strip_plus=strip_plus)
    out = psql(relay.port, "analyst", f"sslmode=require channel_binding={channel_binding}")
    relay.close()
    assert out.returncode == 2
    assert 'FATAL:  password authentication failed for user "analyst"' in out.stderr  # 28P01


@needs_psql
def test_the_relay_itself_works_for_a_client_that_turns_binding_off(tls_proxy, mitm_cert):
    # What makes the test above honest: the same relay passes a login without binding
    # (sslmode=require does not check certificates: use verify-full, or binding).
    _, port = tls_proxy
    relay = Relay(port, *mitm_cert)
    out = psql(relay.port, "analyst", "sslmode=require channel_binding=disable")
    relay.close()
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 0
