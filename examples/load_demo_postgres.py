"""Copy the demo database into PostgreSQL, for serving it with the postgres backend.

    python examples/load_demo_postgres.py "postgresql://postgres@127.0.0.1:5432/demo" \\
        [--duckdb examples/data/demo.duckdb] [--reader anonproxy_reader]

Creates the tables (replacing them), loads every row, and grants SELECT to a
read-only login role (created if missing, without a password: set one with
ALTER ROLE, or use the --reader-password-env variable) for anonproxy to use.
"""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

DEFAULT_DB = Path(__file__).resolve().parent / "data" / "demo.duckdb"
_TYPES = {"INTEGER": "integer", "BIGINT": "bigint", "SMALLINT": "smallint", "VARCHAR": "text", "DATE": "date",
          "TIMESTAMP": "timestamp", "DOUBLE": "double precision", "BOOLEAN": "boolean"}


def pg_type(duck_type: str) -> str:
    if m := re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", duck_type):
        return f"numeric({m[1]},{m[2]})"
    return _TYPES[duck_type]


def load(dsn: str, duck_path: Path, reader: str, reader_password: str | None = None) -> dict[str, int]:
    src = duckdb.connect(str(duck_path), read_only=True)
    tables = [r[0] for r in src.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'main' ORDER BY 1").fetchall()]
    counts = {}
    with psycopg.connect(dsn) as conn:
        for table in tables:
            columns = src.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                  "table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                                  [table]).fetchall()
            ddl = sql.SQL("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} ({cols})").format(
                t=sql.Identifier(table),
                cols=sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(pg_type(t)))
                                        for c, t in columns))
            conn.execute(ddl)
            key = src.execute("SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name = 'main' "
                              "AND table_name = ? AND constraint_type = 'PRIMARY KEY'", [table]).fetchone()
            rows = src.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))) as copy:
                for row in rows:
                    copy.write_row(row)
            counts[table] = len(rows)
            if key:  # after the load: one index build instead of one insert at a time
                conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, key[0]))))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (reader,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(reader)))
        if reader_password:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(reader), sql.Literal(reader_password)))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(sql.Identifier(reader)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {r}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r}")
                     .format(r=sql.Identifier(reader)))
    src.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dsn", help="a PostgreSQL connection string with rights to create tables and roles")
    parser.add_argument("--duckdb", type=Path, default=DEFAULT_DB, help="the demo database to copy")
    parser.add_argument("--reader", default="anonproxy_reader", help="the read-only role anonproxy logs in as")
    parser.add_argument("--reader-password-env", metavar="VAR",
                        help="environment variable holding the reader's password (never a command-line argument)")
    args = parser.parse_args()
    password = os.environ.get(args.reader_password_env) if args.reader_password_env else None
    counts = load(args.dsn, args.duckdb, args.reader, password)
    print("loaded " + ", ".join(f"{t}: {n:,}" for t, n in counts.items()) + f"; read-only role {args.reader}")


if __name__ == "__main__":
    main()
