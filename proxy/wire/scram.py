"""SCRAM-SHA-256 (RFC 5802 / 7677), server side, from stored verifiers, with
SCRAM-SHA-256-PLUS: tls-server-end-point channel binding (RFC 5929) over TLS.

A verifier has PostgreSQL's `pg_authid` format:
`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts),
so the proxy never holds a password, only what cannot be replayed as one.
Channel binding ties the proof to the server's certificate: a man in the
middle with a certificate of its own cannot relay a login.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import unicodedata
from dataclasses import dataclass

MECHANISM = "SCRAM-SHA-256"
MECHANISM_PLUS = "SCRAM-SHA-256-PLUS"
CHANNEL_BINDING = "tls-server-end-point"
DEFAULT_ITERATIONS = 4096  # PostgreSQL's default scram_iterations, and the least a verifier may have


class ScramError(Exception):
    """The exchange failed: malformed message or wrong proof."""


@dataclass(frozen=True, slots=True)
class Verifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    @classmethod
    def parse(cls, text: str) -> "Verifier":
        try:
            mech, params, keys = text.split("$")
            iterations, salt = params.split(":")
            stored, server = keys.split(":")
            if mech != MECHANISM:
                raise ValueError
            v = cls(int(iterations), base64.b64decode(salt, validate=True),
                    base64.b64decode(stored, validate=True), base64.b64decode(server, validate=True))
        except ValueError:
            raise ValueError(
                "not a SCRAM-SHA-256 verifier (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)"
            ) from None
        if v.iterations < 1 or len(v.stored_key) != 32 or len(v.server_key) != 32:
            raise ValueError("SCRAM-SHA-256 verifier has wrong key sizes or iteration count")
        return v

    def __str__(self) -> str:
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        return (f"{MECHANISM}${self.iterations}:{b64(self.salt)}"
                f"${b64(self.stored_key)}:{b64(self.server_key)}")


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def _normalize(password: str) -> bytes:
    # SASLprep's effect on real passwords is NFKC normalization; ASCII is unchanged.
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def make_verifier(password: str, *, salt: bytes | None = None,
                  iterations: int = DEFAULT_ITERATIONS) -> Verifier:
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", _normalize(password), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return Verifier(iterations, salt, hashlib.sha256(client_key).digest(),
                    _hmac(salted, b"Server Key"))


def mock_verifier(username: str, server_secret: bytes, iterations: int = DEFAULT_ITERATIONS) -> Verifier:
    """A fake verifier, stable as long as the secret is, so an unknown user looks
    like a wrong password: same salt size, and the iteration count real users have."""
    digest = _hmac(server_secret, b"mock:" + username.encode())
    return Verifier(iterations, digest[:16], _hmac(digest, b"stored"), _hmac(digest, b"server"))


def mechanisms(cb_data: bytes | None) -> list[str]:
    """What the server offers: with channel binding data (over TLS) the -PLUS
    variant too, preferred first, as PostgreSQL does."""
    return [MECHANISM_PLUS, MECHANISM] if cb_data is not None else [MECHANISM]


def _attributes(message: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError("malformed SCRAM message")
        attrs[part[0]] = part[2:]
    return attrs


class ScramServer:
    """One exchange: client-first -> server-first, client-final -> server-final."""

    def __init__(self, verifier: Verifier, *, valid: bool = True, mechanism: str = MECHANISM,
                 cb_data: bytes | None = None) -> None:
        """`cb_data`: the tls-server-end-point hash of our certificate when the
        connection is TLS (None otherwise); `mechanism`: the one the client chose."""
        if mechanism not in mechanisms(cb_data):
            raise ValueError(f"mechanism {mechanism} is not offered")
        self._verifier = verifier
        self._valid = valid  # False for unknown users: run the exchange, then fail
        self._plus = mechanism == MECHANISM_PLUS
        self._cb_data = cb_data
        self._nonce = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._gs2_header = ""

    def handle_client_first(self, data: bytes) -> bytes:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("SCRAM message is not UTF-8") from None
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise ScramError("malformed SCRAM client-first-message")
        self._check_binding_flag(parts[0])
        if parts[1]:
            raise ScramError("SCRAM authorization identities are not supported")  # as PostgreSQL
        self._gs2_header = f"{parts[0]},,"
        self._client_first_bare = parts[2]
        client_nonce = _attributes(parts[2]).get("r")
        if not client_nonce:
            raise ScramError("SCRAM client-first-message has no nonce")
        self._nonce = client_nonce + base64.b64encode(secrets.token_bytes(18)).decode()
        v = self._verifier
        self._server_first = (f"r={self._nonce},s={base64.b64encode(v.salt).decode()},"
                              f"i={v.iterations}")
        return self._server_first.encode()

    def _check_binding_flag(self, flag: str) -> None:
        """The gs2 channel binding flag against what we offered (RFC 5802 section 6)."""
        if flag.startswith("p="):
            if not self._plus:
                raise ScramError("channel binding data sent, but SCRAM-SHA-256-PLUS was not selected")
            if flag[2:] != CHANNEL_BINDING:
                raise ScramError("unsupported SCRAM channel binding type")
        elif flag in ("n", "y"):
            if self._plus:
                raise ScramError("SCRAM-SHA-256-PLUS selected without channel binding data")
            if flag == "y" and self._cb_data is not None:
                # The client binds when it can and believes we cannot, yet we offered
                # -PLUS: someone removed it from our list on the way (a downgrade).
                raise ScramError("SCRAM channel binding downgrade")
        else:
            raise ScramError("malformed SCRAM gs2 header")

    def _expected_binding(self) -> str:
        """The c= attribute: the gs2 header, and our certificate's hash when bound."""
        bound = self._cb_data if self._plus and self._cb_data else b""
        return base64.b64encode(self._gs2_header.encode() + bound).decode()

    def handle_client_final(self, data: bytes) -> bytes:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("SCRAM message is not UTF-8") from None
        without_proof, sep, proof_part = text.rpartition(",p=")
        if not sep:
            raise ScramError("SCRAM client-final-message has no proof")
        attrs = _attributes(without_proof)
        if attrs.get("r") != self._nonce:
            raise ScramError("SCRAM nonce mismatch")
        if attrs.get("c") != self._expected_binding():
            raise ScramError("SCRAM channel binding mismatch")
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            raise ScramError("malformed SCRAM proof") from None
        auth_message = ",".join((self._client_first_bare, self._server_first, without_proof)).encode()
        v = self._verifier
        signature = _hmac(v.stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError("malformed SCRAM proof")
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        ok = hmac.compare_digest(hashlib.sha256(client_key).digest(), v.stored_key)
        if not (ok and self._valid):
            raise ScramError("wrong password")
        return b"v=" + base64.b64encode(_hmac(v.server_key, auth_message))
