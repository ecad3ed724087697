"""information_schema rows for a role's visible schema, computed as PostgreSQL 15's
information_schema views compute them from pg_attribute and pg_type."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from proxy.catalog.definitions import definitions, pg_types

if TYPE_CHECKING:
    from proxy.catalog.model import VisibleColumn

PG_CATALOG_NS, PUBLIC_NS = 11, 2200
MAX_CHAR_LENGTH = 1 << 30  # character_octet_length of an unbounded string
UTF8_MAX_BYTES = 4
CHAR_TYPES = {25, 1042, 1043}  # text, bpchar, varchar
BINARY_PRECISION = {21: 16, 23: 32, 20: 64, 700: 24, 701: 53}  # int2, int4, int8, float4, float8
NUMERIC = 1700
DATE = 1082
TIME_TYPES = {1083, 1266, 1114, 1184, 1186}  # time, timetz, timestamp, timestamptz, interval
DEFAULT_TIME_PRECISION = 6


def information_schema_rows(tables: Mapping[str, Sequence[VisibleColumn]], keys: Mapping[str, list[str]],
                            table_oids: Mapping[str, int], *, database: str, user: str) -> dict[str, list[dict]]:
    return {
        "information_schema.schemata": schemata_rows(database, user),
        "information_schema.tables": [table_row(database, t) for t in sorted(tables)],
        "information_schema.columns": [column_row(database, t, num, c) for t in sorted(tables)
                                       for num, c in enumerate(tables[t], start=1)],
        "information_schema.table_constraints": constraint_rows(database, tables, keys, table_oids),
        "information_schema.key_column_usage": [
            key_usage_row(database, t, name, position) for t in sorted(keys)
            for position, name in enumerate(keys[t], start=1)],
    }


def schemata_rows(database: str, user: str) -> list[dict]:
    owners = {"pg_catalog": user, "information_schema": user, "public": "pg_database_owner"}
    return [{"catalog_name": database, "schema_name": name, "schema_owner": owner}
            for name, owner in sorted(owners.items())]


def table_row(database: str, table: str) -> dict:
    return {"table_catalog": database, "table_schema": "public", "table_name": table, "table_type": "BASE TABLE",
            "is_insertable_into": "YES", "is_typed": "NO"}


def column_row(database: str, table: str, num: int, column: VisibleColumn) -> dict:
    pg_type = pg_types()[column.type_oid]
    return {"table_catalog": database, "table_schema": "public", "table_name": table,
            "column_name": column.name, "ordinal_position": num, "is_nullable": "NO" if column.not_null else "YES",
            "data_type": data_type(column.type_oid), **type_details(column.type_oid, column.typmod),
            "udt_catalog": database, "udt_schema": "pg_catalog", "udt_name": pg_type["typname"],
            "dtd_identifier": str(num), "is_self_referencing": "NO", "is_identity": "NO", "identity_cycle": "NO",
            "is_generated": "NEVER", "is_updatable": "YES"}


def data_type(type_oid: int) -> str:
    pg_type = pg_types()[type_oid]
    if pg_type["typelem"] != 0 and str(pg_type["typname"]).startswith("_"):
        return "ARRAY"
    if pg_type["typnamespace"] != PG_CATALOG_NS:
        return "USER-DEFINED"
    return definitions().type_names[type_oid]


def type_details(type_oid: int, typmod: int) -> dict:
    """character_*, numeric_* and datetime_precision, decoded from the typmod as
    information_schema's _pg_char_max_length, _pg_numeric_precision... do."""
    if type_oid in CHAR_TYPES:
        length = typmod - 4 if typmod >= 0 and type_oid != 25 else None
        octets = length * UTF8_MAX_BYTES if length is not None else MAX_CHAR_LENGTH
        return {"character_maximum_length": length, "character_octet_length": octets}
    if type_oid in BINARY_PRECISION:
        scale = 0 if type_oid in (20, 21, 23) else None
        return {"numeric_precision": BINARY_PRECISION[type_oid], "numeric_precision_radix": 2, "numeric_scale": scale}
    if type_oid == NUMERIC:
        if typmod < 0:
            return {"numeric_precision_radix": 10}
        return {"numeric_precision": ((typmod - 4) >> 16) & 0xFFFF, "numeric_precision_radix": 10,
                "numeric_scale": (typmod - 4) & 0xFFFF}
    if type_oid == DATE:
        return {"datetime_precision": 0}
    if type_oid in TIME_TYPES:
        precision = typmod if typmod >= 0 and type_oid != 1186 else DEFAULT_TIME_PRECISION
        return {"datetime_precision": precision}
    return {}


def constraint_rows(database: str, tables: Mapping[str, Sequence[VisibleColumn]], keys: Mapping[str, list[str]],
                    table_oids: Mapping[str, int]) -> list[dict]:
    """Primary keys, and the CHECK row PostgreSQL 15 lists for every NOT NULL column."""
    base = {"constraint_catalog": database, "constraint_schema": "public", "table_catalog": database,
            "table_schema": "public", "is_deferrable": "NO", "initially_deferred": "NO", "enforced": "YES"}
    rows = [{**base, "constraint_name": f"{t}_pkey", "table_name": t, "constraint_type": "PRIMARY KEY"}
            for t in sorted(keys)]
    rows += [{**base, "constraint_name": f"{PUBLIC_NS}_{table_oids[t]}_{num}_not_null", "table_name": t,
              "constraint_type": "CHECK"}
             for t in sorted(tables) for num, c in enumerate(tables[t], start=1) if c.not_null]
    return rows


def key_usage_row(database: str, table: str, column: str, position: int) -> dict:
    return {"constraint_catalog": database, "constraint_schema": "public", "constraint_name": f"{table}_pkey",
            "table_catalog": database, "table_schema": "public", "table_name": table, "column_name": column,
            "ordinal_position": position}
