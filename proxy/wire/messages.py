"""PostgreSQL v3 protocol messages, sans-IO.

`FrontendDecoder` turns the bytes a client sends into message objects; the
functions at the bottom turn the server's answers into bytes. Nothing here
touches a socket, so every message can be tested by feeding it bytes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

PROTOCOL_3_0 = 3 << 16
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102

MAX_STARTUP_PACKET = 10_000  # PostgreSQL's own limit for the untyped startup packet
MAX_CONTROL_MESSAGE = 1 << 16  # Describe, Close, Execute: a name and a count


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """The most a client may declare, per kind of message, before its body is read:
    nothing is buffered beyond these, however large the declared length."""

    auth: int = 2048          # SASL responses before login: a SCRAM message is ~200 bytes
    statement: int = 1 << 20  # Query and Parse text (limits.max_statement_length)
    bind: int = 64 << 20      # a Bind's parameters (limits.max_message)

    def of(self, code: str) -> int:
        if code in ("Q", "P"):  # the text, plus a Parse's parameter types (4 bytes each, up to 65,535)
            return self.statement + (1 << 18) + 1024
        return self.bind if code == "B" else MAX_CONTROL_MESSAGE


class ProtocolError(Exception):
    """The client sent bytes that are not the protocol: the connection ends."""


# --- frontend messages ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartupMessage:
    major: int
    minor: int
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class SSLRequest:
    pass


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    pass


@dataclass(frozen=True, slots=True)
class CancelRequest:
    process_id: int
    secret_key: int


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """A 'p' message; its meaning (password or SASL step) depends on the exchange."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Query:
    sql: str


@dataclass(frozen=True, slots=True)
class Parse:
    name: str
    sql: str
    param_oids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Bind:
    portal: str
    statement: str
    param_formats: tuple[int, ...]
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Describe:
    kind: str  # 'S' statement or 'P' portal
    name: str


@dataclass(frozen=True, slots=True)
class Execute:
    portal: str
    max_rows: int


@dataclass(frozen=True, slots=True)
class Close:
    kind: str  # 'S' or 'P'
    name: str


@dataclass(frozen=True, slots=True)
class Sync:
    pass


@dataclass(frozen=True, slots=True)
class Flush:
    pass


@dataclass(frozen=True, slots=True)
class Terminate:
    pass


@dataclass(frozen=True, slots=True)
class InvalidText:
    """A well-framed Query or Parse whose text is not valid UTF-8: an error, not a hang-up."""

    type_code: str


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A message we do not serve (COPY data, FunctionCall); its body is skipped unread."""

    type_code: str


@dataclass(frozen=True, slots=True)
class TooLarge:
    """A Query, Parse or Bind declaring more than its limit: the body is skipped
    unread, and the session answers with an error and goes on."""

    type_code: str
    length: int
    limit: int


FrontendMessage = (
    StartupMessage | SSLRequest | GSSENCRequest | CancelRequest | AuthResponse | Query | Parse
    | Bind | Describe | Execute | Close | Sync | Flush | Terminate | InvalidText | Unsupported | TooLarge
)


class _NotUtf8(ProtocolError):
    """A string field is not UTF-8; for SQL text this is an error, not a hang-up."""


class _Reader:
    """Cursor over one message body; every read is bounds-checked."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("message is shorter than its contents")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int16(self) -> int:
        return struct.unpack("!h", self.take(2))[0]

    def count16(self) -> int:
        """A count of parameters or formats: PostgreSQL reads these unsigned (up to 65,535)."""
        return struct.unpack("!H", self.take(2))[0]

    def int32(self) -> int:
        return struct.unpack("!i", self.take(4))[0]

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ProtocolError("string is not NUL-terminated")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _NotUtf8() from None

    def byte(self) -> str:
        return chr(self.take(1)[0])

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolError("message has trailing bytes")


def _parse_startup(body: bytes) -> FrontendMessage:
    r = _Reader(body)
    code = r.int32()
    if code == SSL_REQUEST_CODE:
        r.done()
        return SSLRequest()
    if code == GSSENC_REQUEST_CODE:
        r.done()
        return GSSENCRequest()
    if code == CANCEL_REQUEST_CODE:
        pid, key = r.int32(), r.int32()
        return CancelRequest(pid, key)
    major, minor = code >> 16, code & 0xFFFF
    if major != 3:
        raise ProtocolError(f"unsupported frontend protocol {major}.{minor}")
    params: dict[str, str] = {}
    while True:
        key = r.cstring()
        if not key:
            break
        params[key] = r.cstring()
    r.done()
    return StartupMessage(major, minor, params)


def _parse_bind(r: _Reader) -> Bind:
    portal, statement = r.cstring(), r.cstring()
    param_formats = tuple(r.int16() for _ in range(r.count16()))
    params: list[bytes | None] = []
    for _ in range(r.count16()):
        n = r.int32()
        params.append(None if n == -1 else r.take(n))
    result_formats = tuple(r.int16() for _ in range(r.count16()))
    return Bind(portal, statement, param_formats, tuple(params), result_formats)


def _parse_typed(code: str, body: bytes) -> FrontendMessage:
    try:
        return _parse_typed_body(code, body)
    except _NotUtf8:
        if code in ("Q", "P"):
            return InvalidText(code)
        raise ProtocolError("invalid UTF-8 in message") from None


def _parse_typed_body(code: str, body: bytes) -> FrontendMessage:
    r = _Reader(body)
    msg: FrontendMessage
    if code == "Q":
        msg = Query(r.cstring())
    elif code == "P":
        name, sql = r.cstring(), r.cstring()
        msg = Parse(name, sql, tuple(r.int32() & 0xFFFFFFFF for _ in range(r.count16())))
    elif code == "B":
        msg = _parse_bind(r)
    elif code in ("D", "C"):
        kind = r.byte()
        if kind not in ("S", "P"):
            raise ProtocolError(f"invalid {'Describe' if code == 'D' else 'Close'} kind {kind!r}")
        msg = (Describe if code == "D" else Close)(kind, r.cstring())
    elif code == "E":
        msg = Execute(r.cstring(), r.int32())
    elif code == "p":
        return AuthResponse(body)
    elif code == "S":
        msg = Sync()
    elif code == "H":
        msg = Flush()
    elif code == "X":
        msg = Terminate()
    else:
        raise ProtocolError(f"invalid frontend message type {ord(code)}")
    r.done()
    return msg


# Which message types a client may send: before login only SASL responses (and
# Terminate); an unknown type byte ends the connection before its body is read.
_AUTH_TYPES = frozenset("pX")
_SESSION_TYPES = frozenset("QPBDCESHX")
_SKIPPED_TYPES = frozenset("Fdcf")  # FunctionCall and COPY: answered with an error, bodies never read
_EMPTY_TYPES = frozenset("SHX")  # Sync, Flush, Terminate have no body


class FrontendDecoder:
    """Incremental decoder: feed() bytes, then iterate complete messages.

    The first message of a connection (and the one after an SSLRequest) has no
    type byte; the session says when that is by setting `expect_startup`, and
    sets `logged_in` once authentication succeeded. Every length is checked
    against its type's limit from the five-byte header, so the buffer never
    holds more than one allowed message and what arrived with it.
    """

    def __init__(self, limits: MessageLimits = MessageLimits()) -> None:
        self._buf = bytearray()
        self._skip = 0  # body bytes of a refused message still to discard
        self.limits = limits
        self.expect_startup = True
        self.logged_in = False

    def feed(self, data: bytes) -> None:
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._buf += data

    def __iter__(self) -> Iterator[FrontendMessage]:
        while (msg := self.next_message()) is not None:
            yield msg

    def next_message(self) -> FrontendMessage | None:
        if self._skip:
            dropped = min(self._skip, len(self._buf))
            del self._buf[:dropped]
            self._skip -= dropped
            if self._skip:
                return None
        if self.expect_startup:
            return self._next_startup()
        if not self._buf:
            return None
        code = chr(self._buf[0])
        if code not in (_SESSION_TYPES | _SKIPPED_TYPES if self.logged_in else _AUTH_TYPES):
            what = "message type" if self.logged_in else "message type before authentication completed:"
            raise ProtocolError(f"invalid frontend {what} {self._buf[0]}")
        if len(self._buf) < 5:
            return None
        (length,) = struct.unpack_from("!i", self._buf, 1)
        if length < 4 or (code in _EMPTY_TYPES and length != 4):
            raise ProtocolError(f"invalid message length {length}")
        if code in _SKIPPED_TYPES:
            return self._skip_body(length, Unsupported(code))
        limit = self.limits.auth if not self.logged_in else self.limits.of(code)
        if length > limit:
            if not self.logged_in or code not in ("Q", "P", "B"):
                raise ProtocolError(f"invalid message length {length} (at most {limit} here)")
            return self._skip_body(length, TooLarge(code, length, limit))
        if len(self._buf) < 1 + length:
            return None
        body = bytes(self._buf[5 : 1 + length])
        del self._buf[: 1 + length]
        return _parse_typed(code, body)

    def _skip_body(self, length: int, msg: FrontendMessage) -> FrontendMessage:
        del self._buf[:5]
        self._skip = length - 4
        dropped = min(self._skip, len(self._buf))
        del self._buf[:dropped]
        self._skip -= dropped
        return msg

    def _next_startup(self) -> FrontendMessage | None:
        if len(self._buf) < 4:
            return None
        (length,) = struct.unpack_from("!i", self._buf, 0)
        if length < 8 or length > MAX_STARTUP_PACKET:
            raise ProtocolError(f"invalid startup packet length {length}")
        if len(self._buf) < length:
            return None
        body = bytes(self._buf[4:length])
        del self._buf[:length]
        msg = _parse_startup(body)
        if isinstance(msg, StartupMessage):
            self.expect_startup = False
        return msg

    @property
    def buffered(self) -> int:
        return len(self._buf)


def parse_sasl_initial(payload: bytes) -> tuple[str, bytes]:
    """SASLInitialResponse body -> (mechanism, client-first-message)."""
    r = _Reader(payload)
    mechanism = r.cstring()
    n = r.int32()
    data = b"" if n == -1 else r.take(n)
    r.done()
    return mechanism, data


def result_format_codes(codes: Sequence[int], n: int) -> list[int]:
    """Bind's format-code rule: none means all text, one applies to all, else one each."""
    if not codes:
        return [0] * n
    if len(codes) == 1:
        return [codes[0]] * n
    if len(codes) != n:
        raise ValueError(f"bind message has {len(codes)} result formats but query has {n} columns")
    return list(codes)


# --- backend messages -----------------------------------------------------


def _msg(code: bytes, body: bytes = b"") -> bytes:
    return code + struct.pack("!i", len(body) + 4) + body


def _cstr(s: str) -> bytes:
    return s.encode("utf-8") + b"\0"


def authentication_ok() -> bytes:
    return _msg(b"R", struct.pack("!i", 0))


def authentication_sasl(mechanisms: Iterable[str]) -> bytes:
    return _msg(b"R", struct.pack("!i", 10) + b"".join(_cstr(m) for m in mechanisms) + b"\0")


def authentication_sasl_continue(data: bytes) -> bytes:
    return _msg(b"R", struct.pack("!i", 11) + data)


def authentication_sasl_final(data: bytes) -> bytes:
    return _msg(b"R", struct.pack("!i", 12) + data)


def parameter_status(name: str, value: str) -> bytes:
    return _msg(b"S", _cstr(name) + _cstr(value))


def backend_key_data(process_id: int, secret_key: int) -> bytes:
    return _msg(b"K", struct.pack("!ii", process_id, secret_key))


def negotiate_protocol_version(minor: int, unknown_options: Sequence[str]) -> bytes:
    body = struct.pack("!ii", minor, len(unknown_options))
    return _msg(b"v", body + b"".join(_cstr(o) for o in unknown_options))


def ready_for_query(status: str) -> bytes:
    return _msg(b"Z", status.encode("ascii"))


@dataclass(frozen=True, slots=True)
class Column:
    """One RowDescription field."""

    name: str
    type_oid: int
    type_size: int = -1
    type_modifier: int = -1
    table_oid: int = 0
    column_number: int = 0


def row_description(columns: Sequence[Column], formats: Sequence[int] = ()) -> bytes:
    parts = [struct.pack("!h", len(columns))]
    for i, c in enumerate(columns):
        fmt = formats[i] if i < len(formats) else 0
        parts.append(_cstr(c.name))
        parts.append(
            struct.pack("!ihihih", c.table_oid, c.column_number, c.type_oid, c.type_size,
                        c.type_modifier, fmt)
        )
    return _msg(b"T", b"".join(parts))


_NULL_FIELD = struct.pack("!i", -1)
_pack_int32 = struct.Struct("!i").pack


def data_row(values: Sequence[bytes | None]) -> bytes:
    parts = [struct.pack("!h", len(values))]
    for v in values:
        if v is None:
            parts.append(_NULL_FIELD)
        else:
            parts.append(_pack_int32(len(v)))
            parts.append(v)
    body = b"".join(parts)
    return b"D" + _pack_int32(len(body) + 4) + body


def data_rows(rows: Sequence[Sequence[Any]], encoders: Sequence[Callable[[Any], bytes]]) -> bytes:
    """DataRow messages for a batch of rows, one encoder per column, as one
    buffer. This is the proxy's hottest loop, hence the inlining."""
    out: list[bytes] = []
    append = out.append
    count = struct.pack("!h", len(encoders))
    pairs = list(enumerate(encoders))
    for row in rows:
        fields = [count]
        size = 6  # length field + column count
        for i, enc in pairs:
            v = row[i]
            if v is None:
                fields.append(_NULL_FIELD)
                size += 4
            else:
                data = enc(v)
                fields.append(_pack_int32(len(data)))
                fields.append(data)
                size += 4 + len(data)
        append(b"D" + _pack_int32(size))
        append(b"".join(fields))
    return b"".join(out)


def command_complete(tag: str) -> bytes:
    return _msg(b"C", _cstr(tag))


def empty_query_response() -> bytes:
    return _msg(b"I")


def parse_complete() -> bytes:
    return _msg(b"1")


def bind_complete() -> bytes:
    return _msg(b"2")


def close_complete() -> bytes:
    return _msg(b"3")


def no_data() -> bytes:
    return _msg(b"n")


def portal_suspended() -> bytes:
    return _msg(b"s")


def parameter_description(oids: Sequence[int]) -> bytes:
    return _msg(b"t", struct.pack(f"!h{len(oids)}I", len(oids), *oids))


@dataclass(frozen=True, slots=True)
class Notice:
    """Fields shared by ErrorResponse and NoticeResponse."""

    severity: str
    code: str
    message: str
    detail: str | None = None
    hint: str | None = None
    position: int | None = None

    def fields(self) -> list[tuple[bytes, str]]:
        out = [(b"S", self.severity), (b"V", self.severity), (b"C", self.code),
               (b"M", self.message)]
        if self.detail:
            out.append((b"D", self.detail))
        if self.hint:
            out.append((b"H", self.hint))
        if self.position is not None:
            out.append((b"P", str(self.position)))
        return out


def _notice_body(n: Notice) -> bytes:
    return b"".join(k + _cstr(v) for k, v in n.fields()) + b"\0"


def error_response(n: Notice) -> bytes:
    return _msg(b"E", _notice_body(n))


def notice_response(n: Notice) -> bytes:
    return _msg(b"N", _notice_body(n))
