"""A role's PostgreSQL catalog rows, built from its visible schema.

Pure functions: given the tables and columns a role can see (with the PostgreSQL
type each column reaches the client as), the rows of every catalog relation in
PostgreSQL 15's column order, ready to insert into any SQL engine. Nothing but
the visible schema and PostgreSQL's own built-in rows goes in, so nothing hidden
can come out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from proxy.catalog.definitions import builtin_procs, definitions, pg_types
from proxy.catalog.infoschema import information_schema_rows
from proxy.settings import DEFAULTS

PUBLIC_NS = 2200
LOGIN_OID = 10  # the login owns everything it sees, as the bootstrap superuser would
DATABASE_OWNER_OID = 6171  # pg_database_owner, public's owner since PostgreSQL 14
DATABASE_OID = 16384
FIRST_RELATION_OID = 16385  # the first OID initdb leaves to user objects, after the database
HEAP_AM, BTREE_AM = 2, 403
DEFAULT_TABLESPACE, GLOBAL_TABLESPACE = 1663, 1664
UTF8 = 6
# Zero values PostgreSQL gives catalog columns a row does not set (oids, counts, flags).
_ZERO_TYPES = {16: False, 20: 0, 21: 0, 23: 0, 26: 0, 28: 0, 29: 0, 700: 0.0, 701: 0.0, 5069: 0}


@dataclass(frozen=True)
class VisibleColumn:
    name: str
    type_oid: int  # the PostgreSQL type the role receives (a tokenized integer id is int8)
    typmod: int = -1
    not_null: bool = False


@dataclass(frozen=True)
class Oids:
    """Stable synthetic OIDs: the same visible schema always gets the same numbers."""
    tables: Mapping[str, int]
    indexes: Mapping[str, int]  # the primary-key index per keyed table
    constraints: Mapping[str, int]


def assign_oids(tables: Sequence[str], primary_keys: Mapping[str, Sequence[str]]) -> Oids:
    names = sorted(tables)
    table_oids = {name: FIRST_RELATION_OID + i for i, name in enumerate(names)}
    keyed = [name for name in names if name in primary_keys]
    after = FIRST_RELATION_OID + len(names)
    return Oids(table_oids,
                {name: after + 2 * i for i, name in enumerate(keyed)},
                {name: after + 2 * i + 1 for i, name in enumerate(keyed)})


def visible_primary_keys(tables: Mapping[str, Sequence[VisibleColumn]],
                         primary_keys: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Keys whose every column is visible: a key on a hidden column would name it."""
    visible = {}
    for table, key in primary_keys.items():
        names = {c.name for c in tables.get(table, ())}
        if key and all(column in names for column in key):
            visible[table] = list(key)
    return visible


def catalog_rows(tables: Mapping[str, Sequence[VisibleColumn]], primary_keys: Mapping[str, Sequence[str]] | None = None,
                 *, database: str, user: str) -> dict[str, list[tuple]]:
    """Every extracted catalog relation -> its rows (empty when the role has none)."""
    keys = visible_primary_keys(tables, primary_keys or {})
    oids = assign_oids(list(tables), keys)
    filled: dict[str, list[dict]] = {
        "pg_catalog.pg_class": class_rows(tables, keys, oids) + system_class_rows(),
        "pg_catalog.pg_attribute": attribute_rows(tables, keys, oids) + system_attribute_rows(),
        "pg_catalog.pg_index": index_rows(tables, keys, oids),
        "pg_catalog.pg_constraint": constraint_rows(tables, keys, oids),
        "pg_catalog.pg_namespace": namespace_rows(),
        "pg_catalog.pg_database": [database_row(database)],
        "pg_catalog.pg_roles": role_rows(user),
        "pg_catalog.pg_user": [user_row(user)],
        "pg_catalog.pg_tablespace": tablespace_rows(),
        "pg_catalog.pg_tables": [table_view_row(t, user, t in keys) for t in sorted(tables)]
                                + [system_table_row(r, user) for r in system_relations("r")],
        "pg_catalog.pg_views": [system_view_row(r, user) for r in system_relations("v")],
        "pg_catalog.pg_indexes": [index_view_row(t, keys[t]) for t in sorted(keys)],
        "pg_catalog.pg_settings": setting_rows(),
        **information_schema_rows(tables, keys, oids.tables, database=database, user=user),
    }
    rows = {name: [ordered(name, row) for row in filled.get(name, [])] for name in definitions().relations}
    for name, builtin in definitions().rows.items():  # PostgreSQL's own: types, operators, languages...
        if name != "pg_catalog.pg_namespace":  # public's owner is rewritten above
            rows[name] = list(builtin)
    rows["pg_catalog.pg_proc"] = list(builtin_procs())
    return rows


def ordered(relation: str, values: Mapping[str, object]) -> tuple:
    """A row in the relation's column order; unset pg_catalog columns get PostgreSQL's
    zero value for their type (0, false), anything else NULL."""
    columns = definitions().relations[relation]
    unknown = set(values) - {c.name for c in columns}
    assert not unknown, f"{relation} has no columns {unknown}"
    zero = _ZERO_TYPES if relation.startswith("pg_catalog.") else {}
    return tuple(values[c.name] if c.name in values else zero.get(c.wire_oid) for c in columns)


def namespace_rows() -> list[dict]:
    """PostgreSQL's own pg_catalog, public and information_schema rows, without ACLs
    (they name the extraction server's roles; NULL means the default privileges)."""
    names = definitions().column_names("pg_catalog.pg_namespace")
    rows = [dict(zip(names, row)) for row in definitions().rows["pg_catalog.pg_namespace"]]
    return [{**row, "nspowner": row["nspowner"] if row["oid"] == PUBLIC_NS else LOGIN_OID, "nspacl": None}
            for row in rows]


def class_rows(tables: Mapping[str, Sequence[VisibleColumn]], keys: Mapping[str, list[str]], oids: Oids) -> list[dict]:
    rows = [_relation(oids.tables[t], t, "r", len(tables[t]), HEAP_AM, has_index=t in keys) for t in sorted(tables)]
    rows += [_relation(oids.indexes[t], f"{t}_pkey", "i", len(keys[t]), BTREE_AM, has_index=False) for t in sorted(keys)]
    return rows


def system_relations(kind: str | None = None) -> list[str]:
    """PostgreSQL's own catalog relations ("pg_catalog.pg_class"), of one kind or all."""
    defs = definitions()
    return [r for r in sorted(defs.relations) if kind is None or defs.relation_kinds[r] == kind]


def _namespace_oid(relation: str) -> int:
    schema = relation.split(".")[0]
    return next(row[0] for row in definitions().rows["pg_catalog.pg_namespace"] if row[1] == schema)


def system_class_rows() -> list[dict]:
    """The catalog's own relations, in pg_catalog and information_schema, as PostgreSQL lists
    them (\\dS, DBeaver's system schemas). Their names and columns are PostgreSQL's, public."""
    defs = definitions()
    rows = []
    for relation in system_relations():
        kind = defs.relation_kinds[relation]
        row = _relation(defs.relation_oids[relation], relation.split(".")[1], kind, len(defs.relations[relation]),
                        HEAP_AM if kind == "r" else 0, has_index=False)
        rows.append({**row, "relnamespace": _namespace_oid(relation), "reltuples": -1.0})
    return rows


def system_attribute_rows() -> list[dict]:
    defs = definitions()
    return [_attribute(defs.relation_oids[r], num, VisibleColumn(c.name, c.type_oid))
            for r in system_relations() for num, c in enumerate(defs.relations[r], start=1)
            if c.type_oid in pg_types()]


def system_table_row(relation: str, user: str) -> dict:
    schema, name = relation.split(".")
    return {"schemaname": schema, "tablename": name, "tableowner": user, "hasindexes": False,
            "hasrules": False, "hastriggers": False, "rowsecurity": False}


def system_view_row(relation: str, user: str) -> dict:
    schema, name = relation.split(".")
    return {"schemaname": schema, "viewname": name, "viewowner": user, "definition": None}


def _relation(oid: int, name: str, kind: str, natts: int, am: int, has_index: bool) -> dict:
    """As PostgreSQL has it right after CREATE TABLE: a table's reltuples -1 (never
    analyzed), an index's 0."""
    return {"oid": oid, "relname": name, "relnamespace": PUBLIC_NS, "relowner": LOGIN_OID, "relam": am,
            "relfilenode": oid, "reltuples": -1.0 if kind == "r" else 0.0, "relhasindex": has_index,
            "relpersistence": "p", "relkind": kind, "relnatts": natts, "relispopulated": True, "relreplident": "d" if kind == "r" else "n"}


def attribute_rows(tables: Mapping[str, Sequence[VisibleColumn]], keys: Mapping[str, list[str]], oids: Oids) -> list[dict]:
    rows = [_attribute(oids.tables[t], num, column)
            for t in sorted(tables) for num, column in enumerate(tables[t], start=1)]
    for t in sorted(keys):  # an index has one attribute per key column, never marked NOT NULL
        by_name = {c.name: replace(c, not_null=False) for c in tables[t]}
        rows += [_attribute(oids.indexes[t], num, by_name[name]) for num, name in enumerate(keys[t], start=1)]
    return rows


def _attribute(relid: int, num: int, column: VisibleColumn) -> dict:
    pg_type = pg_types()[column.type_oid]
    return {"attrelid": relid, "attname": column.name, "atttypid": column.type_oid, "attstattarget": -1,
            "attlen": pg_type["typlen"], "attnum": num, "attndims": int(is_array(column.type_oid)),
            "attcacheoff": -1, "atttypmod": column.typmod, "attbyval": pg_type["typbyval"],
            "attalign": pg_type["typalign"], "attstorage": pg_type["typstorage"], "attcompression": "",
            "attnotnull": column.not_null, "attidentity": "", "attgenerated": "", "attislocal": True,
            "attcollation": pg_type["typcollation"]}


def is_array(type_oid: int) -> bool:
    pg_type = pg_types()[type_oid]
    return pg_type["typelem"] != 0 and str(pg_type["typname"]).startswith("_")


def key_attnums(columns: Sequence[VisibleColumn], key: Sequence[str]) -> list[int]:
    position = {c.name: num for num, c in enumerate(columns, start=1)}
    return [position[name] for name in key]


def index_rows(tables: Mapping[str, Sequence[VisibleColumn]], keys: Mapping[str, list[str]], oids: Oids) -> list[dict]:
    rows = []
    for t in sorted(keys):
        by_name = {c.name: c for c in tables[t]}
        types = [by_name[name].type_oid for name in keys[t]]
        rows.append({"indexrelid": oids.indexes[t], "indrelid": oids.tables[t], "indnatts": len(types),
                     "indnkeyatts": len(types), "indisunique": True, "indisprimary": True, "indimmediate": True,
                     "indisvalid": True, "indisready": True, "indislive": True,
                     "indkey": tuple(key_attnums(tables[t], keys[t])),
                     "indcollation": tuple(pg_types()[oid]["typcollation"] for oid in types),
                     "indclass": tuple(definitions().btree_opclasses.get(oid, 0) for oid in types),
                     "indoption": tuple(0 for _ in types)})
    return rows


def constraint_rows(tables: Mapping[str, Sequence[VisibleColumn]], keys: Mapping[str, list[str]], oids: Oids) -> list[dict]:
    return [{"oid": oids.constraints[t], "conname": f"{t}_pkey", "connamespace": PUBLIC_NS, "contype": "p",
             "convalidated": True, "conrelid": oids.tables[t], "conindid": oids.indexes[t], "confupdtype": " ",
             "confdeltype": " ", "confmatchtype": " ", "conislocal": True, "connoinherit": True,
             "conkey": tuple(key_attnums(tables[t], keys[t]))} for t in sorted(keys)]


def setting_rows() -> list[dict]:
    """The settings the proxy keeps per session, at their defaults."""
    return [{"name": name, "setting": value, "short_desc": description, "context": "user", "vartype": "string",
             "source": "default", "boot_val": value, "reset_val": value, "pending_restart": False}
            for name, (value, description) in sorted(DEFAULTS.items())]


def database_row(database: str) -> dict:
    return {"oid": DATABASE_OID, "datname": database, "datdba": LOGIN_OID, "encoding": UTF8, "datlocprovider": "c",
            "datallowconn": True, "datconnlimit": -1, "dattablespace": DEFAULT_TABLESPACE,
            "datcollate": "C", "datctype": "C"}


def role_rows(user: str) -> list[dict]:
    """The login, and pg_database_owner because public names it as owner."""
    login = {"oid": LOGIN_OID, "rolname": user, "rolinherit": True, "rolcanlogin": True, "rolconnlimit": -1,
             "rolpassword": "********"}
    owner = {"oid": DATABASE_OWNER_OID, "rolname": "pg_database_owner", "rolinherit": True, "rolconnlimit": -1,
             "rolpassword": "********"}
    return [login, owner]


def user_row(user: str) -> dict:
    return {"usename": user, "usesysid": LOGIN_OID, "passwd": "********"}


def tablespace_rows() -> list[dict]:
    return [{"oid": DEFAULT_TABLESPACE, "spcname": "pg_default", "spcowner": LOGIN_OID},
            {"oid": GLOBAL_TABLESPACE, "spcname": "pg_global", "spcowner": LOGIN_OID}]


def table_view_row(table: str, user: str, has_index: bool) -> dict:
    return {"schemaname": "public", "tablename": table, "tableowner": user, "hasindexes": has_index,
            "hasrules": False, "hastriggers": False, "rowsecurity": False}


def index_view_row(table: str, key: Sequence[str]) -> dict:
    columns = ", ".join(map(quote_ident, key))
    return {"schemaname": "public", "tablename": table, "indexname": f"{table}_pkey",
            "indexdef": f"CREATE UNIQUE INDEX {quote_ident(table + '_pkey')} ON public.{quote_ident(table)}"
                        f" USING btree ({columns})"}


def quote_ident(name: str) -> str:
    """PostgreSQL's quote_ident, short of its reserved-keyword check."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'
