"""PostgreSQL type OIDs and value codecs, text and binary, sans-IO.

Text output follows what PostgreSQL 16 prints with DateStyle=ISO,
IntervalStyle=postgres and shortest-exact floats; binary follows each type's
send/recv functions. `encoder(oid, binary)` returns a function to hoist out of
the row loop.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
import struct
import uuid
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any, Callable

BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, FLOAT4, FLOAT8, UNKNOWN, BPCHAR, VARCHAR = 114, 700, 701, 705, 1042, 1043
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC = 1082, 1083, 1114, 1184, 1186, 1700
UUID, JSONB = 2950, 3802

PG_EPOCH = dt.datetime(2000, 1, 1)
PG_EPOCH_UTC = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
PG_EPOCH_DATE = dt.date(2000, 1, 1)
_PG_EPOCH_ORDINAL = PG_EPOCH_DATE.toordinal()


@dataclass(frozen=True, slots=True)
class Interval:
    """An interval with months, which timedelta cannot hold."""

    months: int = 0
    days: int = 0
    microseconds: int = 0


Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes], Any]


@dataclass(frozen=True, slots=True)
class PgType:
    oid: int
    name: str
    size: int
    encode_text: Encoder
    decode_text: Decoder
    encode_binary: Encoder
    decode_binary: Decoder


# --- text -------------------------------------------------------------------

def _str_text(v: Any) -> bytes:
    return (v if isinstance(v, str) else str(v)).encode("utf-8")


def _decode_str(b: bytes) -> str:
    return bytes(b).decode("utf-8")


def _bool_text(v: Any) -> bytes:
    return b"t" if v else b"f"


def _decode_bool_text(b: bytes) -> bool:
    s = bytes(b).decode().strip().lower()
    if s in ("t", "true", "y", "yes", "on", "1"):
        return True
    if s in ("f", "false", "n", "no", "off", "0"):
        return False
    raise ValueError(f'invalid input syntax for type boolean: "{s}"')


def _int_text(v: Any) -> bytes:
    return str(int(v)).encode()


def _float_text_with(digits_threshold: int, as_float4: bool) -> Encoder:
    def encode(v: Any) -> bytes:
        f = float(v)
        if math.isnan(f):
            return b"NaN"
        if math.isinf(f):
            return b"Infinity" if f > 0 else b"-Infinity"
        if f == 0:
            return b"-0" if math.copysign(1, f) < 0 else b"0"
        digits = _shortest_float4(f) if as_float4 else repr(f)
        return _pg_float_format(digits, digits_threshold).encode()
    return encode


def _shortest_float4(f: float) -> str:
    target = struct.unpack("!f", struct.pack("!f", f))[0]
    for precision in range(1, 10):
        text = f"{target:.{precision}g}"
        if struct.unpack("!f", struct.pack("!f", float(text)))[0] == target:
            return text
    return repr(target)


def _pg_float_format(text: str, threshold: int) -> str:
    """Shortest digits -> PostgreSQL's layout: exponent form when the decimal
    exponent is < -4 or >= threshold (15 for float8, 6 for float4)."""
    sign = "-" if text.startswith("-") else ""
    d = Decimal(text.lstrip("-"))
    digits = "".join(map(str, d.as_tuple().digits)).rstrip("0") or "0"
    exponent = d.adjusted()
    if exponent < -4 or exponent >= threshold:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if len(digits) <= exponent + 1:
        return f"{sign}{digits}{'0' * (exponent + 1 - len(digits))}"
    return f"{sign}{digits[:exponent + 1]}.{digits[exponent + 1:]}"


def _decode_float_text(b: bytes) -> float:
    s = bytes(b).decode().strip()
    return float({"Infinity": "inf", "-Infinity": "-inf"}.get(s, s))


def _numeric_text(v: Any) -> bytes:
    d = v if isinstance(v, Decimal) else Decimal(str(v)) if isinstance(v, float) else Decimal(v)
    if d.is_nan():
        return b"NaN"
    if d.is_infinite():
        return b"Infinity" if d > 0 else b"-Infinity"
    return format(d, "f").encode()


def _decode_numeric_text(b: bytes) -> Decimal:
    s = bytes(b).decode().strip()
    return Decimal({"Infinity": "Infinity", "-Infinity": "-Infinity"}.get(s, s))


def _bytea_text(v: Any) -> bytes:
    return b"\\x" + bytes(v).hex().encode()


def _decode_bytea_text(b: bytes) -> bytes:
    b = bytes(b)
    if b.startswith(b"\\x"):
        return bytes.fromhex(b[2:].decode())
    out, i = bytearray(), 0
    while i < len(b):  # the old escape format: \\ and \ooo
        if b[i:i + 1] == b"\\":
            if b[i + 1:i + 2] == b"\\":
                out.append(0x5C)
                i += 2
            else:
                out.append(int(b[i + 1:i + 4], 8))
                i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def _fraction(us: int) -> str:
    return f".{us:06d}".rstrip("0") if us else ""


def _date_text(v: dt.date) -> bytes:
    if isinstance(v, dt.datetime):
        v = v.date()
    return v.isoformat().encode()


# What PostgreSQL's date input ignores after the date: a time of day and a zone.
# pgJDBC's setDate sends '2020-01-01 +00', node-pg a JS Date as '2020-01-01T00:00:00.000+00:00'.
_DATE_TAIL = re.compile(r"(?:[T ]\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{1,2}(?::?\d{2})?)?")


_DATE_AND_ZONE = re.compile(r"(\d{4}-\d{2}-\d{2})\s*([+-]\d{1,2}(?::?\d{2})?)")


def _decode_date_text(b: bytes) -> dt.date:
    s = bytes(b).decode().strip()
    if s == "infinity":
        return dt.date.max
    if s == "-infinity":
        return dt.date.min
    if len(s) > 10 and _DATE_TAIL.fullmatch(s[10:]):
        s = s[:10]
    return dt.date.fromisoformat(s)


def _time_text(v: dt.time) -> bytes:
    return f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}{_fraction(v.microsecond)}".encode()


def _decode_time_text(b: bytes) -> dt.time:
    return dt.time.fromisoformat(bytes(b).decode().strip())


def _timestamp_text(v: dt.datetime) -> bytes:
    if v.tzinfo is not None:
        v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
            f"{_fraction(v.microsecond)}").encode()


def _timestamptz_text(v: dt.datetime) -> bytes:
    return _timestamp_text(v) + b"+00"


def _parse_timestamp(s: str) -> dt.datetime:
    s = s.strip().replace("T", " ")
    if m := _DATE_AND_ZONE.fullmatch(s):  # '2020-01-01 +00' (pgJDBC): midnight in that zone
        s = f"{m[1]} 00:00:00{m[2]}"
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    # PostgreSQL's '+05' offset lacks minutes, which fromisoformat wants.
    tail = s[-3:]
    if len(s) > 10 and tail[0] in "+-" and tail[1:].isdigit() and s[-6:-5] not in "+-":
        s += ":00"
    return dt.datetime.fromisoformat(s)


def _decode_timestamp_text(b: bytes) -> dt.datetime:
    return _parse_timestamp(bytes(b).decode()).replace(tzinfo=None)


def _decode_timestamptz_text(b: bytes) -> dt.datetime:
    v = _parse_timestamp(bytes(b).decode())
    return v.replace(tzinfo=dt.timezone.utc) if v.tzinfo is None else v.astimezone(dt.timezone.utc)


def _interval_parts(v: Any) -> tuple[int, int, int]:
    if isinstance(v, Interval):
        return v.months, v.days, v.microseconds
    total = (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
    sign = -1 if total < 0 else 1
    days, us = divmod(abs(total), 86_400_000_000)
    return 0, sign * days, sign * us


def _interval_text(v: Any) -> bytes:
    months, days, us = _interval_parts(v)
    parts = []
    years, mons = int(months / 12), months - int(months / 12) * 12
    for n, unit in ((years, "year"), (mons, "mon"), (days, "day")):
        if n:
            parts.append(f"{n} {unit}{'' if n == 1 else 's'}")  # PostgreSQL: '-1 days'
    if us or not parts:
        sign = "-" if us < 0 else ("+" if parts and (months < 0 or days < 0) else "")
        secs, frac = divmod(abs(us), 1_000_000)
        h, rem = divmod(secs, 3600)
        mi, s = divmod(rem, 60)
        parts.append(f"{sign}{h:02d}:{mi:02d}:{s:02d}{_fraction(frac)}")
    return " ".join(parts).encode()


_INTERVAL_UNITS = {"year": ("m", 12), "mon": ("m", 1), "month": ("m", 1), "day": ("d", 1),
                   "week": ("d", 7), "hour": ("u", 3_600_000_000), "minute": ("u", 60_000_000),
                   "min": ("u", 60_000_000), "second": ("u", 1_000_000), "sec": ("u", 1_000_000)}


def _interval_value(months: int, days: int, us: int) -> Any:
    return Interval(months, days, us) if months else dt.timedelta(days=days, microseconds=us)


def _decode_interval_text(b: bytes) -> Any:
    s = bytes(b).decode().strip().lower()
    months = days = us = 0
    if s.startswith("p"):
        return _decode_iso_interval(s)
    words = s.replace("@", "").split()
    i = 0
    while i < len(words):
        w = words[i]
        if ":" in w:
            sign = -1 if w.startswith("-") else 1
            pieces = w.lstrip("+-").split(":")
            h, mi = int(pieces[0]), int(pieces[1])
            sec = Decimal(pieces[2]) if len(pieces) > 2 else Decimal(0)
            us += sign * int((h * 3600 + mi * 60 + sec) * 1_000_000)
            i += 1
            continue
        n = Decimal(w)
        unit = words[i + 1].rstrip("s") if i + 1 < len(words) else "second"
        kind, scale = _INTERVAL_UNITS[unit]
        if kind == "m":
            months += int(n * scale)
        elif kind == "d":
            days += int(n * scale)
        else:
            us += int(n * scale)
        i += 2
    if words and words[-1] == "ago":
        months, days, us = -months, -days, -us
    return _interval_value(months, days, us)


def _decode_iso_interval(s: str) -> Any:
    months = days = us = 0
    date_part, _, time_part = s[1:].partition("t")
    num = ""
    for ch in date_part:
        if ch.isdigit() or ch in ".-":
            num += ch
            continue
        n = Decimal(num)
        num = ""
        if ch == "y":
            months += int(n * 12)
        elif ch == "m":
            months += int(n)
        elif ch == "w":
            days += int(n * 7)
        elif ch == "d":
            days += int(n)
    for ch in time_part:
        if ch.isdigit() or ch in ".-":
            num += ch
            continue
        n = Decimal(num)
        num = ""
        us += int(n * {"h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000}[ch])
    return _interval_value(months, days, us)


def _uuid_text(v: Any) -> bytes:
    return str(v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))).encode()


def _json_text(v: Any) -> bytes:
    if isinstance(v, (str, bytes)):
        return v.encode() if isinstance(v, str) else v
    return json.dumps(v, separators=(", ", ": "), ensure_ascii=False).encode()


# --- binary -----------------------------------------------------------------

_I2, _I4, _I8 = struct.Struct("!h"), struct.Struct("!i"), struct.Struct("!q")
_U4, _F4, _F8 = struct.Struct("!I"), struct.Struct("!f"), struct.Struct("!d")


def _packer(s: struct.Struct, convert: Callable[[Any], Any]) -> Encoder:
    pack = s.pack
    return lambda v: pack(convert(v))


def _unpacker(s: struct.Struct) -> Decoder:
    unpack = s.unpack
    return lambda b: unpack(b)[0]


def _date_binary(v: dt.date) -> bytes:
    if isinstance(v, dt.datetime):
        v = v.date()
    return _I4.pack(v.toordinal() - _PG_EPOCH_ORDINAL)


def _decode_date_binary(b: bytes) -> dt.date:
    return dt.date.fromordinal(_I4.unpack(b)[0] + _PG_EPOCH_ORDINAL)


def _time_binary(v: dt.time) -> bytes:
    return _I8.pack(((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond)


def _decode_time_binary(b: bytes) -> dt.time:
    us = _I8.unpack(b)[0]
    secs, frac = divmod(us, 1_000_000)
    return dt.time(secs // 3600, secs // 60 % 60, secs % 60, frac)


def _micros_since(v: dt.datetime, epoch: dt.datetime) -> int:
    delta = v - epoch
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _timestamp_binary(v: dt.datetime) -> bytes:
    if v.tzinfo is not None:
        v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return _I8.pack(_micros_since(v, PG_EPOCH))


def _timestamptz_binary(v: dt.datetime) -> bytes:
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.timezone.utc)
    return _I8.pack(_micros_since(v, PG_EPOCH_UTC))


def _decode_timestamp_binary(b: bytes) -> dt.datetime:
    return PG_EPOCH + dt.timedelta(microseconds=_I8.unpack(b)[0])


def _decode_timestamptz_binary(b: bytes) -> dt.datetime:
    return PG_EPOCH_UTC + dt.timedelta(microseconds=_I8.unpack(b)[0])


def _interval_binary(v: Any) -> bytes:
    months, days, us = _interval_parts(v)
    return struct.pack("!qii", us, days, months)


def _decode_interval_binary(b: bytes) -> Any:
    us, days, months = struct.unpack("!qii", b)
    return _interval_value(months, days, us)


_NUMERIC_POS, _NUMERIC_NEG, _NUMERIC_NAN = 0x0000, 0x4000, 0xC000
_NUMERIC_PINF, _NUMERIC_NINF = 0xD000, 0xF000


def _numeric_binary(v: Any) -> bytes:
    d = v if isinstance(v, Decimal) else Decimal(str(v)) if isinstance(v, float) else Decimal(v)
    if d.is_nan():
        return struct.pack("!hhHh", 0, 0, _NUMERIC_NAN, 0)
    if d.is_infinite():
        return struct.pack("!hhHh", 0, 0, _NUMERIC_PINF if d > 0 else _NUMERIC_NINF, 0)
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    dscale = max(-exponent, 0)
    # Align the decimal digits to base-10000 groups around the decimal point.
    int_digits = len(digits) + exponent  # digits before the point (may be <= 0)
    pad_left = (4 - int_digits % 4) % 4
    text = "0" * pad_left + "".join(map(str, digits))
    frac_len = len(text) - (int_digits + pad_left)
    if frac_len < 0:
        text += "0" * (-frac_len)
    text += "0" * ((4 - len(text) % 4) % 4)
    groups = [int(text[i:i + 4]) for i in range(0, len(text), 4)]
    weight = (int_digits + pad_left) // 4 - 1
    while groups and groups[0] == 0:  # strip leading and trailing zero groups
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    return struct.pack(f"!hhHh{len(groups)}h", len(groups), weight,
                       _NUMERIC_NEG if sign else _NUMERIC_POS, dscale, *groups)


def _decode_numeric_binary(b: bytes) -> Decimal:
    ndigits, weight, sign, dscale = struct.unpack_from("!hhHh", b)
    if sign == _NUMERIC_NAN:
        return Decimal("NaN")
    if sign in (_NUMERIC_PINF, _NUMERIC_NINF):
        return Decimal("Infinity" if sign == _NUMERIC_PINF else "-Infinity")
    groups = struct.unpack_from(f"!{ndigits}h", b, 8)
    value = 0
    for g in groups:
        value = value * 10000 + g
    exponent = (weight - ndigits + 1) * 4
    wide = Context(prec=max(ndigits * 4 + max(exponent, 0) + dscale, 28) + 8)
    d = Decimal(value).scaleb(exponent, wide).quantize(Decimal(1).scaleb(-dscale), context=wide)
    return -d if sign == _NUMERIC_NEG else d


def _uuid_binary(v: Any) -> bytes:
    return (v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))).bytes


def _bytes(v: Any) -> bytes:
    return bytes(v)


def _jsonb_binary(v: Any) -> bytes:
    return b"\x01" + _json_text(v)


def _decode_jsonb_binary(b: bytes) -> str:
    b = bytes(b)
    if not b.startswith(b"\x01"):
        raise ValueError("unsupported jsonb version")
    return b[1:].decode()


def _char_binary(v: Any) -> bytes:
    return _str_text(v)[:1]


# --- the table ----------------------------------------------------------------

def _t(oid: int, name: str, size: int, et: Encoder, dtx: Decoder, eb: Encoder, db: Decoder) -> PgType:
    return PgType(oid, name, size, et, dtx, eb, db)


_TEXTLIKE = (_str_text, _decode_str, _str_text, _decode_str)
_TYPES = [
    _t(BOOL, "bool", 1, _bool_text, _decode_bool_text, lambda v: b"\x01" if v else b"\x00",
       lambda b: bytes(b) != b"\x00"),
    _t(BYTEA, "bytea", -1, _bytea_text, _decode_bytea_text, _bytes, _bytes),
    _t(CHAR, "char", 1, _str_text, _decode_str, _char_binary, _decode_str),
    _t(NAME, "name", 64, *_TEXTLIKE),
    _t(INT8, "int8", 8, _int_text, lambda b: int(b), _packer(_I8, int), _unpacker(_I8)),
    _t(INT2, "int2", 2, _int_text, lambda b: int(b), _packer(_I2, int), _unpacker(_I2)),
    _t(INT4, "int4", 4, _int_text, lambda b: int(b), _packer(_I4, int), _unpacker(_I4)),
    _t(TEXT, "text", -1, *_TEXTLIKE),
    _t(OID, "oid", 4, _int_text, lambda b: int(b), _packer(_U4, int), _unpacker(_U4)),
    _t(JSON, "json", -1, _json_text, _decode_str, _json_text, _decode_str),
    _t(FLOAT4, "float4", 4, _float_text_with(6, True), _decode_float_text, _packer(_F4, float), _unpacker(_F4)),
    _t(FLOAT8, "float8", 8, _float_text_with(15, False), _decode_float_text, _packer(_F8, float),
       _unpacker(_F8)),
    _t(UNKNOWN, "unknown", -2, *_TEXTLIKE),
    _t(BPCHAR, "bpchar", -1, *_TEXTLIKE),
    _t(VARCHAR, "varchar", -1, *_TEXTLIKE),
    _t(DATE, "date", 4, _date_text, _decode_date_text, _date_binary, _decode_date_binary),
    _t(TIME, "time", 8, _time_text, _decode_time_text, _time_binary, _decode_time_binary),
    _t(TIMESTAMP, "timestamp", 8, _timestamp_text, _decode_timestamp_text, _timestamp_binary,
       _decode_timestamp_binary),
    _t(TIMESTAMPTZ, "timestamptz", 8, _timestamptz_text, _decode_timestamptz_text, _timestamptz_binary,
       _decode_timestamptz_binary),
    _t(INTERVAL, "interval", 16, _interval_text, _decode_interval_text, _interval_binary,
       _decode_interval_binary),
    _t(NUMERIC, "numeric", -1, _numeric_text, _decode_numeric_text, _numeric_binary, _decode_numeric_binary),
    _t(UUID, "uuid", 16, _uuid_text, lambda b: uuid.UUID(bytes(b).decode()), _uuid_binary,
       lambda b: uuid.UUID(bytes=bytes(b))),
    _t(JSONB, "jsonb", -1, _json_text, _decode_str, _jsonb_binary, _decode_jsonb_binary),
]
TYPES: dict[int, PgType] = {t.oid: t for t in _TYPES}


# One-dimensional arrays (what DuckDB lists map to).
def _array_element(v: Any, element: Encoder) -> str:
    if v is None:
        return "NULL"
    s = element(v).decode()
    if s == "" or s.upper() == "NULL" or any(c in s for c in ' {},"\\\t\n'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def _array_text(element: Encoder) -> Encoder:
    def encode(v: Any) -> bytes:
        return ("{" + ",".join(_array_element(x, element) for x in v) + "}").encode()
    return encode


def _array_binary(element_oid: int, element: Encoder) -> Encoder:
    def encode(v: Any) -> bytes:
        items = [None if x is None else element(x) for x in v]
        has_null = any(x is None for x in items)
        if not items:
            return struct.pack("!iii", 0, 0, element_oid)
        parts = [struct.pack("!iiiii", 1, int(has_null), element_oid, len(items), 1)]
        for x in items:
            parts.append(b"\xff\xff\xff\xff" if x is None else _I4.pack(len(x)) + x)
        return b"".join(parts)
    return encode


def _decode_array_text(element: Decoder) -> Decoder:
    """'{1,NULL,"a b"}' -> [1, None, 'a b']: one dimension, as the encoders write it."""
    def decode(b: bytes) -> list:
        try:
            return parse(bytes(b).decode())
        except IndexError:
            raise ValueError(f'malformed array literal: "{bytes(b).decode()}"') from None

    def parse(text: str) -> list:
        if not (text.startswith("{") and text.endswith("}")) or "{" in text[1:-1]:
            raise ValueError(f'malformed array literal: "{text}"')
        items, i, body = [], 0, text[1:-1]
        while i < len(body):
            if body[i] == '"':
                j, raw = i + 1, []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                    raw.append(body[j])
                    j += 1
                items.append(element("".join(raw).encode()))
                i = j + 2  # past the quote and the comma
            else:
                j = body.find(",", i)
                j = len(body) if j < 0 else j
                word = body[i:j].strip()
                items.append(None if word.upper() == "NULL" else element(word.encode()))
                i = j + 1
        return items
    return decode


def _decode_array_binary(element: Decoder) -> Decoder:
    def decode(b: bytes) -> list:
        try:
            return parse(bytes(b))
        except struct.error:
            raise ValueError("array value shorter than its header") from None

    def parse(data: bytes) -> list:
        ndim, _has_null, _element_oid = struct.unpack_from("!iiI", data)
        if ndim == 0:
            return []
        if ndim != 1:
            raise ValueError("only one-dimensional arrays are supported")
        count, _lower = struct.unpack_from("!ii", data, 12)
        items, offset = [], 20
        for _ in range(count):
            (size,) = _I4.unpack_from(data, offset)
            offset += 4
            if size < 0:
                items.append(None)
                continue
            if offset + size > len(data):
                raise ValueError("array element runs past the end of the value")
            items.append(element(data[offset:offset + size]))
            offset += size
        if offset != len(data):
            raise ValueError("trailing bytes after the array's elements")
        return items
    return decode


for _oid, _name, _elem in ((1000, "_bool", BOOL), (1005, "_int2", INT2), (1007, "_int4", INT4),
                           (1016, "_int8", INT8), (1009, "_text", TEXT), (1015, "_varchar", VARCHAR),
                           (1021, "_float4", FLOAT4), (1022, "_float8", FLOAT8), (1028, "_oid", OID),
                           (1003, "_name", NAME)):
    _et = TYPES[_elem]
    TYPES[_oid] = PgType(_oid, _name, -1, _array_text(_et.encode_text), _decode_array_text(_et.decode_text),
                         _array_binary(_elem, _et.encode_binary), _decode_array_binary(_et.decode_binary))


def _vector_text(v: Any) -> bytes:
    return " ".join(str(x) for x in v).encode()


def _decode_vector_text(b: bytes) -> list[int]:
    return [int(x) for x in bytes(b).decode().split()]


# int2vector and oidvector (pg_index.indkey, pg_proc.proargtypes): space-separated
# in text, an int2[] / oid[] on the wire in binary.
for _oid, _name, _elem in ((22, "int2vector", INT2), (30, "oidvector", OID)):
    _et = TYPES[_elem]
    TYPES[_oid] = PgType(_oid, _name, -1, _vector_text, _decode_vector_text,
                         _array_binary(_elem, _et.encode_binary), _decode_array_binary(_et.decode_binary))


def pg_type(oid: int) -> PgType:
    return TYPES.get(oid) or TYPES[TEXT]


def encoder(oid: int, binary: bool) -> Encoder:
    t = pg_type(oid)
    return t.encode_binary if binary else t.encode_text


def encode_value(value: Any, oid: int, binary: bool) -> bytes | None:
    return None if value is None else encoder(oid, binary)(value)


def decode_value(data: bytes | None, oid: int, binary: bool) -> Any:
    if data is None:
        return None
    t = pg_type(oid)
    return t.decode_binary(data) if binary else t.decode_text(data)
