"""Failed logins: logged by default with the name escaped and no secret; slowed by
limits.auth_delay without blocking anyone else; unknown users' mock salts the same
after a restart, with the iteration count real users have."""
from __future__ import annotations

import base64
import socket
import struct
import threading
import time
from pathlib import Path

import psycopg
from scramp import ScramClient

from proxy.wire.scram import make_verifier
from tests.integration.conftest import PASSWORDS, start_proxy, stop_proxy, write_config
from tests.integration.test_tls import error_fields, read_message, startup

WRONG = "hunter2-NOT-LOGGED"


def scram_login(port: int, user: str, password: str) -> tuple[str, dict[str, str]]:
    """A plaintext login by hand: (server-first-message, the final answer's fields;
    {} for AuthenticationOk). Lets names hold any character."""
    client = ScramClient(["SCRAM-SHA-256"], "-", password)  # the server uses the StartupMessage's name
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(startup(user))
        code, payload = read_message(sock)
        assert code == b"R" and struct.unpack_from("!i", payload)[0] == 10, (code, payload)
        first = client.get_client_first().encode()
        body = b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first
        sock.sendall(b"p" + struct.pack("!i", len(body) + 4) + body)
        code, payload = read_message(sock)
        server_first = payload[4:].decode()
        client.set_server_first(server_first)
        final = client.get_client_final().encode()
        sock.sendall(b"p" + struct.pack("!i", len(final) + 4) + final)
        code, payload = read_message(sock)
        return server_first, error_fields(payload) if code == b"E" else {}


def salt_and_iterations(port: int, user: str) -> tuple[str, str]:
    attrs = dict(a.split("=", 1) for a in scram_login(port, user, WRONG)[0].split(","))
    return attrs["s"], attrs["i"]


def delay_config(directory: Path, demo_db: Path, auth_delay: str) -> Path:
    directory.mkdir(exist_ok=True)
    return write_config(directory, demo_db, extra=f"limits: {{auth_delay: {auth_delay}}}\n")


class Proxy:
    """A proxy started as a user starts it; its output goes to a file (start_proxy)."""

    def __init__(self, config: Path) -> None:
        self.process, self.port = start_proxy(config)

    def stop(self) -> str:
        """Stops the proxy; returns its log."""
        stop_proxy(self.process)
        return Path(self.process.log_path).read_text(errors="replace")


def test_failed_logins_are_logged_by_default_escaped_and_without_secrets(tmp_path, demo_db):
    proxy = Proxy(delay_config(tmp_path, demo_db, "0s"))
    forged = "x\n2030-01-01 00:00:00,000 anonproxy.session WARNING admin logged in\r\x1b[2J"
    try:
        assert scram_login(proxy.port, "admin", WRONG)[1]["C"] == "28P01"
        assert scram_login(proxy.port, "nobody", WRONG)[1]["C"] == "28P01"
        answer = scram_login(proxy.port, forged, WRONG)[1]
        assert answer["M"] == f'password authentication failed for user "{forged}"'
        assert scram_login(proxy.port, "admin", PASSWORDS["admin"])[1] == {}
    finally:
        log = proxy.stop()
    lines = log.splitlines()
    assert any(line.endswith("password authentication failed for user 'admin' from 127.0.0.1: wrong password")
               and " WARNING " in line for line in lines)
    assert any(line.endswith("for user 'nobody' from 127.0.0.1: no such user") for line in lines)
    assert any("for user 'x\\n2030-01-01 00:00:00,000 anonproxy.session WARNING admin logged in\\r\\x1b[2J'"
               in line for line in lines)
    assert not any(line.startswith("2030-01-01") for line in lines) and "\x1b" not in log and "\r" not in log
    assert WRONG not in log and "p=" not in log and "c=" not in log  # no password, proof or binding
    assert "connected" not in log  # successful logins are logged with -v only


def guess(port: int) -> dict[str, str]:
    """One failed login with a made-up proof: the server's work, without the
    client's PBKDF2, as a guesser working from a list would send it."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(startup("admin"))
        read_message(sock)
        first = b"n,,n=,r=guesser"
        body = b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first
        sock.sendall(b"p" + struct.pack("!i", len(body) + 4) + body)
        nonce = read_message(sock)[1][4:].decode().split(",")[0][2:]
        final = f"c=biws,r={nonce},p={base64.b64encode(bytes(32)).decode()}".encode()
        sock.sendall(b"p" + struct.pack("!i", len(final) + 4) + final)
        return error_fields(read_message(sock)[1])


def attempts_per_second(port: int, seconds: float) -> float:
    """Failed logins one after another, one connection at a time."""
    count, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        assert guess(port)["C"] == "28P01"
        count += 1
    return count / (time.monotonic() - start)


def test_auth_delay_slows_each_failed_login_and_blocks_nobody_else(tmp_path, demo_db):
    # Measured on 2 cores: about 1,450/s without a delay, 2/s with 500ms (README, Limits).
    fast = Proxy(delay_config(tmp_path / "fast", demo_db, "0s"))
    slow = Proxy(delay_config(tmp_path / "slow", demo_db, "250ms"))
    try:
        undelayed = attempts_per_second(fast.port, 0.5)
        delayed = attempts_per_second(slow.port, 1.5)
        assert delayed <= 4.0 and undelayed > 50  # at most 1 / 250ms
        # Failing logins wait in the event loop, not in a thread or a sleep: a good
        # login meanwhile is prompt (a blocking delay would hold it 8 x 250ms).
        guessers = [threading.Thread(target=guess, args=(slow.port,)) for _ in range(8)]
        for guesser in guessers:
            guesser.start()
        time.sleep(0.05)
        start = time.monotonic()
        with psycopg.connect(f"postgresql://admin:admin-pw@127.0.0.1:{slow.port}/demo") as conn:
            conn.execute("SELECT 1")
        assert time.monotonic() - start < 1.0
        for guesser in guessers:
            guesser.join()
    finally:
        fast.stop()
        slow.stop()


def test_unknown_users_mock_salts_survive_a_restart_and_look_like_real_ones(tmp_path, demo_db):
    config = delay_config(tmp_path, demo_db, "0s")
    before, after = {}, {}
    for salts in (before, after):  # the second time after a restart
        proxy = Proxy(config)
        try:
            salts.update({user: salt_and_iterations(proxy.port, user) for user in ("admin", "nobody", "nobody2")})
        finally:
            proxy.stop()
    assert after == before
    assert before["nobody"][0] != before["nobody2"][0]
    assert {i for _, i in before.values()} == {"4096"}
    assert len(before["nobody"][0]) == len(before["admin"][0])  # 16-byte salts, base64


def test_the_mock_iteration_count_follows_the_configured_users(tmp_path, demo_db):
    config = write_config(tmp_path, demo_db)
    text = config.read_text()
    for user, password in PASSWORDS.items():
        line = next(line for line in text.splitlines() if line.startswith(f"  {user}: {{role:"))
        text = text.replace(line, f'  {user}: {{role: {user}, password: "{make_verifier(password, iterations=8192)}"}}')
    config.write_text(text)
    proxy = Proxy(config)
    try:
        assert salt_and_iterations(proxy.port, "nobody")[1] == salt_and_iterations(proxy.port, "admin")[1] == "8192"
    finally:
        proxy.stop()
