"""Value codecs: PostgreSQL's text output exactly, and binary formats checked
against psycopg's own loaders and dumpers (an independent implementation)."""
import datetime as dt
import math
import uuid
from decimal import Decimal

import pytest
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import Format

from proxy.wire import types as pg

UTC = dt.timezone.utc
T = Transformer()

# (oid, value, PostgreSQL 16's text output)
KNOWN_TEXT = [
    (pg.BOOL, True, "t"), (pg.BOOL, False, "f"),
    (pg.INT2, -32768, "-32768"), (pg.INT4, 2147483647, "2147483647"), (pg.INT8, -9223372036854775808, "-9223372036854775808"),
    (pg.FLOAT8, 1.5, "1.5"), (pg.FLOAT8, 100.0, "100"), (pg.FLOAT8, 1e15, "1e+15"),
    (pg.FLOAT8, 123456789012345.0, "123456789012345"), (pg.FLOAT8, 0.0001, "0.0001"), (pg.FLOAT8, 1e-05, "1e-05"),
    (pg.FLOAT8, -0.0, "-0"), (pg.FLOAT8, math.inf, "Infinity"), (pg.FLOAT8, -math.inf, "-Infinity"),
    (pg.FLOAT8, math.nan, "NaN"), (pg.FLOAT8, 0.1 + 0.2, "0.30000000000000004"), (pg.FLOAT8, 1e100, "1e+100"),
    (pg.FLOAT4, 0.1, "0.1"), (pg.FLOAT4, 1e6, "1e+06"), (pg.FLOAT4, 123456.0, "123456"), (pg.FLOAT4, 3.14159, "3.14159"),
    (pg.NUMERIC, Decimal("1.50"), "1.50"), (pg.NUMERIC, Decimal("1E+3"), "1000"), (pg.NUMERIC, Decimal("-0.001"), "-0.001"),
    (pg.NUMERIC, Decimal("NaN"), "NaN"), (pg.NUMERIC, 7, "7"),
    (pg.TEXT, "héllo", "héllo"), (pg.VARCHAR, "", ""),
    (pg.BYTEA, b"\x00\xffA", "\\x00ff41"), (pg.BYTEA, b"", "\\x"),
    (pg.DATE, dt.date(2024, 2, 29), "2024-02-29"), (pg.DATE, dt.date(1, 1, 1), "0001-01-01"),
    (pg.TIME, dt.time(12, 0, 0, 500000), "12:00:00.5"), (pg.TIME, dt.time(0, 0), "00:00:00"),
    (pg.TIMESTAMP, dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
    (pg.TIMESTAMP, dt.datetime(2024, 1, 2, 3, 4, 5, 120), "2024-01-02 03:04:05.00012"),
    (pg.TIMESTAMPTZ, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2024-01-02 01:04:05+00"),
    (pg.INTERVAL, dt.timedelta(days=1, hours=2), "1 day 02:00:00"),
    (pg.INTERVAL, dt.timedelta(seconds=-1), "-00:00:01"),
    (pg.INTERVAL, dt.timedelta(0), "00:00:00"),
    (pg.INTERVAL, dt.timedelta(days=3), "3 days"),
    (pg.INTERVAL, pg.Interval(months=14, days=3, microseconds=14706789000), "1 year 2 mons 3 days 04:05:06.789"),
    (pg.INTERVAL, pg.Interval(days=-1, microseconds=7200000000), "-1 days +02:00:00"),
    (pg.UUID, uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
    (pg.JSONB, {"a": 1, "b": [1, 2]}, '{"a": 1, "b": [1, 2]}'), (pg.JSON, '{"x":1}', '{"x":1}'),
    (1007, [1, None, 3], "{1,NULL,3}"), (1009, ["a", "b c", "", None, 'q"'], '{a,"b c","",NULL,"q\\""}'),
]


@pytest.mark.parametrize("oid,value,text", KNOWN_TEXT)
def test_text_output_matches_postgresql(oid, value, text):
    assert pg.encode_value(value, oid, False) == text.encode()


def same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, Decimal) and a.is_nan():
        return isinstance(b, Decimal) and b.is_nan()
    if isinstance(a, dt.timedelta) and isinstance(b, pg.Interval):
        return pg.Interval(0, a.days, a.seconds * 1_000_000 + a.microseconds) == b
    return a == b and type(a) is type(b) or (isinstance(a, (bytes, bytearray, memoryview)) and bytes(a) == bytes(b))


BINARY_CASES = [
    (pg.BOOL, True), (pg.INT2, -5), (pg.INT4, 2**31 - 1), (pg.INT8, -(2**63)), (pg.FLOAT4, 0.5),
    (pg.FLOAT8, -1.25e-300), (pg.FLOAT8, math.inf), (pg.TEXT, "ünïcode ✓"), (pg.BYTEA, b"\x00\x01\xff"),
    (pg.DATE, dt.date(2000, 1, 1)), (pg.DATE, dt.date(1999, 12, 31)), (pg.DATE, dt.date(9999, 12, 31)),
    (pg.TIME, dt.time(23, 59, 59, 999999)),
    (pg.TIMESTAMP, dt.datetime(2000, 1, 1, 0, 0, 1)), (pg.TIMESTAMP, dt.datetime(1970, 1, 1, 12, 30, 0, 7)),
    (pg.TIMESTAMPTZ, dt.datetime(2024, 6, 1, 8, 0, tzinfo=UTC)),
    (pg.INTERVAL, dt.timedelta(days=-3, microseconds=5)),
    (pg.UUID, uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
    (pg.NUMERIC, Decimal("0")), (pg.NUMERIC, Decimal("12345.678")), (pg.NUMERIC, Decimal("-0.000123")),
    (pg.NUMERIC, Decimal("1.50")), (pg.NUMERIC, Decimal("123456789012345678901234567890.1234567890")),
    (pg.NUMERIC, Decimal("10000")), (pg.NUMERIC, Decimal("1E+12")), (pg.NUMERIC, Decimal("NaN")),
]


@pytest.mark.parametrize("oid,value", BINARY_CASES)
def test_binary_encoding_is_what_psycopg_loads(oid, value):
    ours = pg.encode_value(value, oid, True)
    theirs = T.get_loader(oid, Format.BINARY).load(ours)
    if oid == pg.NUMERIC and not value.is_nan():
        assert theirs == value and format(theirs, "f") == format(value, "f")  # scale kept too
    else:
        assert same(theirs, value) or same(value, theirs)


# psycopg picks int2/4/8 by a Python int's value and float8 for floats, so only
# the types whose dumper matches the column type are compared this way.
@pytest.mark.parametrize("oid,value", [c for c in BINARY_CASES if c[0] not in (
    pg.FLOAT4, pg.TEXT, pg.INT2, pg.INT4, pg.INT8, pg.BOOL)])
def test_binary_decoding_reads_what_psycopg_dumps(oid, value):
    dumped = T.get_dumper(value, PyFormat.BINARY).dump(value)
    decoded = pg.decode_value(bytes(dumped), oid, True)
    if oid == pg.NUMERIC and not value.is_nan():
        assert format(decoded, "f") == format(value, "f")
    else:
        assert same(decoded, value)


def test_known_binary_bytes():
    assert pg.encode_value(dt.datetime(2000, 1, 1, 0, 0, 1), pg.TIMESTAMP, True) == b"\x00\x00\x00\x00\x00\x0fB@"
    assert pg.encode_value(dt.date(2000, 1, 2), pg.DATE, True) == b"\x00\x00\x00\x01"
    # numeric_send of 12345.678: ndigits 3, weight 1, sign +, dscale 3, digits 1 2345 6780
    assert pg.encode_value(Decimal("12345.678"), pg.NUMERIC, True) == bytes.fromhex("0003 0001 0000 0003 0001 0929 1a7c")
    assert pg.encode_value([1, None], 1007, True) == bytes.fromhex("00000001 00000001 00000017 00000002 00000001"
                                                                    "00000004 00000001 ffffffff")


@pytest.mark.parametrize("oid,text,value", [
    (pg.INT4, "42", 42), (pg.BOOL, "true", True), (pg.BOOL, "off", False), (pg.FLOAT8, "Infinity", math.inf),
    (pg.NUMERIC, "1.230", Decimal("1.230")), (pg.DATE, "2024-02-29", dt.date(2024, 2, 29)),
    (pg.TIMESTAMP, "2024-01-02T03:04:05.5", dt.datetime(2024, 1, 2, 3, 4, 5, 500000)),
    (pg.TIMESTAMPTZ, "2024-01-02 03:04:05+05:30", dt.datetime(2024, 1, 1, 21, 34, 5, tzinfo=UTC)),
    (pg.TIMESTAMPTZ, "2024-01-02 03:04:05-02", dt.datetime(2024, 1, 2, 5, 4, 5, tzinfo=UTC)),
    (pg.INTERVAL, "1 day 02:00:00", dt.timedelta(days=1, hours=2)),
    (pg.INTERVAL, "P1Y2M3DT4H5M6S", pg.Interval(14, 3, 14706000000)),
    (pg.INTERVAL, "-00:00:01", dt.timedelta(seconds=-1)),
    (pg.BYTEA, "\\x00ff", b"\x00\xff"), (pg.BYTEA, "a\\\\b\\001", b"a\\b\x01"),
    (pg.UUID, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
])
def test_text_parameters_decode(oid, text, value):
    assert pg.decode_value(text.encode(), oid, False) == value


def test_text_round_trip_for_every_text_case():
    for oid, value, text in KNOWN_TEXT:
        if oid in (1007, 1009, pg.JSONB, pg.JSON):
            continue
        back = pg.decode_value(text.encode(), oid, False)
        assert same(back, value) or same(value, back) or (oid == pg.TIMESTAMPTZ and back == value) \
            or (oid == pg.NUMERIC and format(back, "f") == text) or (oid == pg.FLOAT4 and abs(back - value) < 1e-6), (oid, value)


def test_unknown_oid_falls_back_to_text():
    assert pg.pg_type(123456).name == "text"
    assert pg.encode_value(5, 123456, True) == b"5"


@pytest.mark.parametrize("oid, value", [(1007, [1, None, -3]), (1028, [23, 4294967295]), (1009, ["a b", 'x"y', None, "NULL", ""]),
                                        (1016, [])])
@pytest.mark.parametrize("binary", [False, True])
def test_array_parameters_decode_to_lists(oid, value, binary):
    assert pg.decode_value(pg.encode_value(value, oid, binary), oid, binary) == value


@pytest.mark.parametrize("data, binary", [(b"{1,2", False), (b'{"a}', False), (b"{{1},{2}}", False),
                                          (b"\x00\x00\x00\x01", True), (b"\x00\x00\x00\x02" + bytes(20), True)])
def test_malformed_array_parameters_are_value_errors(data, binary):
    with pytest.raises(ValueError):
        pg.decode_value(data, 1007, binary)


@pytest.mark.parametrize("text", ["2020-01-01 +00", "2020-01-01T00:00:00.000+00:00", "2020-01-01 12:30:00-05",
                                  "2020-01-01Z", " 2020-01-01 "])
def test_date_input_ignores_a_time_and_zone_as_postgresql_does(text):
    """pgJDBC's setDate and node-pg's Date parameters send these; PostgreSQL takes the date."""
    assert pg.decode_value(text.encode(), pg.DATE, False) == dt.date(2020, 1, 1)


@pytest.mark.parametrize("text", ["2020-01-01 x", "2020-01-01 +00 junk", "2020-13-01"])
def test_date_input_refuses_anything_else(text):
    with pytest.raises(ValueError):
        pg.decode_value(text.encode(), pg.DATE, False)



@pytest.mark.parametrize("oid, value", [(pg.TIMESTAMP, dt.datetime(2020, 1, 1)),
                                        (pg.TIMESTAMPTZ, dt.datetime(2020, 1, 1, 5, tzinfo=dt.timezone.utc))])
def test_timestamp_input_takes_a_date_and_zone_as_midnight(oid, value):
    """pgJDBC's setTimestamp/setDate text for a date at midnight: '2020-01-01 -05'."""
    assert pg.decode_value(b"2020-01-01 -05", oid, False) == value
