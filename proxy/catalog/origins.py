"""Result columns labelled with the role's catalog OID and column number of the
stored column they read straight through (RowDescription's table OID and attnum),
so a client looking them up in pg_attribute finds the role's own rows."""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from proxy.backends.base import ResultColumn
from proxy.rewrite.column_origins import Origin


def with_origins(columns: Sequence[ResultColumn], origins: Sequence[Origin | None],
                 tables: Mapping[str, tuple[int, tuple[str, ...]]]) -> list[ResultColumn]:
    out, i = list(columns), 0
    for origin in origins:
        if origin is None:
            i += 1
            continue
        oid, names = tables.get(origin.table, (0, ()))
        if origin.column is None:  # * or t.*: the table's visible columns, in order
            if not names:
                break  # how many result columns the star became is unknown: label nothing further
            for attnum, name in enumerate(names, start=1):
                if i < len(out) and out[i].name == name:
                    out[i] = replace(out[i], table_oid=oid, column_number=attnum)
                i += 1
            continue
        if origin.column in names and i < len(out):
            out[i] = replace(out[i], table_oid=oid, column_number=names.index(origin.column) + 1)
        i += 1
    return out
