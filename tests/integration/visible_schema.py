"""What each demo role receives, for the client tests: its tables, their declared
keys, and the columns it gets, asked independently through psycopg."""
from __future__ import annotations

import psycopg
from psycopg.postgres import types as pg_types

USERS = ["admin", "analyst", "reporter", "partner"]
TABLES = {"admin": ["calls", "cell_towers", "customers"], "analyst": ["calls", "cell_towers", "customers"],
          "reporter": ["calls", "cell_towers", "customers"], "partner": ["cell_towers"]}
# The demo's declared keys; each stays a key for every role here (raw or tokenized).
KEYS = {"calls": "call_id", "cell_towers": "cell_id", "customers": "customer_id"}

_visible: dict[tuple[int, str], dict[str, list[tuple[str, str]]]] = {}


def visible_columns(server, user: str) -> dict[str, list[tuple[str, str]]]:
    """table -> [(column, PostgreSQL type name)] as the role receives them, in order.
    A role that may only aggregate is asked which admin columns it can count, then
    for their types through a GROUP BY over all of them."""
    key = (server.port, user)
    if key not in _visible:
        result = {}
        with psycopg.connect(server.dsn(user), autocommit=True) as conn:
            for table in TABLES[user]:
                try:
                    description = conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description
                except psycopg.errors.InsufficientPrivilege:
                    candidates = [name for name, _ in visible_columns(server, "admin")[table]]
                    names = []
                    for name in candidates:
                        try:
                            conn.execute(f'SELECT count("{name}") FROM "{table}"').fetchall()
                            names.append(name)
                        except psycopg.errors.UndefinedColumn:
                            pass
                    listed = ", ".join(f'"{n}"' for n in names)
                    description = conn.execute(f'SELECT {listed}, count(*) FROM "{table}" '
                                               f"GROUP BY {listed} LIMIT 0").description[:-1]
                result[table] = [(d.name, pg_types.get(d.type_code).name) for d in description]
        _visible[key] = result
    return _visible[key]


# Type the role receives -> information_schema.columns.data_type.
DATA_TYPES = {"int8": "bigint", "int4": "integer", "text": "text", "float8": "double precision",
              "date": "date", "timestamp": "timestamp without time zone", "numeric": "numeric"}


def information_schema_columns(server, user: str) -> list[tuple[str, str, str]]:
    """(table, column, data_type) as information_schema.columns should list them for the role."""
    return [(table, name, DATA_TYPES[type_name])
            for table, columns in sorted(visible_columns(server, user).items()) for name, type_name in columns]
