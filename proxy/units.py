"""Durations and sizes written the way PostgreSQL writes its settings.

statement_timeout takes an integer (milliseconds) or a number with a unit
(us, ms, s, min, h, d: case-sensitive, as in PostgreSQL); memory sizes take an
integer (bytes) or a number with B, kB, MB, GB, TB (DuckDB's KiB/MiB/GiB/TiB
and KB too). Both print back in the largest unit that divides exactly, as
PostgreSQL's SHOW does.
"""
from __future__ import annotations

import re

MAX_TIMEOUT_MS = 2**31 - 1  # PostgreSQL's range for statement_timeout

_TIME_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_SIZE_UNITS = {"B": 1, "kB": 1024, "KB": 1024, "KiB": 1024, "MB": 1024**2, "MiB": 1024**2,
               "GB": 1024**3, "GiB": 1024**3, "TB": 1024**4, "TiB": 1024**4}
_NUMBER_UNIT = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*")


def _split(value: str) -> tuple[float, str]:
    match = _NUMBER_UNIT.fullmatch(value)
    if match is None:
        raise ValueError("expected a number, optionally followed by a unit")
    return float(match[1]), match[2]


def parse_duration_ms(value: object) -> int:
    """A timeout in milliseconds: 1500, '1500', '1.5s', '2min' -> 1500, 1500, 1500, 120000."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 60s, 500ms or 2min")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        number, unit = _split(str(value))
    if unit and unit not in _TIME_UNITS_MS:
        raise ValueError('valid units for this parameter are "us", "ms", "s", "min", "h", and "d"')
    ms = round(number * _TIME_UNITS_MS.get(unit, 1))
    if not 0 <= ms <= MAX_TIMEOUT_MS:
        raise ValueError(f"{ms} ms is outside the valid range (0 .. {MAX_TIMEOUT_MS})")
    return ms


def format_duration_ms(ms: int) -> str:
    """PostgreSQL's SHOW form: 60000 -> '1min', 1500 -> '1500ms', 0 -> '0'."""
    if ms == 0:
        return "0"
    for unit in ("d", "h", "min", "s"):
        size = _TIME_UNITS_MS[unit]
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_size(value: object) -> int:
    """A size in bytes: 1048576, '1MB', '4GiB', '512 kB' (units are powers of 1024)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512MB or 4GB")
    if isinstance(value, int):
        number, unit = float(value), "B"
    else:
        number, unit = _split(str(value))
        unit = unit or "B"
    if unit not in _SIZE_UNITS:
        raise ValueError(f'unknown unit "{unit}"; use B, kB, MB, GB or TB')
    if number < 0:
        raise ValueError("a size cannot be negative")
    return int(number * _SIZE_UNITS[unit])


def format_size(size: int) -> str:
    """For messages and DuckDB settings: 4294967296 -> '4GB' (powers of 1024, as parsed)."""
    for unit in ("TB", "GB", "MB", "kB"):
        if size and size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return f"{size}B"
