"""COPY TO STDOUT formatting (proxy/wire/copy.py), as PostgreSQL 15 writes text and CSV."""
from __future__ import annotations

import struct

import pytest

from proxy.wire.copy import CopyFormat, copy_done, copy_out_response, line

TEXT, CSV = CopyFormat(), CopyFormat(csv=True, delimiter=",", null="")


def payload(message: bytes) -> str:
    assert message[:1] == b"d" and struct.unpack("!i", message[1:5])[0] == len(message) - 1
    return message[5:].decode()


@pytest.mark.parametrize("values, text", [
    (["a", None, ""], "a\t\\N\t\n"),
    (["tab\there", "new\nline", "back\\slash", "cr\r"], "tab\\there\tnew\\nline\tback\\\\slash\tcr\\r\n"),
])
def test_text_format_escapes_as_postgresql(values, text):
    assert payload(line(values, TEXT)) == text


@pytest.mark.parametrize("values, text", [
    (["a", None, ""], 'a,,""\n'),
    (["x,y", 'say "hi"', "two\nlines", "\\."], '"x,y","say ""hi""","two\nlines","\\."\n'),
])
def test_csv_quotes_what_postgresql_quotes(values, text):
    assert payload(line(values, CSV)) == text


def test_a_custom_delimiter_is_escaped_in_text():
    assert payload(line(["a|b"], CopyFormat(delimiter="|"))) == "a\\|b\n"


def test_framing():
    assert copy_out_response(2) == b"H\x00\x00\x00\x0b\x00\x00\x02\x00\x00\x00\x00"
    assert copy_done() == b"c\x00\x00\x00\x04"
