"""A role's catalog as real tables in an in-memory DuckDB database.

Every extracted relation becomes a table in schema `pgcat` (DuckDB owns
`pg_catalog` and `information_schema`; `pgcat.information_schema_columns`
holds information_schema.columns), empty when the role has no rows, so catalog
statements can later be transpiled to run here. Each column's PostgreSQL type
OID is kept so results can be described with PostgreSQL's types.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Mapping, Sequence

import duckdb

from proxy.catalog.definitions import CatalogColumn, definitions, pg_types
from proxy.catalog.functions import install_functions
from proxy.catalog.model import VisibleColumn, assign_oids, catalog_rows, visible_primary_keys

SCHEMA = "pgcat"
# PostgreSQL type OID -> DuckDB type able to hold its values as the catalog stores them.
_DUCKDB_TYPES = {
    16: "BOOLEAN", 20: "BIGINT", 21: "SMALLINT", 23: "INTEGER", 700: "REAL", 701: "DOUBLE", 1700: "DOUBLE",
    # oid: unsigned 32 bits, as in PostgreSQL, and the store's only UINTEGER (see STORE_TYPE_OIDS)
    26: "UINTEGER", 28: "BIGINT", 29: "BIGINT", 5069: "UBIGINT", 2205: "BIGINT", 2206: "BIGINT",
    22: "SMALLINT[]", 30: "UINTEGER[]",  # int2vector, oidvector
    1082: "DATE", 1114: "TIMESTAMP", 1184: "TIMESTAMPTZ", 1186: "INTERVAL",
}

# DuckDB result types that can only hold one PostgreSQL type, whatever the expression.
STORE_TYPE_OIDS = {"UINTEGER": 26, "UINTEGER[]": 1028}


@dataclass
class CatalogStore:
    connection: duckdb.DuckDBPyConnection
    column_types: Mapping[str, Mapping[str, int]]  # table in pgcat -> column -> PostgreSQL type OID
    tables: Mapping[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)  # visible table -> (OID, columns)
    shapes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # result shapes, for DuckDBCursor

    def close(self) -> None:
        self.connection.close()


def table_name(relation: str) -> str:
    """pg_catalog.pg_class -> pg_class; information_schema.columns -> information_schema_columns."""
    schema, name = relation.split(".")
    return name if schema == "pg_catalog" else f"{schema}_{name}"


@cache
def relations() -> Mapping[str, tuple[CatalogColumn, ...]]:
    """Every relation the store holds, by its PostgreSQL name ("pg_catalog.pg_class")."""
    return definitions().relations


def duckdb_type(type_oid: int) -> str:
    """Arrays become LISTs of their element; names, text, "char", regproc and the rest VARCHAR."""
    if type_oid in _DUCKDB_TYPES:
        return _DUCKDB_TYPES[type_oid]
    pg_type = pg_types().get(type_oid)
    if pg_type and pg_type["typelem"] and str(pg_type["typname"]).startswith("_"):
        return duckdb_type(int(pg_type["typelem"])) + "[]"
    return "VARCHAR"


def build_store(tables: Mapping[str, Sequence[VisibleColumn]], primary_keys: Mapping[str, Sequence[str]] | None = None,
                *, database: str, user: str) -> CatalogStore:
    connection = duckdb.connect(":memory:")
    connection.execute(f"CREATE SCHEMA {SCHEMA}")
    rows = catalog_rows(tables, primary_keys, database=database, user=user)
    types = {}
    for relation, columns in relations().items():
        name = table_name(relation)
        types[name] = {c.name: c.wire_oid for c in columns}
        column_types = [duckdb_type(c.wire_oid) for c in columns]
        ddl = ", ".join(f'"{c.name}" {t}' for c, t in zip(columns, column_types))
        connection.execute(f"CREATE TABLE {SCHEMA}.{name} ({ddl})")
        _insert(connection, name, column_types, rows.get(relation, []))
    install_functions(connection)
    _lock_down(connection)
    oids = assign_oids(list(tables), visible_primary_keys(tables, primary_keys or {}))
    visible = {t: (oids.tables[t], tuple(c.name for c in columns)) for t, columns in tables.items()}
    return CatalogStore(connection, types, visible)


def _lock_down(connection: duckdb.DuckDBPyConnection) -> None:
    """Client SQL runs here: no files, network or extensions, little memory, and
    no way to change that (defence in depth behind transpile's allow-list)."""
    for setting in ("SET enable_external_access = false", "SET autoinstall_known_extensions = false",
                    "SET autoload_known_extensions = false", "SET memory_limit = '256MB'", "SET threads = 1",
                    "SET lock_configuration = true"):
        connection.execute(setting)


def _insert(connection: duckdb.DuckDBPyConnection, name: str, types: list[str], rows: list[tuple]) -> None:
    """One columnar statement per table (unnest of one list per column): row-by-row
    executemany takes seconds for pg_proc's 3,000 rows."""
    if rows:
        columns = [list(values) for values in zip(*rows)]
        select = ", ".join(f"unnest(?::{t}[])" for t in types)
        connection.execute(f"INSERT INTO {SCHEMA}.{name} SELECT {select}", columns)
