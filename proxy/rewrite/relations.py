"""What each SELECT reads, for aggregate mode: its sources and their columns,
and whether a column holds one person's value.

A relation is one of three kinds:
- `private`: rows of people (a policy view of a table with a privacy unit, or a
  row-level query over one); it carries each row's person for k-counting;
- `released`: rows of an aggregating query over private rows, each computed
  from at least k people (k-suppressed where that query is rewritten);
- `public`: a public dimension table, a table function, VALUES.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from proxy.errors import SqlError, insufficient_privilege
from proxy.policy.transforms import kind_of
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.policy_views import PERSON
from proxy.rewrite.resolve import folded
from proxy.wire import types as pg

PRIVATE, RELEASED, PUBLIC = "private", "released", "public"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    oid: int  # PostgreSQL type the role sees; 0 when unknown
    private: bool  # one person's own (row-level) value
    value_ok: bool  # may be returned by min/max: generalized, public or released
    unit: bool = False  # the privacy unit (a token of it), usable for semijoins

    @property
    def kind(self) -> str:
        return kind_of(self.oid) if self.oid else "other"


@dataclass(slots=True)
class Relation:
    kind: str
    columns: dict[str, ColumnInfo] | None  # None: a public source whose names we accept as written
    persons: list[str] = field(default_factory=list)  # columns naming each row's person(s)
    grouped: bool = False  # released by a GROUP BY: possibly several rows


@dataclass(slots=True)
class Source:
    alias: str
    relation: Relation


def view_oid(rule_kind: tuple[str, str | None], raw_oid: int) -> int:
    """The type a column has after its rule."""
    rule, kind = rule_kind
    if rule == "tokenize":
        return pg.INT8 if kind == "integer" else pg.TEXT
    if rule == "mask" or (rule == "generalize" and kind in ("prefix", "age")):
        return pg.TEXT
    if rule == "generalize" and kind == "bins":
        return pg.INT8 if raw_oid in (pg.INT2, pg.INT4, pg.INT8) else pg.FLOAT8
    return raw_oid


def stored_relation(name: str, ctx: RewriteContext) -> Relation:
    policy = ctx.role.table(name)
    columns: dict[str, ColumnInfo] = {}
    for column, oid in ctx.tables[name].items():
        rule = policy.rule(column)
        if rule.rule == "hide":
            continue
        columns[column] = ColumnInfo(
            view_oid((rule.rule, rule.kind), oid), private=not policy.public,
            value_ok=policy.public or rule.rule in ("generalize", "null"),
            unit=column == policy.privacy_unit)
    if policy.public:
        return Relation(PUBLIC, columns)
    return Relation(PRIVATE, columns, persons=[PERSON])


def cte_of(table: exp.Table) -> exp.CTE:
    """The CTE a resolved reference names (names are unique after resolve_names)."""
    name = table.name
    node = table.parent
    while node is not None:
        with_ = node.args.get("with_")
        if isinstance(with_, exp.With):
            for cte in with_.expressions:
                if cte.alias == name:
                    return cte
        node = node.parent
    raise AssertionError(f"unresolved CTE reference {name}")


def source_items(select: exp.Select) -> list[exp.Expression]:
    items = []
    if select.args.get("from_") is not None:
        items.append(select.args["from_"].this)
    items += [join.this for join in select.args.get("joins") or []]
    return items


def alias_columns(item: exp.Expression) -> list[str]:
    alias = item.args.get("alias")
    return [folded(c) for c in alias.columns] if isinstance(alias, exp.TableAlias) else []


def function_relation(item: exp.Expression) -> Relation:
    """generate_series, unnest, VALUES: public rows, under the names PostgreSQL or DuckDB give."""
    names = alias_columns(item)
    if not names:
        # A function's column is named after the function (or, in PostgreSQL, the alias);
        # VALUES columns are column1... in PostgreSQL and col0... in DuckDB.
        names = ["generate_series", "unnest", "range", *(f"column{i}" for i in range(1, 10)),
                 *(f"col{i}" for i in range(9))]
        if item.alias:
            names.append(item.alias.lower())
    return Relation(PUBLIC, {n: ColumnInfo(0, private=False, value_ok=True) for n in names})


def refuse(message: str, hint: str | None = None, code: str = "42501") -> SqlError:
    if code == "42501":
        return insufficient_privilege(message, hint)
    return SqlError(code, message, hint=hint)
