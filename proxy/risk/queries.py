"""The risk measurements as SQL over a role's policy view, in the backend's dialect.

Each statement reads the view the role's own statements read (with the raw
privacy unit beside it, to count people) and returns counts only: no row, value
or token leaves the backend.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from proxy.rewrite.policy_views import PERSON


def _quoted(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table="v")


def class_sizes_sql(view: exp.Select, quasi_identifiers: list[str], k: int, sensitive: str | None,
                    dialect: str) -> str:
    """One row: classes, persons, smallest class, persons alone in their class, persons
    in classes smaller than k, and the fewest distinct sensitive values in a class."""
    groups = exp.select(
        exp.alias_(exp.Count(this=exp.Distinct(expressions=[_quoted(PERSON)])), "n"),
        exp.alias_(exp.Count(this=exp.Distinct(expressions=[_quoted(sensitive)])) if sensitive
                   else exp.Literal.number(0), "l"),
    ).from_(view.subquery("v")).group_by(*[_quoted(q) for q in quasi_identifiers])
    n = exp.column("n")
    return exp.select(
        "count(*) AS classes", "sum(n) AS persons", "min(n) AS smallest",
        exp.alias_(exp.func("sum", exp.If(this=exp.EQ(this=n, expression=exp.Literal.number(1)), true=n,
                                          false=exp.Literal.number(0))), "alone"),
        exp.alias_(exp.func("sum", exp.If(this=exp.LT(this=n.copy(), expression=exp.Literal.number(k)),
                                          true=n.copy(), false=exp.Literal.number(0))), "below_k"),
        "min(l) AS least_diverse",
    ).from_(groups.subquery("g")).sql(dialect=dialect)


def persons_sql(table: str, privacy_unit: str, dialect: str) -> str:
    """The people in the stored table, to say how many the view leaves out."""
    return exp.select(exp.Count(this=exp.Distinct(expressions=[exp.column(exp.to_identifier(privacy_unit, quoted=True))]))) \
        .from_(exp.to_table(f'"{table}"')).sql(dialect=dialect)


@dataclass(frozen=True, slots=True)
class UnicityQuery:
    linking_key: str  # the visible column that links a person's records (a stable token)
    known: tuple[str, ...]  # what an attacker may know of one record
    points: int  # m: records the attacker knows
    sample: int  # persons sampled
    seed: str


def _text(column: exp.Expression) -> exp.Expression:
    return exp.func("coalesce", exp.cast(column, "text"), exp.Literal.string("\x01"))


def unicity_sql(view: exp.Select, q: UnicityQuery, dialect: str) -> str:
    """De Montjoye's unicity, estimated in the backend: `sample` people (ordered by a
    seeded hash of their linking key, so a run repeats) with at least m distinct records; for each, m of
    their records at random (again by hash); a person is singled out when no one else
    has all m. Returns (sampled, singled_out, eligible, linked)."""
    key = _quoted(q.linking_key)
    point = exp.func("concat_ws", exp.Literal.string("\x1f"), *[_text(_quoted(c)) for c in q.known])
    seed = exp.Literal.string(q.seed)
    m = exp.Literal.number(q.points)
    records = exp.select(exp.alias_(exp.cast(key, "text"), "p"), exp.alias_(point, "x")).distinct() \
        .from_(view.subquery("v")).where(exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())))
    people = exp.select("p", "count(*) AS points").from_("r").group_by("p")
    sample = exp.select("p").from_("people").where(exp.GTE(this=exp.column("points"), expression=m)) \
        .order_by(exp.func("md5", exp.DPipe(this=exp.column("p"), expression=seed))).limit(q.sample)
    ranked = exp.select("r.p", "r.x", exp.alias_(exp.Window(
        this=exp.RowNumber(), partition_by=[exp.column("p", table="r")],
        order=exp.Order(expressions=[exp.func("md5", exp.DPipe(this=exp.DPipe(this=exp.column("x", table="r"),
                                                                               expression=seed.copy()),
                                                                expression=exp.column("p", table="r")))])), "i")) \
        .from_("r").join("sample AS s", on="s.p = r.p")
    picked = exp.select("p", "x").from_(ranked.subquery("ranked")).where(exp.LTE(this=exp.column("i"), expression=m.copy()))
    matches = exp.select("picked.p AS target", "r.p AS candidate").from_("picked") \
        .join("r", on="r.x = picked.x").group_by("picked.p", "r.p") \
        .having(exp.EQ(this=exp.Count(this=exp.Star()), expression=m.copy()))
    per_target = exp.select("target", "count(*) AS c").from_("matches").group_by("target")
    final = exp.select(
        "(SELECT count(*) FROM per_target) AS sampled",
        "(SELECT count(*) FROM per_target WHERE c = 1) AS singled_out",
        f"(SELECT count(*) FROM people WHERE points >= {q.points}) AS eligible",
        "(SELECT count(*) FROM people) AS linked")
    final = final.with_("r", as_=records).with_("people", as_=people).with_("sample", as_=sample) \
        .with_("picked", as_=picked).with_("matches", as_=matches).with_("per_target", as_=per_target)
    return final.sql(dialect=dialect)
