"""The grammar of aggregate mode over private rows (DESIGN.md section 3, principle 4).

Where a SELECT reads people's rows, its expressions are limited to forms that
cannot raise a data error and cannot take data-dependent time, so that no one
person's row can change whether a statement succeeds or which groups are
released except through an aggregate of at least k people:

- operands: columns, date_trunc / extract / date_part of a column with a
  constant unit, constants checked here (a literal the backend cannot convert
  would fail lazily, only on rows that reach it);
- conditions: comparisons, BETWEEN, IN lists, LIKE with a constant pattern,
  IS [NOT] NULL, boolean logic; IN (subquery) only as a semijoin on the
  privacy unit, or over released or public rows;
- aggregates: count, count(DISTINCT), sum, avg of columns; min and max only of
  generalized, public or released columns; FILTER with the same conditions;
- after aggregation: arithmetic, round, cast, coalesce over aggregates, group
  keys and constants (evaluated only on groups that are released).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlglot import exp

from proxy.errors import SqlError
from proxy.rewrite.relations import ColumnInfo, Source, refuse
from proxy.rewrite.resolve import client_sql, folded
from proxy.wire import types as pg

ALLOWED_AGGREGATES = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)
VALUE_AGGREGATES = (exp.Min, exp.Max)
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
TRUNC_UNITS = frozenset({"decade", "year", "quarter", "month", "week", "day", "hour", "minute", "second"})
DATE_FIELDS = frozenset({"year", "quarter", "month", "week", "day", "dow", "doy", "isodow", "isoyear", "epoch"})
TIME_FIELDS = DATE_FIELDS | {"hour", "minute", "second"}
POST_AGGREGATE = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Paren, exp.Neg, exp.Round, exp.Floor, exp.Ceil,
                  exp.Abs, exp.Cast, exp.Coalesce, exp.Nullif, exp.Case, exp.If, exp.And, exp.Or, exp.Not,
                  exp.Is, exp.Between, *COMPARISONS)
RANKING = (exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile)
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTERVAL = re.compile(r"\s*[+-]?\d+(\.\d+)?\s*(year|month|week|day|hour|minute|second)s?\s*", re.I)
_INTERVAL_UNITS = re.compile(r"(year|month|week|day|hour|minute|second)s?", re.I)
GRAMMAR_HINT = ("In aggregate mode, conditions on private data compare columns (or date_trunc/extract of a "
                "column) with constants: =, <, BETWEEN, IN (...), LIKE 'pattern', IS NULL, AND/OR/NOT.")
AGGREGATE_HINT = ("Use count(*), count(column), count(DISTINCT column), sum(column) or avg(column), "
                  "optionally with FILTER (WHERE ...); put conditions in WHERE or FILTER.")


@dataclass(frozen=True, slots=True)
class Operand:
    oid: int  # 0: unknown
    private: bool  # a row-level private value
    constant: exp.Expression | None = None  # the constant, when the operand is one


class Scope:
    """The sources of one SELECT, for resolving its column references."""

    def __init__(self, sources: list[Source], outputs: dict[str, exp.Expression] | None = None) -> None:
        self.sources = sources
        self.outputs = outputs or {}  # output name -> projection, for GROUP BY / ORDER BY names

    def column(self, col: exp.Column) -> ColumnInfo:
        name = folded(col.this)
        table = folded(col.args["table"]) if col.args.get("table") else None
        found: list[ColumnInfo] = []
        for source in self.sources:
            if table is not None and source.alias != table:
                continue
            columns = source.relation.columns or {}
            if name in columns:
                found.append(columns[name])
        if len(found) > 1:
            raise SqlError("42702", f'column reference "{name}" is ambiguous')
        if found:
            return found[0]
        if table is not None and all(s.alias != table for s in self.sources):
            raise refuse(f'reference to "{table}.{name}" outside this subquery\'s FROM is not supported '
                         "in aggregate mode", "Join the relation in the subquery's own FROM.", "0A000")
        raise SqlError("42703", f'column "{name}" does not exist',
                       hint="In aggregate mode a subquery reads only the columns of its own FROM.")


def is_aggregate(node: exp.Expression) -> bool:
    """An aggregate call (with its FILTER), not a window function."""
    if isinstance(node.parent, exp.Window) or (isinstance(node.parent, exp.Filter) and isinstance(node.parent.parent, exp.Window)):
        return False
    return isinstance(node, exp.AggFunc) or (isinstance(node, exp.Filter) and isinstance(node.this, exp.AggFunc))


def _literal_ok(oid: int, text: str) -> bool:
    """Whether the backend converts this string to the column's type without error."""
    if oid in (pg.INT2, pg.INT4, pg.INT8):
        return bool(_INTEGER.fullmatch(text))
    if oid in (pg.FLOAT4, pg.FLOAT8, pg.NUMERIC):
        return bool(_NUMBER.fullmatch(text))
    if oid == pg.DATE:
        return bool(_DATE.fullmatch(text.strip())) and _parses(dt.date.fromisoformat, text.strip())
    if oid in (pg.TIMESTAMP, pg.TIMESTAMPTZ):
        return bool(_DATE.match(text.strip())) and _parses(dt.datetime.fromisoformat, text.strip())
    return oid in (pg.TEXT, pg.VARCHAR, pg.BPCHAR, pg.NAME)


def _parses(parse, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


_CONSTANT_OIDS = {exp.DataType.Type.INT: pg.INT4, exp.DataType.Type.BIGINT: pg.INT8,
                  exp.DataType.Type.SMALLINT: pg.INT2, exp.DataType.Type.DOUBLE: pg.FLOAT8,
                  exp.DataType.Type.FLOAT: pg.FLOAT4, exp.DataType.Type.DECIMAL: pg.NUMERIC,
                  exp.DataType.Type.DATE: pg.DATE, exp.DataType.Type.TIMESTAMP: pg.TIMESTAMP,
                  exp.DataType.Type.TIMESTAMPTZ: pg.TIMESTAMPTZ, exp.DataType.Type.TEXT: pg.TEXT,
                  exp.DataType.Type.VARCHAR: pg.VARCHAR}


def check_constant(node: exp.Expression, oid: int) -> None:
    """A constant compared with a private column of type `oid`: it must convert without error."""
    if isinstance(node, (exp.Null, exp.Placeholder, exp.Parameter)):
        return
    if isinstance(node, exp.Paren):
        return check_constant(node.this, oid)
    if isinstance(node, exp.Boolean) and oid == pg.BOOL:
        return
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        node = node.this
    if isinstance(node, exp.Literal):
        text = node.this
        if node.is_string and _literal_ok(oid, text):
            return
        if not node.is_string and oid in (pg.INT2, pg.INT4, pg.INT8) and _INTEGER.fullmatch(text):
            return
        if not node.is_string and oid in (pg.FLOAT4, pg.FLOAT8, pg.NUMERIC):
            return
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        target = _CONSTANT_OIDS.get(node.to.this)
        if target is not None and _literal_ok(target, node.this.this) and _comparable(target, oid):
            return
    if oid in (pg.DATE, pg.TIMESTAMP, pg.TIMESTAMPTZ) and _time_constant(node):
        return
    shown = client_sql(node)
    raise refuse(f"in aggregate mode, {shown} cannot be compared with a column of type "
                 f"{pg.pg_type(oid).name if oid else 'unknown'}",
                 "Compare with a constant of the column's own type, e.g. '2024-01-31' for a date "
                 "or 1000 for a number.")


def _comparable(a: int, b: int) -> bool:
    from proxy.policy.transforms import kind_of
    return kind_of(a) == kind_of(b)


def _time_constant(node: exp.Expression) -> bool:
    """current_date, now(), a timestamp literal, plus or minus a literal interval."""
    if isinstance(node, (exp.CurrentDate, exp.CurrentTimestamp, exp.Localtimestamp)):
        return True
    if isinstance(node, (exp.Add, exp.Sub)):
        return _time_constant(node.this) and _interval(node.expression)
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        return node.to.this in (exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP) and \
            _literal_ok(_CONSTANT_OIDS[node.to.this], node.this.this)
    return False


def _interval(node: exp.Expression) -> bool:
    if not isinstance(node, exp.Interval) or not isinstance(node.this, exp.Literal):
        return False
    unit = node.args.get("unit")
    text = node.this.this
    if unit is None:
        return bool(_INTERVAL.fullmatch(text))
    return bool(_NUMBER.fullmatch(text)) and bool(_INTERVAL_UNITS.fullmatch(unit.name))


def is_constant(node: exp.Expression) -> bool:
    return isinstance(node, (exp.Literal, exp.Null, exp.Boolean, exp.Placeholder, exp.Parameter)) or (
        isinstance(node, (exp.Neg, exp.Paren)) and is_constant(node.this)) or (
        isinstance(node, exp.Cast) and is_constant(node.this)) or _time_constant(node)


def _unit(node: exp.Expression | None) -> str | None:
    if isinstance(node, (exp.Var, exp.Literal)):
        return node.name.lower()
    return None


def key_operand(node: exp.Expression, scope: Scope) -> Operand | None:
    """A column, or a generalization of one with a constant unit; None if neither."""
    if isinstance(node, exp.Paren):
        return key_operand(node.this, scope)
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        info = scope.column(node)
        return Operand(info.oid, info.private)
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)) and isinstance(node.this, exp.Column):
        info = scope.column(node.this)
        if _unit(node.args.get("unit")) in TRUNC_UNITS and info.kind == "time":
            return Operand(pg.TIMESTAMP, info.private)
    if isinstance(node, exp.Extract) and isinstance(node.expression, exp.Column):
        return _field_of(_unit(node.this), scope.column(node.expression))
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("date_part", "datepart") \
            and len(node.expressions) == 2 and isinstance(node.expressions[1], exp.Column):
        first = node.expressions[0]
        unit = first.name.lower() if isinstance(first, exp.Literal) and first.is_string else None
        return _field_of(unit, scope.column(node.expressions[1]))
    return None


def _field_of(unit: str | None, info: ColumnInfo) -> Operand | None:
    fields = DATE_FIELDS if info.oid == pg.DATE else TIME_FIELDS
    if unit in fields and info.kind == "time":
        return Operand(pg.FLOAT8, info.private)
    return None
