"""PostgreSQL 15's catalog definitions, as tools/extract_pg_catalog.py extracted
them from a real server into proxy/catalog/pg15/ (loaded once, read-only)."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

DATA = Path(__file__).resolve().parent / "pg15"


@dataclass(frozen=True)
class CatalogColumn:
    name: str
    type_name: str  # format_type(atttypid, atttypmod), e.g. "information_schema.sql_identifier"
    type_oid: int  # pg_attribute.atttypid (a domain for information_schema)
    wire_oid: int  # the OID RowDescription carries: a domain's base type


@dataclass(frozen=True)
class Definitions:
    server_version: str
    relations: Mapping[str, tuple[CatalogColumn, ...]]  # "pg_catalog.pg_class" -> columns in order
    relation_oids: Mapping[str, int]  # "pg_catalog.pg_class" -> 1259: a catalog row's tableoid
    relation_kinds: Mapping[str, str]  # "pg_catalog.pg_class" -> "r", "pg_catalog.pg_tables" -> "v"
    rows: Mapping[str, tuple[tuple, ...]]  # built-in rows: pg_type, pg_am, pg_collation, pg_namespace
    type_names: Mapping[int, str]  # format_type(oid, NULL)
    btree_opclasses: Mapping[int, int]  # type OID -> default btree operator class OID

    def column_names(self, relation: str) -> list[str]:
        return [c.name for c in self.relations[relation]]


@cache
def definitions() -> Definitions:
    data = json.loads((DATA / "catalog.json").read_text())
    return Definitions(
        server_version=data["server_version"],
        relations=MappingProxyType({name: tuple(CatalogColumn(*c) for c in columns)
                                    for name, columns in data["relations"].items()}),
        relation_oids=MappingProxyType(data["relation_oids"]),
        relation_kinds=MappingProxyType(data["relation_kinds"]),
        rows=MappingProxyType({name: tuple(map(_frozen, rows)) for name, rows in data["rows"].items()}),
        type_names=MappingProxyType({int(k): v for k, v in data["type_names"].items()}),
        btree_opclasses=MappingProxyType({int(k): v for k, v in data["btree_opclasses"].items()}),
    )


@cache
def builtin_procs() -> tuple[tuple, ...]:
    """pg_proc's built-in rows (3,000+), in pg_catalog.pg_proc column order."""
    return tuple(map(_frozen, json.loads(gzip.decompress((DATA / "pg_proc.json.gz").read_bytes()))))


@cache
def pg_types() -> Mapping[int, Mapping[str, object]]:
    """Built-in pg_type rows by OID, as column -> value."""
    defs = definitions()
    names = defs.column_names("pg_catalog.pg_type")
    return MappingProxyType({row[0]: MappingProxyType(dict(zip(names, row))) for row in defs.rows["pg_catalog.pg_type"]})


def _frozen(row: list) -> tuple:
    """Rows are shared by every role's catalog: arrays become tuples so no caller can alter them."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)
