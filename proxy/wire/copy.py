"""COPY ... TO STDOUT on the wire: CopyOutResponse, CopyData lines in PostgreSQL's
text or CSV format, CopyDone. Pure functions from values to bytes."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable, Sequence

_SPECIAL = {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


@dataclass(frozen=True, slots=True)
class CopyFormat:
    csv: bool = False
    header: bool = False
    delimiter: str = "\t"
    null: str = "\\N"
    quote: str = '"'


def copy_out_response(columns: int) -> bytes:
    """Overall format text (0), every column text."""
    body = struct.pack("!bh", 0, columns) + struct.pack(f"!{columns}h", *([0] * columns))
    return b"H" + struct.pack("!i", len(body) + 4) + body


def copy_done() -> bytes:
    return b"c\x00\x00\x00\x04"


def _copy_data(line: str) -> bytes:
    data = line.encode()
    return b"d" + struct.pack("!i", len(data) + 4) + data


def _text_field(value: str, fmt: CopyFormat) -> str:
    out = "".join(_SPECIAL.get(ch, ch) for ch in value)
    return out.replace(fmt.delimiter, "\\" + fmt.delimiter) if fmt.delimiter not in _SPECIAL else out


def _csv_field(value: str, fmt: CopyFormat) -> str:
    """Quoted when PostgreSQL quotes it: a delimiter, quote, newline, or the NULL string itself."""
    if value == fmt.null or any(c in value for c in (fmt.delimiter, fmt.quote, "\n", "\r")) or value == "\\.":
        return fmt.quote + value.replace(fmt.quote, fmt.quote * 2) + fmt.quote
    return value


def line(values: Sequence[str | None], fmt: CopyFormat) -> bytes:
    field = _csv_field if fmt.csv else _text_field
    return _copy_data(fmt.delimiter.join(fmt.null if v is None else field(v, fmt) for v in values) + "\n")


def header(names: Sequence[str], fmt: CopyFormat) -> bytes:
    return line(list(names), fmt)


def copy_rows(rows: Sequence[Sequence[Any]], encoders: Sequence[Callable[[Any], bytes]], fmt: CopyFormat) -> bytes:
    """CopyData messages for a batch of rows, each value in PostgreSQL's text output."""
    return b"".join(line([None if v is None else enc(v).decode() for v, enc in zip(row, encoders)], fmt)
                    for row in rows)
