"""Column rules as sqlglot expressions over the real column, computed in the backend.

Each builder takes the raw column reference and returns the expression that
replaces it in the role's policy view; `hide` has none.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from proxy.policy import tokens
from proxy.policy.model import ColumnRule
from proxy.wire import types as pg

INTEGER_OIDS = frozenset({pg.INT2, pg.INT4, pg.INT8})
NUMBER_OIDS = INTEGER_OIDS | {pg.FLOAT4, pg.FLOAT8, pg.NUMERIC}
TEXT_OIDS = frozenset({pg.TEXT, pg.VARCHAR, pg.BPCHAR, pg.NAME})
TIME_OIDS = frozenset({pg.DATE, pg.TIMESTAMP, pg.TIMESTAMPTZ})
_SQL_TYPES = {pg.INT2: "SMALLINT", pg.INT4: "INTEGER", pg.INT8: "BIGINT", pg.FLOAT4: "REAL",
              pg.FLOAT8: "DOUBLE PRECISION", pg.NUMERIC: "NUMERIC", pg.DATE: "DATE",
              pg.TIMESTAMP: "TIMESTAMP", pg.TIMESTAMPTZ: "TIMESTAMPTZ", pg.BOOL: "BOOLEAN"}


def kind_of(oid: int) -> str:
    if oid in NUMBER_OIDS:
        return "number"
    if oid in TEXT_OIDS:
        return "text"
    if oid in TIME_OIDS:
        return "time"
    return "other"


@dataclass(frozen=True, slots=True)
class Column:
    """What a builder needs to know about the column it transforms."""

    ref: exp.Expression  # the raw column, e.g. __src.email
    name: str
    oid: int
    unit: exp.Expression | None  # the row's privacy unit, for per-person noise


def _sql(template: str, column: Column, dialect: str, **values: object) -> exp.Expression:
    return sqlglot.parse_one(template.format(v=column.ref.sql(dialect=dialect), **values), read=dialect)


def _sql_type(oid: int) -> str:
    return _SQL_TYPES.get(oid, "TEXT")


def _mask(rule: ColumnRule, c: Column, dialect: str) -> exp.Expression:
    o = rule.options
    if rule.kind == "email":
        return _sql("left({v}, 1) || '***@' || split_part({v}, '@', 2)", c, dialect)
    if rule.kind in ("phone", "card"):
        keep = o.get("keep_last", 4 if rule.kind == "card" else 2)
        return _sql("repeat('*', greatest(length({v}) - {n}, 0)) || right({v}, {n})", c, dialect, n=keep)
    first, last, pad = o.get("keep_first", 1), o.get("keep_last", 1), o.get("pad", "*").replace("'", "''")
    # Too short to keep both ends without showing it all: pad it whole.
    return _sql(f"CASE WHEN length({{v}}) <= {first + last} THEN repeat('{pad}', length({{v}})) "
                f"ELSE left({{v}}, {first}) || repeat('{pad}', length({{v}}) - {first + last}) "
                f"|| right({{v}}, {last}) END", c, dialect)


def _bins(rule: ColumnRule, c: Column, dialect: str) -> exp.Expression:
    o = rule.options
    value = "{v}"
    if "bottom" in o:
        value = f"greatest({value}, {o['bottom']})"
    if "top" in o:
        value = f"least({value}, {o['top']})"
    if "width" in o:
        expr = f"floor({value} / {o['width']}) * {o['width']}"
    else:  # explicit edges: the lower edge of the bin holding the value
        edges = o["edges"]
        whens = " ".join(f"WHEN {value} >= {e} THEN {e}" for e in reversed(edges))
        expr = f"CASE {whens} ELSE NULL END"
    cast = "BIGINT" if c.oid in INTEGER_OIDS and all(float(x).is_integer() for x in
                                                     [o.get("width", 1), *o.get("edges", [])]) else "DOUBLE PRECISION"
    return _sql(f"CAST({expr} AS {cast})", c, dialect)


def bin_values(rule: ColumnRule, oid: int) -> tuple[int, ...] | None:
    """Every value whole-number bins can take, when they are finite (explicit edges, or a
    width between bottom and top): a public domain, known without looking at the data."""
    if (rule.rule, rule.kind) != ("generalize", "bins") or oid not in INTEGER_OIDS:
        return None
    o = rule.options
    steps = [o.get("width", 1), *o.get("edges", []), o.get("bottom", 0), o.get("top", 0)]
    if not all(float(x).is_integer() for x in steps):
        return None
    if "edges" in o:
        edges = [int(e) for e in o["edges"] if ("bottom" not in o or e >= o["bottom"])
                 and ("top" not in o or e <= o["top"])]
        return tuple(edges)
    if "bottom" in o and "top" in o:
        width = int(o["width"])
        return tuple(range(int(o["bottom"]) // width * width, int(o["top"]) // width * width + 1, width))
    return None


def _age_band(rule: ColumnRule, c: Column, dialect: str) -> exp.Expression:
    bands = rule.options["bands"]
    age = "CAST(date_part('year', age(current_date, CAST({v} AS DATE))) AS INTEGER)"
    whens = []
    for low, high in zip(bands, bands[1:]):
        whens.append(f"WHEN {age} < {high} THEN '{low}-{high - 1}'")
    sql = (f"CASE WHEN {{v}} IS NULL THEN NULL WHEN {age} < {bands[0]} THEN '<{bands[0]}' "
           f"{' '.join(whens)} ELSE '{bands[-1]}+' END")
    return _sql(sql, c, dialect)


def _perturb(rule: ColumnRule, c: Column, key: bytes, dialect: str) -> exp.Expression:
    seed_sql = f"CAST({(c.unit or c.ref).sql(dialect=dialect)} AS VARCHAR) || '|perturb|{c.name}'"
    seed = sqlglot.parse_one(seed_sql, read=dialect)
    u = tokens.unit_fraction(seed, key, dialect).sql(dialect=dialect)
    r = rule.options["relative"]
    noisy = f"{{v}} * (1 + {r} * (2 * ({u}) - 1))"
    if c.oid in INTEGER_OIDS:
        return _sql(f"CAST(round({noisy}) AS {_sql_type(c.oid)})", c, dialect)
    return _sql(f"CAST({noisy} AS DOUBLE PRECISION)", c, dialect)


def _token_input(rule: ColumnRule, c: Column, dialect: str) -> exp.Expression:
    """A scoped token hashes the value with its period: the same person gets unrelated
    tokens on different days, so records cannot be linked across periods."""
    if "scope" not in rule.options:
        return c.ref.copy()
    by = exp.column(rule.options["by"].lower(), table=c.ref.args.get("table"))
    return _sql(f"CAST({{v}} AS VARCHAR) || '|' || CAST(date_trunc('{rule.options['scope']}', {by.sql(dialect=dialect)}) "
                "AS VARCHAR)", c, dialect)


def _lookup(rule: ColumnRule, c: Column, dialect: str) -> exp.Expression:
    """The value a public mapping table gives the column (a cell tower -> its region);
    min() so a mapping that repeats a key still yields one value."""
    o = rule.options
    mapping = exp.select(exp.Min(this=exp.column(o["value"], table="__anonproxy_map"))).from_(
        exp.Table(this=exp.to_identifier(o["table"], quoted=True),
                  alias=exp.TableAlias(this=exp.to_identifier("__anonproxy_map")))).where(
        exp.EQ(this=exp.column(o["key"], table="__anonproxy_map"), expression=c.ref.copy()))
    return exp.Subquery(this=mapping)


def column_expression(rule: ColumnRule, c: Column, key: bytes | None, dialect: str) -> exp.Expression | None:
    """The expression the role sees in place of the column; None when hidden."""
    if rule.rule == "raw":
        return c.ref.copy()
    if rule.rule == "hide":
        return None
    if rule.rule == "null":
        return _sql(f"CAST(NULL AS {_sql_type(c.oid)})", c, dialect)
    if rule.rule in ("tokenize", "perturb") and key is None:
        raise ValueError("tokenize and perturb rules need the tokenization key")
    if rule.rule == "tokenize":
        assert key is not None
        return tokens.token(_token_input(rule, c, dialect), key, dialect, integer=rule.kind == "integer")
    if rule.rule == "perturb":
        assert key is not None
        return _perturb(rule, c, key, dialect)
    if rule.rule == "mask":
        return _mask(rule, c, dialect)
    if rule.kind == "prefix":
        return _sql(f"left({{v}}, {rule.options['length']})", c, dialect)
    if rule.kind == "bins":
        return _bins(rule, c, dialect)
    if rule.kind == "age":
        return _age_band(rule, c, dialect)
    if rule.kind == "lookup":
        return _lookup(rule, c, dialect)
    # truncation to hour ... year keeps the column's own type
    return _sql(f"CAST(date_trunc('{rule.kind}', {{v}}) AS {_sql_type(c.oid)})", c, dialect)
