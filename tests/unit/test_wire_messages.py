"""The frontend decoder and backend encoders, fed bytes directly (no sockets)."""
import struct

import pytest

from proxy.wire import messages as m


def startup_packet(params: dict[str, str], version: int = m.PROTOCOL_3_0) -> bytes:
    body = struct.pack("!i", version) + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def typed(code: bytes, body: bytes) -> bytes:
    return code + struct.pack("!i", len(body) + 4) + body


def decode_all(data: bytes, startup_done: bool = True) -> list:
    d = m.FrontendDecoder()
    d.expect_startup = not startup_done
    d.logged_in = startup_done
    d.feed(data)
    return list(d)


def logged_in(limits: m.MessageLimits = m.MessageLimits()) -> m.FrontendDecoder:
    d = m.FrontendDecoder(limits)
    d.expect_startup, d.logged_in = False, True
    return d


def test_startup_message_and_version():
    [msg] = decode_all(startup_packet({"user": "alice", "database": "demo"}), startup_done=False)
    assert msg == m.StartupMessage(3, 0, {"user": "alice", "database": "demo"})


def test_startup_with_newer_minor_version_is_accepted():
    [msg] = decode_all(startup_packet({"user": "a"}, (3 << 16) | 2), startup_done=False)
    assert (msg.major, msg.minor) == (3, 2)


def test_ssl_request_then_startup_in_one_buffer():
    ssl = struct.pack("!ii", 8, m.SSL_REQUEST_CODE)
    d = m.FrontendDecoder()
    d.feed(ssl + startup_packet({"user": "u"}))
    assert isinstance(d.next_message(), m.SSLRequest)
    assert d.expect_startup  # still untyped after an SSLRequest
    assert isinstance(d.next_message(), m.StartupMessage)
    assert not d.expect_startup


def test_cancel_request():
    [msg] = decode_all(struct.pack("!iiii", 16, m.CANCEL_REQUEST_CODE, 1234, -5), startup_done=False)
    assert msg == m.CancelRequest(1234, -5)


def test_messages_split_across_feeds_are_reassembled():
    data = typed(b"Q", b"select 1\0") + typed(b"S", b"")
    d = logged_in()
    out = []
    for i in range(len(data)):
        d.feed(data[i:i + 1])
        out.extend(d)
    assert out == [m.Query("select 1"), m.Sync()]


def test_extended_protocol_messages():
    parse = typed(b"P", b"s1\0select $1\0" + struct.pack("!hI", 1, 23))
    bind = typed(b"B", b"p1\0s1\0" + struct.pack("!hh", 1, 1) + struct.pack("!h", 2)
                 + struct.pack("!i", 4) + struct.pack("!i", 7) + struct.pack("!i", -1)
                 + struct.pack("!hh", 1, 1))
    describe = typed(b"D", b"Pp1\0")
    execute = typed(b"E", b"p1\0" + struct.pack("!i", 10))
    close = typed(b"C", b"Ss1\0")
    msgs = decode_all(parse + bind + describe + execute + close + typed(b"H", b"") + typed(b"X", b""))
    assert msgs == [
        m.Parse("s1", "select $1", (23,)),
        m.Bind("p1", "s1", (1,), (struct.pack("!i", 7), None), (1,)),
        m.Describe("P", "p1"), m.Execute("p1", 10), m.Close("S", "s1"), m.Flush(), m.Terminate(),
    ]


@pytest.mark.parametrize("data", [
    typed(b"Q", b"no terminator"),                       # string without NUL
    typed(b"Z", b""),                                    # not a frontend message
    b"Q" + struct.pack("!i", 2),                         # length below 4
    typed(b"D", b"Xname\0"),                             # bad describe kind
    typed(b"B", b"p\0s\0" + struct.pack("!h", 5)),       # counts beyond the body
    typed(b"S", b"extra"),                               # trailing bytes
])
def test_malformed_messages_raise_protocol_error(data):
    with pytest.raises(m.ProtocolError):
        decode_all(data)


def test_oversized_startup_packet_is_refused_before_buffering_it():
    d = m.FrontendDecoder()
    d.feed(struct.pack("!i", 1 << 24))
    with pytest.raises(m.ProtocolError):
        d.next_message()


def test_unsupported_protocol_major_is_refused():
    with pytest.raises(m.ProtocolError):
        decode_all(startup_packet({"user": "a"}, 2 << 16), startup_done=False)


def test_copy_and_function_call_are_reported_not_fatal():
    assert decode_all(typed(b"F", b"whatever")) == [m.Unsupported("F")]


def test_sasl_initial_response():
    payload = b"SCRAM-SHA-256\0" + struct.pack("!i", 3) + b"abc"
    assert m.parse_sasl_initial(payload) == ("SCRAM-SHA-256", b"abc")


def test_backend_encoders_produce_protocol_bytes():
    assert m.ready_for_query("T") == b"Z\0\0\0\x05T"
    assert m.authentication_ok() == b"R\0\0\0\x08\0\0\0\0"
    assert m.command_complete("SELECT 1") == b"C\0\0\0\x0dSELECT 1\0"
    assert m.data_row([b"1", None]) == b"D\0\0\0\x0f\0\x02\0\0\0\x011\xff\xff\xff\xff"
    assert m.parameter_description([23, 25]) == b"t\0\0\0\x0e\0\x02\0\0\0\x17\0\0\0\x19"
    assert m.empty_query_response() == b"I\0\0\0\x04"


def test_row_description_layout():
    out = m.row_description([m.Column("id", 23, 4)], [1])
    body = b"\0\x01" + b"id\0" + struct.pack("!ihihih", 0, 0, 23, 4, -1, 1)
    assert out == b"T" + struct.pack("!i", len(body) + 4) + body


def test_error_response_fields():
    out = m.error_response(m.Notice("ERROR", "42P01", 'relation "x" does not exist', hint="h", position=5))
    assert out.startswith(b"E")
    assert b"SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0Hh\0P5\0\0" in out


def test_negotiate_protocol_version():
    out = m.negotiate_protocol_version(0, ["_pq_.x"])
    assert out == b"v" + struct.pack("!iii", 4 + 8 + 7, 0, 1) + b"_pq_.x\0"


def test_data_rows_batch_equals_row_by_row_encoding():
    rows = [(1, "a", None), (None, "héllo", 2.5)]
    encoders = [lambda v: str(v).encode(), lambda v: v.encode(), lambda v: repr(v).encode()]
    expected = b"".join(m.data_row([None if v is None else enc(v) for enc, v in zip(encoders, row)])
                        for row in rows)
    assert m.data_rows(rows, encoders) == expected


def test_result_format_codes_follow_the_bind_rule():
    assert m.result_format_codes((), 3) == [0, 0, 0]
    assert m.result_format_codes((1,), 2) == [1, 1]
    assert m.result_format_codes((0, 1), 2) == [0, 1]
    with pytest.raises(ValueError):
        m.result_format_codes((0, 1), 3)


def test_invalid_utf8_query_is_reported_not_fatal():
    assert decode_all(typed(b"Q", b"select '\xff'\0")) == [m.InvalidText("Q")]


def test_parse_with_parameter_oids_that_are_not_utf8_bytes():
    # jsonb's oid 3802 is b"\x00\x00\x0e\xda": binary, not text, and must not be decoded
    [msg] = decode_all(typed(b"P", b"\0select $1\0" + struct.pack("!hI", 1, 3802)))
    assert msg == m.Parse("", "select $1", (3802,))


def test_before_login_only_sasl_responses_are_read_and_a_bad_type_fails_at_its_first_byte():
    d = m.FrontendDecoder()
    d.expect_startup = False  # after the StartupMessage, before AuthenticationOk
    d.feed(typed(b"p", b"n,,n=,r=abc"))
    assert d.next_message() == m.AuthResponse(b"n,,n=,r=abc")
    d.feed(b"Q")  # one byte of a Query: refused before any length or body arrives
    with pytest.raises(m.ProtocolError, match="before authentication"):
        d.next_message()


def test_before_login_a_large_declared_sasl_message_fails_from_its_header():
    d = m.FrontendDecoder()
    d.expect_startup = False
    d.feed(b"p" + struct.pack("!i", 1 << 30))  # declares 1 GB, sends five bytes
    with pytest.raises(m.ProtocolError, match="at most 2048"):
        d.next_message()


def test_an_oversized_query_is_skipped_unread_and_the_next_message_decodes():
    d = logged_in(m.MessageLimits(statement=1000))
    big = typed(b"Q", b"SELECT " + b"1" * 5_000_000 + b"\0")
    d.feed(big[:65536])
    msg = d.next_message()
    assert isinstance(msg, m.TooLarge) and msg.type_code == "Q" and msg.length == len(big) - 1
    peak = d.buffered
    for i in range(65536, len(big), 65536):
        d.feed(big[i:i + 65536])
        assert d.next_message() is None
        peak = max(peak, d.buffered)
    assert peak == 0  # nothing of the refused body was kept
    d.feed(typed(b"Q", b"select 2\0"))
    assert d.next_message() == m.Query("select 2")


def test_copy_and_function_call_bodies_are_never_buffered():
    d = logged_in()
    d.feed(b"d" + struct.pack("!i", 100_000_004) + b"x" * 1000)
    assert d.next_message() == m.Unsupported("d")
    assert d.buffered == 0


@pytest.mark.parametrize("data", [b"S" + struct.pack("!i", 1 << 20), b"D" + struct.pack("!i", 1 << 20)])
def test_control_messages_declaring_large_bodies_fail_from_the_header(data):
    d = logged_in()
    d.feed(data)
    with pytest.raises(m.ProtocolError):
        d.next_message()


def test_bind_counts_are_unsigned_up_to_65535_as_in_postgresql():
    n = 40_000
    body = (b"\0s\0" + struct.pack("!H", 0) + struct.pack("!H", n) + struct.pack("!i", -1) * n
            + struct.pack("!H", 0))
    [msg] = decode_all(typed(b"B", body))
    assert len(msg.params) == n
    parse = typed(b"P", b"\0select 1\0" + struct.pack("!H", n) + struct.pack("!I", 23) * n)
    [msg] = decode_all(parse)
    assert len(msg.param_oids) == n
