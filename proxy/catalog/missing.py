"""PostgreSQL 15 catalog relations psql's `\\d` reads that the extraction did not
take. Nothing the proxy serves has statistics objects or publications, so they
are always empty; their columns (PostgreSQL's, in order) keep them well-typed."""
from __future__ import annotations

from proxy.catalog.definitions import CatalogColumn


def _columns(*spec: tuple[str, str, int]) -> tuple[CatalogColumn, ...]:
    return tuple(CatalogColumn(name, type_name, oid, oid) for name, type_name, oid in spec)


_OID, _NAME, _BOOL, _TEXT = ("oid", 26), ("name", 19), ("boolean", 16), ("pg_node_tree", 194)

MISSING_RELATIONS: dict[str, tuple[CatalogColumn, ...]] = {
    "pg_catalog.pg_statistic_ext": _columns(
        ("oid", *_OID), ("stxrelid", *_OID), ("stxname", *_NAME), ("stxnamespace", *_OID), ("stxowner", *_OID),
        ("stxstattarget", "integer", 23), ("stxkeys", "int2vector", 22), ("stxkind", '"char"[]', 1002),
        ("stxexprs", *_TEXT)),
    "pg_catalog.pg_publication": _columns(
        ("oid", *_OID), ("pubname", *_NAME), ("pubowner", *_OID), ("puballtables", *_BOOL), ("pubinsert", *_BOOL),
        ("pubupdate", *_BOOL), ("pubdelete", *_BOOL), ("pubtruncate", *_BOOL), ("pubviaroot", *_BOOL)),
    "pg_catalog.pg_publication_namespace": _columns(("oid", *_OID), ("pnpubid", *_OID), ("pnnspid", *_OID)),
    "pg_catalog.pg_publication_rel": _columns(
        ("oid", *_OID), ("prpubid", *_OID), ("prrelid", *_OID), ("prqual", *_TEXT), ("prattrs", "int2vector", 22)),
}
