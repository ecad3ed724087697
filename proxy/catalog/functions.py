"""The helper functions catalog statements call, as DuckDB macros on a store.

Each answers as PostgreSQL 15 would for the role's catalog, from the store's own
rows: user names from pg_roles, type names from PostgreSQL's format_type, key
definitions from pg_constraint. Functions about things the proxy never exposes
(defaults, comments, sizes, publications) answer as for an object without them.
Parameter names start with an underscore so they never shadow a catalog column
inside the macros' subqueries, and the subqueries' tables have aliases (__c, __a)
no client writes, so a caller's `pg_class.oid` or `c.oid` binds to the caller's
table, not the macro's. transpile qualifies a caller's bare column for the same reason.
"""
from __future__ import annotations

import duckdb

from proxy.catalog.definitions import definitions

_NULL = "CAST(NULL AS VARCHAR)"
_TYPE_NAME = "coalesce((SELECT __t.name FROM pgfn.type_names __t WHERE __t.oid = _t), '???')"
# format_type's typmod rendering for the types whose typmod PostgreSQL prints.
_FORMAT_TYPE = f"""CASE
    WHEN _t IS NULL THEN NULL
    WHEN _m IS NULL OR _m < 0 THEN {_TYPE_NAME}
    WHEN _t = 1043 THEN 'character varying(' || (_m - 4) || ')'
    WHEN _t = 1042 THEN 'character(' || (_m - 4) || ')'
    WHEN _t = 1700 THEN 'numeric(' || ((_m - 4) >> 16) || ',' || ((_m - 4) & 65535) || ')'
    WHEN _t = 1114 THEN 'timestamp(' || _m || ') without time zone'
    WHEN _t = 1184 THEN 'timestamp(' || _m || ') with time zone'
    WHEN _t = 1083 THEN 'time(' || _m || ') without time zone'
    WHEN _t = 1266 THEN 'time(' || _m || ') with time zone'
    ELSE {_TYPE_NAME} END"""
_CONSTRAINT_DEF = """(SELECT 'PRIMARY KEY (' || string_agg(__a.attname, ', ' ORDER BY list_position(__k.conkey, __a.attnum))
    || ')' FROM pgcat.pg_constraint __k JOIN pgcat.pg_attribute __a ON __a.attrelid = __k.conrelid
    AND list_contains(__k.conkey, __a.attnum) WHERE __k.oid = _c)"""
_INDEX_DEF = """(SELECT __x.indexdef FROM pgcat.pg_indexes __x JOIN pgcat.pg_class __c ON __c.relname = __x.indexname
    WHERE __c.oid = _i)"""

# PostgreSQL doubles quotes and backslashes; a backslash makes it an E'' string.
_TEXT = "CAST(_s AS VARCHAR)"
_DOUBLED = f"replace({_TEXT}, chr(39), chr(39) || chr(39))"
_QUOTE_LITERAL = (f"CASE WHEN _s IS NULL THEN NULL WHEN contains({_TEXT}, chr(92)) "
                  f"THEN 'E' || chr(39) || replace({_DOUBLED}, chr(92), chr(92) || chr(92)) || chr(39) "
                  f"ELSE chr(39) || {_DOUBLED} || chr(39) END")

# pg_get_indexdef(index, n, pretty) with n > 0: the n-th key column's name.
_INDEX_COLUMN = """(SELECT __a.attname FROM pgcat.pg_index __x JOIN pgcat.pg_attribute __a
    ON __a.attrelid = __x.indrelid AND __a.attnum = __x.indkey[_n] WHERE __x.indexrelid = _i)"""

_SETTING = "(SELECT __s.setting FROM pgcat.pg_settings __s WHERE lower(__s.name) = lower(_n))"
_UNKNOWN_SETTING = "unrecognized configuration parameter"  # PostgreSQL's words; 42704 (translate_error)

MACROS: dict[str, list[tuple[str, str]]] = {  # name -> overloads (parameters, body)
    "pg_get_userbyid": [("_r", "coalesce((SELECT __r.rolname FROM pgcat.pg_roles __r WHERE __r.oid = _r), "
                                "'unknown (OID=' || _r || ')')")],
    # public and pg_catalog are on the search path; information_schema is not
    "pg_table_is_visible": [("_r", "EXISTS (SELECT 1 FROM pgcat.pg_class __c WHERE __c.oid = _r "
                                   "AND __c.relnamespace IN (2200, 11))")],
    "pg_type_is_visible": [("_t", "EXISTS (SELECT 1 FROM pgcat.pg_type __v WHERE __v.oid = _t)")],
    # Everything else a role's catalog holds is PostgreSQL's own, in pg_catalog: on the search path.
    "pg_function_is_visible": [("_f", "EXISTS (SELECT 1 FROM pgcat.pg_proc __v WHERE __v.oid = _f)")],
    "pg_operator_is_visible": [("_o", "EXISTS (SELECT 1 FROM pgcat.pg_operator __v WHERE __v.oid = _o)")],
    "pg_collation_is_visible": [("_c", "EXISTS (SELECT 1 FROM pgcat.pg_collation __v WHERE __v.oid = _c)")],
    "pg_opclass_is_visible": [("_c", "EXISTS (SELECT 1 FROM pgcat.pg_opclass __v WHERE __v.oid = _c)")],
    "pg_conversion_is_visible": [("_c", "EXISTS (SELECT 1 FROM pgcat.pg_conversion __v WHERE __v.oid = _c)")],
    "pg_opfamily_is_visible": [("_f", "EXISTS (SELECT 1 FROM pgcat.pg_opfamily __v WHERE __v.oid = _f)")],
    "pg_statistics_obj_is_visible": [("_s", "EXISTS (SELECT 1 FROM pgcat.pg_statistic_ext __v WHERE __v.oid = _s)")],
    "pg_ts_config_is_visible": [("_c", "EXISTS (SELECT 1 FROM pgcat.pg_ts_config __v WHERE __v.oid = _c)")],
    "pg_ts_dict_is_visible": [("_d", "EXISTS (SELECT 1 FROM pgcat.pg_ts_dict __v WHERE __v.oid = _d)")],
    "pg_ts_parser_is_visible": [("_p", "EXISTS (SELECT 1 FROM pgcat.pg_ts_parser __v WHERE __v.oid = _p)")],
    "pg_ts_template_is_visible": [("_t", "EXISTS (SELECT 1 FROM pgcat.pg_ts_template __v WHERE __v.oid = _t)")],
    "format_type": [("_t, _m", _FORMAT_TYPE)],
    "obj_description": [("_o", _NULL), ("_o, _c", _NULL)],
    "col_description": [("_o, _n", _NULL)],
    "shobj_description": [("_o, _c", _NULL)],
    "pg_get_expr": [("_e, _r", _NULL), ("_e, _r, _p", _NULL)],
    "pg_get_indexdef": [("_i", _INDEX_DEF), ("_i, _n, _p", f"CASE WHEN _n = 0 THEN {_INDEX_DEF} ELSE {_INDEX_COLUMN} END")],
    "pg_get_constraintdef": [("_c", _CONSTRAINT_DEF), ("_c, _p", _CONSTRAINT_DEF)],
    "pg_get_statisticsobjdef_columns": [("_o", _NULL)],
    "pg_get_viewdef": [("_v", _NULL), ("_v, _p", _NULL)],
    "pg_get_serial_sequence": [("_t, _c", _NULL)],
    "pg_get_function_result": [("_o", "(SELECT CASE WHEN __p.proretset THEN 'SETOF ' ELSE '' END || "
                                      "format_type(__p.prorettype, NULL) FROM pgcat.pg_proc __p WHERE __p.oid = _o)")],
    # Input arguments as "name type" (PostgreSQL adds OUT/VARIADIC modes, which no
    # function a role can see in public has).
    "pg_get_function_arguments": [("_o", "(SELECT coalesce(string_agg(trim(coalesce(__a.n, '') || ' ' || "
                                         "format_type(__a.t, NULL)), ', ' ORDER BY __a.i), '') FROM "
                                         "(SELECT unnest(__p.proargtypes) AS t, "
                                         "unnest(__p.proargnames[1:len(__p.proargtypes)]) AS n, "
                                         "generate_subscripts(__p.proargtypes, 1) AS i FROM pgcat.pg_proc __p "
                                         "WHERE __p.oid = _o) __a)")],
    "pg_relation_is_publishable": [("_r", "false")],
    "pg_encoding_to_char": [("_e", "CASE _e WHEN 6 THEN 'UTF8' WHEN 0 THEN 'SQL_ASCII' ELSE '' END")],
    "pg_tablespace_location": [("_t", "''")],
    "current_schemas": [("_implicit", "CASE WHEN _implicit THEN ['pg_catalog', 'public'] ELSE ['public'] END")],
    "array_upper": [("_a, _d", "CASE WHEN _d = 1 AND len(_a) > 0 THEN len(_a) END")],
    "array_lower": [("_a, _d", "CASE WHEN _d = 1 AND len(_a) > 0 THEN 1 END")],
    "quote_literal": [("_s", _QUOTE_LITERAL)],
    "quote_nullable": [("_s", f"coalesce({_QUOTE_LITERAL}, 'NULL')")],
    "pg_is_in_recovery": [("", "false")],  # the proxy serves no standby
    # A name known only when the statement runs ($1): the defaults in pg_settings. The
    # session's own values answer every current_setting('name') before this is reached.
    "current_setting": [("_n", f"CASE WHEN {_SETTING} IS NULL THEN error('{_UNKNOWN_SETTING} \"' "
                               f"|| coalesce(_n, '') || '\"') ELSE {_SETTING} END"),
                        ("_n, _missing_ok", _SETTING)],
    "quote_ident": [("_s", "CASE WHEN regexp_full_match(_s, '[a-z_][a-z0-9_$]*') THEN _s "
                           "ELSE '\"' || replace(_s, '\"', '\"\"') || '\"' END")],
    # Everything in the role's catalog is its to read: it is exactly what it may read.
    "has_table_privilege": [("_t, _p", "true"), ("_u, _t, _p", "true")],
    "has_schema_privilege": [("_s, _p", "true"), ("_u, _s, _p", "true")],
    "has_database_privilege": [("_d, _p", "true"), ("_u, _d, _p", "true")],
    "has_column_privilege": [("_t, _c, _p", "true"), ("_u, _t, _c, _p", "true")],
    "has_function_privilege": [("_f, _p", "true"), ("_u, _f, _p", "true")],
    # Sizes would tell row counts of tables whose rows the role may not see one by one.
    "pg_relation_size": [("_r", "0"), ("_r, _f", "0")],
    "pg_total_relation_size": [("_r", "0")],
    "pg_table_size": [("_r", "0")],
    "pg_indexes_size": [("_r", "0")],
    "pg_database_size": [("_d", "0")],
    "pg_size_pretty": [("_n", "_n || ' bytes'")],
}


def install_functions(connection: duckdb.DuckDBPyConnection) -> None:
    """Macros in DuckDB's main schema, which shadows DuckDB's own pg_catalog
    functions of the same names (its format_type names DuckDB's types)."""
    connection.execute("CREATE SCHEMA pgfn")  # helper data, unreachable: catalog statements read only pgcat
    connection.execute("CREATE TABLE pgfn.type_names (oid BIGINT, name VARCHAR)")
    connection.execute("INSERT INTO pgfn.type_names SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[])",
                       [list(definitions().type_names), list(definitions().type_names.values())])
    for name, overloads in MACROS.items():
        bodies = ", ".join(f"({params}) AS {body}" for params, body in overloads)
        connection.execute(f"CREATE MACRO {name}{bodies}")
