"""Extract PostgreSQL 15's own catalog definitions into proxy/catalog/pg15/.

Starts a throwaway server (tests/pg_server.py), reads the column layout of every
pg_catalog and information_schema relation and the built-in rows of pg_type,
pg_am, pg_collation, pg_namespace, pg_language, pg_operator, pg_cast,
pg_opclass, pg_opfamily, pg_conversion and pg_proc, and writes them as deterministic JSON,
so the per-role catalog is PostgreSQL's own rather than a hand-written imitation.

    .venv/bin/python tools/extract_pg_catalog.py
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import pg_server  # noqa: E402

OUT = ROOT / "proxy" / "catalog" / "pg15"

# Every table and view of pg_catalog and information_schema: a client may ask any
# of them, and each must exist with PostgreSQL's columns (empty unless filled).
RELATIONS = """
SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'v', 'm') ORDER BY 1
"""

# Built-in rows; OIDs below 16384 are the ones initdb creates, never user objects.
STATIC_ROWS = {
    "pg_catalog.pg_type": "SELECT * FROM pg_catalog.pg_type WHERE oid < 16384 ORDER BY oid",
    "pg_catalog.pg_am": "SELECT * FROM pg_catalog.pg_am ORDER BY oid",
    "pg_catalog.pg_collation": "SELECT * FROM pg_catalog.pg_collation"
                               " WHERE collname IN ('default', 'C', 'POSIX', 'ucs_basic') ORDER BY oid",
    "pg_catalog.pg_namespace": "SELECT * FROM pg_catalog.pg_namespace"
                               " WHERE nspname IN ('pg_catalog', 'information_schema', 'public') ORDER BY oid",
    # PostgreSQL's own languages, operators, casts and operator classes: public
    # facts of the server type, which DBeaver and pgAdmin list.
    **{f"pg_catalog.{name}": f"SELECT * FROM pg_catalog.{name} WHERE oid < 16384 ORDER BY oid"
       for name in ("pg_language", "pg_operator", "pg_cast", "pg_opclass", "pg_opfamily", "pg_conversion",
                    "pg_extension")},
}
PROC_ROWS = "SELECT * FROM pg_catalog.pg_proc WHERE oid < 16384 ORDER BY oid"
# format_type(oid, NULL): the SQL name information_schema.columns.data_type and format_type need.
TYPE_NAMES = "SELECT oid, format_type(oid, NULL) FROM pg_catalog.pg_type WHERE oid < 16384 ORDER BY oid"
# The default btree operator class per type: pg_index.indclass of a primary key.
BTREE_OPCLASSES = ("SELECT opcintype, oid FROM pg_catalog.pg_opclass"
                   " WHERE opcmethod = 403 AND opcdefault ORDER BY opcintype")

COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

LICENCE_BODY = """\
Permission to use, copy, modify, and distribute this software and its
documentation for any purpose, without fee, and without a written agreement
is hereby granted, provided that the above copyright notice and this
paragraph and the following two paragraphs appear in all copies.

IN NO EVENT SHALL THE UNIVERSITY OF CALIFORNIA BE LIABLE TO ANY PARTY FOR
DIRECT, INDIRECT, SPECIAL, INCIDENTAL, OR CONSEQUENTIAL DAMAGES, INCLUDING
LOST PROFITS, ARISING OUT OF THE USE OF THIS SOFTWARE AND ITS
DOCUMENTATION, EVEN IF THE UNIVERSITY OF CALIFORNIA HAS BEEN ADVISED OF THE
POSSIBILITY OF SUCH DAMAGE.

THE UNIVERSITY OF CALIFORNIA SPECIFICALLY DISCLAIMS ANY WARRANTIES,
INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY
AND FITNESS FOR A PARTICULAR PURPOSE.  THE SOFTWARE PROVIDED HEREUNDER IS
ON AN "AS IS" BASIS, AND THE UNIVERSITY OF CALIFORNIA HAS NO OBLIGATIONS TO
PROVIDE MAINTENANCE, SUPPORT, UPDATES, ENHANCEMENTS, OR MODIFICATIONS.
"""
# Debian ships no COPYRIGHT file, only this licence inside its copyright file, so
# the header is PostgreSQL 15's own COPYRIGHT header.
LICENCE = f"""\
PostgreSQL Database Management System
(formerly known as Postgres, then as Postgres95)

Portions Copyright (c) 1996-2022, PostgreSQL Global Development Group

Portions Copyright (c) 1994, The Regents of the University of California

{LICENCE_BODY}"""


def relation_columns(conn: psycopg.Connection, name: str) -> list[list]:
    """[name, format_type, atttypid, wire type OID] per column; the wire OID is
    what RowDescription carries (a domain's base type, e.g. sql_identifier -> name)."""
    columns = conn.execute(COLUMNS, (name,)).fetchall()
    cursor = conn.execute(f"SELECT * FROM {name} LIMIT 0")
    wire = [d.type_code for d in cursor.description]
    return [[n, t, oid, w] for (n, t, oid), w in zip(columns, wire, strict=True)]


# to_json renders these as strings (they are not numeric types); the catalog joins on them as numbers.
INTEGER_TYPES = {26, 28, 29, 5069}  # oid, xid, cid, xid8
INTEGER_LIST_TYPES = {22, 30, 1028}  # int2vector, oidvector, oid[]


def as_json(value: object, type_oid: int) -> object:
    if value is not None and type_oid in INTEGER_TYPES:
        return int(value)
    if value is not None and type_oid in INTEGER_LIST_TYPES:
        return [int(v) for v in value]
    return value


def json_rows(conn: psycopg.Connection, query: str) -> list[list]:
    """Rows as PostgreSQL's own to_json renders them (arrays as lists, regproc as
    names, "char" as text), in the relation's column order."""
    columns = [(d.name, d.type_code) for d in conn.execute(f"SELECT * FROM ({query}) q LIMIT 0").description]
    rows = conn.execute(f"SELECT row_to_json(q) FROM ({query}) q").fetchall()
    return [[as_json(row[name], oid) for name, oid in columns] for (row,) in rows]


def extract(conn: psycopg.Connection) -> dict:
    names = [name for (name,) in conn.execute(RELATIONS)]
    return {
        "server_version": conn.execute("SELECT version()").fetchone()[0],
        "relations": {name: relation_columns(conn, name) for name in names},
        "relation_oids": {name: conn.execute("SELECT %s::regclass::oid", (name,)).fetchone()[0] for name in names},
        "relation_kinds": {name: conn.execute("SELECT relkind FROM pg_catalog.pg_class WHERE oid = %s::regclass",
                                              (name,)).fetchone()[0] for name in names},
        "rows": {name: json_rows(conn, query) for name, query in STATIC_ROWS.items()},
        "type_names": {str(oid): name for oid, name in conn.execute(TYPE_NAMES)},
        "btree_opclasses": {str(t): oid for t, oid in conn.execute(BTREE_OPCLASSES)},
    }


def licence(bindir: Path) -> str:
    """The server's COPYRIGHT file where its installation has one."""
    installed = [bindir.parent / "COPYRIGHT", *bindir.parent.glob("share/doc/*/COPYRIGHT"),
                 *Path("/usr/share/doc").glob("postgresql*/COPYRIGHT")]
    for candidate in installed:
        if candidate.is_file():
            return candidate.read_text()
    return LICENCE


def dumps(value: object, indent: str = "") -> str:
    """JSON with one row (or column definition) per line and sorted keys, so a
    regeneration diffs line by line."""
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def main() -> None:
    server = pg_server.start()
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            catalog = extract(conn)
            procs = json_rows(conn, PROC_ROWS)
    finally:
        server.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "catalog.json").write_text(dumps(catalog) + "\n")
    # mtime=0: the same server gives byte-identical output.
    (OUT / "pg_proc.json.gz").write_bytes(gzip.compress(json.dumps(procs, separators=(",", ":")).encode(), 9, mtime=0))
    (OUT / "LICENSE.PostgreSQL").write_text(licence(server.bindir))
    print(f"{catalog['server_version']}: {len(catalog['relations'])} relations, "
          f"{len(catalog['rows']['pg_catalog.pg_type'])} types, {len(procs)} functions -> {OUT}")


if __name__ == "__main__":
    main()
