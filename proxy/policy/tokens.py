"""Keyed HMAC-SHA256 tokens, computed in the backend's own SQL.

HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)) needs only sha256 over byte
strings, which DuckDB and PostgreSQL both have; the message is the value's
text form in UTF-8, so the same value gets the same token in every table,
session and backend. The padded keys are as secret as the key: they appear
only inside backend statements, never in logs, errors or `explain`.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import sqlglot
from sqlglot import exp

MIN_KEY_BYTES = 32
# A random key of 32 bytes has about 30 distinct byte values, and fewer than 16
# with odds below 1e-15; fewer means a repeated character or a short repeated
# pattern (64 times "a", "0123456789abcdef" four times), which no generator makes.
MIN_DISTINCT_BYTES = 16
TOKEN_HEX_DIGITS = 16  # text tokens: 64 bits, plenty to keep millions of values apart
INTEGER_HEX_DIGITS = 15  # integer tokens: 60 bits, always a positive BIGINT


class TokenKeyError(Exception):
    """The key is missing or too weak (the message never contains it)."""


GENERATE = f"`openssl rand -hex {MIN_KEY_BYTES}`"


def _decode_key(text: str, source: str) -> bytes:
    text = text.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = text.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise TokenKeyError(f"the key in {source} is too short: use at least {MIN_KEY_BYTES} bytes "
                            f"(e.g. {MIN_KEY_BYTES * 2} hex digits from {GENERATE})")
    if len(set(key)) < MIN_DISTINCT_BYTES:
        raise TokenKeyError(f"the key in {source} is too weak: it has fewer than {MIN_DISTINCT_BYTES} distinct "
                            f"byte values (a repeated character or pattern); generate one with {GENERATE}")
    return key


def load_key(*, env: str | None = None, path: Path | None = None) -> bytes:
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise TokenKeyError(f"environment variable {env} is not set")
        return _decode_key(value, f"environment variable {env}")
    assert path is not None
    try:
        return _decode_key(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise TokenKeyError(f"cannot read key file {path}: {exc.strerror}") from None


def pads(key: bytes) -> tuple[str, str]:
    """(K ^ ipad, K ^ opad) as hex, per RFC 2104 with SHA-256's 64-byte block."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()


def reference_token(key: bytes, value: str, *, integer: bool = False) -> str | int:
    """The token computed in Python, for tests and for checking the SQL."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return int(digest[:INTEGER_HEX_DIGITS], 16) if integer else digest[:TOKEN_HEX_DIGITS]


def _templates(dialect: str) -> tuple[str, str, str]:
    """(hmac hex of {v}, text token of {h}, integer token of {h}) in the backend's SQL."""
    if dialect == "duckdb":
        return ("sha256(unhex('{o}') || unhex(sha256(unhex('{i}') || encode(CAST({v} AS VARCHAR)))))",
                f"substr({{h}}, 1, {TOKEN_HEX_DIGITS})",
                f"CAST(('0x' || substr({{h}}, 1, {INTEGER_HEX_DIGITS})) AS BIGINT)")
    if dialect == "postgres":
        return ("encode(sha256(decode('{o}', 'hex') || sha256(decode('{i}', 'hex') || "
                "convert_to(CAST({v} AS TEXT), 'UTF8'))), 'hex')",
                f"substr({{h}}, 1, {TOKEN_HEX_DIGITS})",
                f"CAST(CAST(('x' || substr({{h}}, 1, {INTEGER_HEX_DIGITS})) AS BIT({INTEGER_HEX_DIGITS * 4})) AS BIGINT)")
    raise ValueError(f"no tokenization for dialect {dialect}")


def hmac_hex(value: exp.Expression, key: bytes, dialect: str) -> str:
    inner, _, _ = _templates(dialect)
    ipad, opad = pads(key)
    return inner.format(o=opad, i=ipad, v=value.sql(dialect=dialect))


def token(value: exp.Expression, key: bytes, dialect: str, *, integer: bool = False) -> exp.Expression:
    _, text, as_int = _templates(dialect)
    sql = (as_int if integer else text).format(h=hmac_hex(value, key, dialect))
    return sqlglot.parse_one(sql, read=dialect)


def unit_fraction(value: exp.Expression, key: bytes, dialect: str) -> exp.Expression:
    """A number in [0, 1) fixed by the keyed hash of `value`: per-row, repeatable noise."""
    h = hmac_hex(value, key, dialect)
    if dialect == "duckdb":
        sql = f"CAST(('0x' || substr({h}, 1, 13)) AS BIGINT) / 4503599627370496.0"
    else:
        sql = f"CAST(CAST(('x' || substr({h}, 1, 13)) AS BIT(52)) AS BIGINT) / 4503599627370496.0"
    return sqlglot.parse_one(sql, read=dialect)
