"""Which functions a statement may call.

sqlglot maps the functions it knows to expression classes: those are plain
computations (arithmetic, strings, dates, aggregates, windows) and are
allowed, except the few listed here. Functions it does not know arrive as
`Anonymous` and must be on the allow-list: that is where backend-specific
readers of files, settings, environment or the current statement text
(`current_query()` would echo a policy view, key included) would come in.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError

ALLOWED_UNKNOWN = frozenset({
    "age", "date_part", "datepart", "make_date", "make_timestamp", "to_date", "to_timestamp",
    "justify_days", "justify_hours", "isfinite", "date_bin",
    "btrim", "initcap", "lpad", "rpad", "translate", "chr", "ascii", "format", "quote_ident",
    "quote_literal", "octet_length", "bit_length", "char_length", "character_length", "md5",
    "sha256", "encode", "decode", "regexp_match", "regexp_matches", "regexp_split_to_array",
    "cbrt", "degrees", "radians", "div", "gcd", "lcm", "width_bucket", "trunc", "log10",
    "stddev_pop", "stddev_samp", "var_pop", "var_samp", "corr", "covar_pop", "covar_samp",
    "regr_slope", "regr_intercept", "regr_r2", "bit_and", "bit_or", "every",
    "percent_rank", "cume_dist", "ntile", "nth_value", "generate_series", "unnest",
    "array_length", "cardinality", "array_to_string", "string_to_array", "to_json", "json_build_object",
    "row_to_json", "jsonb_build_object", "json_agg", "jsonb_agg", "pg_typeof", "num_nonnulls", "num_nulls",
})
DENIED_KNOWN = frozenset({"ReadCSV", "ReadParquet", "CurrentQuery"})


def function_name(node: exp.Func) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else type(node).__name__


def check_functions(tree: exp.Expression) -> exp.Expression:
    for node in tree.find_all(exp.Func):
        if isinstance(node, exp.Anonymous):
            if node.name.lower() not in ALLOWED_UNKNOWN:
                raise SqlError("42883", f"function {node.name.lower()} is not allowed",
                               hint="anonproxy allows common PostgreSQL functions; this one may read "
                                    "files, settings or the statement itself.")
        elif type(node).__name__ in DENIED_KNOWN:
            raise SqlError("42883", f"function {node.sql_name().lower()} is not allowed")
    return tree
