"""A raw PostgreSQL protocol client for tests that must send exact (or wrong) bytes:
frames built by hand, SCRAM-SHA-256 or trust login, replies read as (type, body).
The same byte sequences go to a real PostgreSQL server and to the proxy, so their
answers can be compared message by message."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
import time


def frame(code: bytes, body: bytes = b"") -> bytes:
    return code + struct.pack("!i", len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def startup(user: str, database: str) -> bytes:
    body = struct.pack("!i", 3 << 16) + cstr("user") + cstr(user) + cstr("database") + cstr(database) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def query(sql: str) -> bytes:
    return frame(b"Q", cstr(sql))


def parse(name: str, sql: str, oids: tuple[int, ...] = ()) -> bytes:
    return frame(b"P", cstr(name) + cstr(sql) + struct.pack("!H", len(oids)) + b"".join(struct.pack("!I", o) for o in oids))


def bind(portal: str, statement: str, params: tuple[bytes | None, ...] = (), formats: tuple[int, ...] = (),
         result_formats: tuple[int, ...] = ()) -> bytes:
    body = cstr(portal) + cstr(statement) + struct.pack("!H", len(formats)) + b"".join(struct.pack("!h", f) for f in formats)
    body += struct.pack("!H", len(params))
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    return frame(b"B", body + struct.pack("!H", len(result_formats)) + b"".join(struct.pack("!h", f) for f in result_formats))


def describe(kind: str, name: str) -> bytes:
    return frame(b"D", kind.encode() + cstr(name))


def execute(portal: str, max_rows: int = 0) -> bytes:
    return frame(b"E", cstr(portal) + struct.pack("!i", max_rows))


def close(kind: str, name: str) -> bytes:
    return frame(b"C", kind.encode() + cstr(name))


SYNC, FLUSH, TERMINATE = frame(b"S"), frame(b"H"), frame(b"X")


def function_call(oid: int = 1598) -> bytes:  # e.g. random(): no arguments, text result
    return frame(b"F", struct.pack("!I", oid) + struct.pack("!hh", 0, 0) + struct.pack("!h", 0))


def error_fields(body: bytes) -> dict[str, str]:
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode()
    return out


class RawClient:
    def __init__(self, port: int, user: str, database: str, password: str | None = None, *,
                 host: str = "127.0.0.1", timeout: float = 30) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buf = b""
        self.sock.sendall(startup(user, database))
        self._authenticate(password or "")
        self.startup_messages = self.read_until_ready()

    # --- bytes ---------------------------------------------------------------

    def send(self, *frames: bytes) -> None:
        self.sock.sendall(b"".join(frames))

    def _fill(self, n: int) -> bool:
        while len(self._buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return False
            self._buf += chunk
        return True

    def read(self) -> tuple[str, bytes] | None:
        """One message, or None when the server closed the connection."""
        if not self._fill(5):
            return None
        code, length = chr(self._buf[0]), struct.unpack_from("!i", self._buf, 1)[0]
        if not self._fill(1 + length):
            return None
        body, self._buf = self._buf[5:1 + length], self._buf[1 + length:]
        return code, body

    def read_until_ready(self) -> list[tuple[str, bytes]]:
        out = []
        while (msg := self.read()) is not None:
            out.append(msg)
            if msg[0] == "Z":
                return out
        errors = [error_fields(body).get("M", "") for code, body in out if code == "E"]
        raise ConnectionError(f"closed before ReadyForQuery; got {[c for c, _ in out]} {errors}")

    def read_for(self, seconds: float) -> list[tuple[str, bytes]]:
        """Whatever arrives within `seconds` (an empty list: nothing did)."""
        out, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                msg = self.read()
            except (socket.timeout, TimeoutError):
                break
            if msg is None:
                break
            out.append(msg)
        self.sock.settimeout(30)
        return out

    def close(self) -> None:
        try:
            self.send(TERMINATE)
        except OSError:
            pass
        self.sock.close()

    # --- login -----------------------------------------------------------------

    def _authenticate(self, password: str) -> None:
        msg = self.read()
        if msg is None or msg[0] != "R":
            raise ConnectionError(f"expected an authentication request, got {msg}")
        kind = struct.unpack_from("!i", msg[1])[0]
        if kind == 0:
            return
        if kind != 10:
            raise ConnectionError(f"unsupported authentication request {kind}")
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        first = b"n,," + first_bare.encode()
        self.send(frame(b"p", cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
        code, body = self.read() or ("", b"")
        if code != "R":
            raise ConnectionError(f"SCRAM: {error_fields(body).get('M', code)}")
        server_first = body[4:].decode()
        attrs = dict(part.split("=", 1) for part in server_first.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        final_bare = f"c=biws,r={attrs['r']}"
        auth_message = f"{first_bare},{server_first},{final_bare}".encode()
        signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
        self.send(frame(b"p", f"{final_bare},p={proof}".encode()))
        for _ in range(2):  # SASLFinal, then AuthenticationOk
            code, body = self.read() or ("", b"")
            if code != "R":
                raise ConnectionError(f"SCRAM: {error_fields(body).get('M', code)}")
            if struct.unpack_from("!i", body)[0] == 0:
                return
