"""A cursor over a role's catalog store, describing results with PostgreSQL's types.

The store is a DuckDB database, so the DuckDB backend's cursor runs the
statement; a result column read straight from a catalog column is then
described with that column's PostgreSQL type (name, oid, "char") instead of
the DuckDB type that holds it. OIDs are the store's only UINTEGER values, so a
computed column (a CTE's, an array_agg of OIDs) keeps its type too.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from proxy.backends.base import ResultColumn
from proxy.backends.duckdb import DuckDBCursor
from proxy.catalog.store import STORE_TYPE_OIDS, CatalogStore
from proxy.wire import types as pg


class CatalogCursor(DuckDBCursor):
    def __init__(self, store: CatalogStore, column_oids: Sequence[int | None]) -> None:
        # DuckDB connections are not thread-safe: a cursor of its own per statement.
        super().__init__(store.connection.cursor(), store.shapes)
        self._column_oids = column_oids

    def describe(self, sql: str, params: Sequence[Any]) -> list[ResultColumn]:
        return self._relabel(super().describe(sql, params), self._shape(sql, params))

    def execute(self, sql: str, params: Sequence[Any], formats: Sequence[int] = (),
                shape_key: str | None = None) -> list[ResultColumn]:
        return self._relabel(super().execute(sql, params, formats), self._shape(sql, params))

    def _relabel(self, columns: list[ResultColumn], shape: list[tuple[str, str]]) -> list[ResultColumn]:
        out = []
        for i, (column, (_, duck_type)) in enumerate(zip(columns, shape)):
            oid = self._column_oids[i] if i < len(self._column_oids) else None
            oid = oid or STORE_TYPE_OIDS.get(duck_type)
            if oid is not None and oid in pg.TYPES and oid != column.type_oid:
                column = replace(column, type_oid=oid, type_size=pg.TYPES[oid].size)
            out.append(column)
        return out
