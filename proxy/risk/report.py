"""The re-identification risk of what each role receives, measured in the backend.

Two measurements, each over the role's own policy view:
- quasi-identifier tables: the equivalence classes of the quasi-identifiers as
  the role receives them (sizes, the share of people alone in theirs or in one
  smaller than k, the fewest distinct sensitive values);
- tables whose records a visible linking key (a stable token or the raw privacy
  unit) ties to a person: unicity, the share of people singled out by m records
  an attacker knows (m = 1..4, as far as people have m distinct records), by
  sampling people. With one record per person, m = 1 is the share of people
  unique on what the attacker knows.
A role in aggregate or dp mode receives no records; a raw role receives the data
as stored: neither is measured, and the report says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from proxy.backends.base import Backend
from proxy.policy.model import Role, TablePolicy
from proxy.policy.transforms import kind_of
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.policy_views import view_with_person
from proxy.risk.estimate import Share
from proxy.risk.queries import UnicityQuery, class_sizes_sql, persons_sql, unicity_sql

LINKING_RULES = ("raw", "tokenize")  # a privacy unit the role receives one-to-one links records
POINTS = (1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class Settings:
    threshold: float = 0.05  # at most this share of people singled out
    sample: int = 10_000  # people sampled per unicity estimate
    seed: str = "anonproxy-risk"
    points_judged: int = 2  # the verdict covers m = 1..points_judged


@dataclass
class ClassRisk:
    quasi_identifiers: tuple[str, ...]
    persons_stored: int
    persons_received: int
    classes: int
    smallest: int
    alone: Share
    below_k: Share
    least_diverse: int | None  # with l-diversity declared


@dataclass
class UnicityRisk:
    linking_key: str
    known: tuple[str, ...]
    linked: int  # people with at least one record (person-periods when tokens are scoped)
    scope: str | None = None  # the token's period: each linked set is one person's week, say
    by_points: dict[int, Share] = field(default_factory=dict)
    eligible: dict[int, int] = field(default_factory=dict)  # people with at least m distinct records


@dataclass
class TableRisk:
    table: str
    classes: ClassRisk | None = None
    unicity: UnicityRisk | None = None
    passed: bool = True
    suggestions: list[str] = field(default_factory=list)


@dataclass
class RoleRisk:
    role: str
    mode: str
    note: str | None = None  # why nothing was measured
    tables: list[TableRisk] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tables)


Progress = Callable[[str], None]


def _query(backend: Backend, sql: str) -> tuple:
    cursor = backend.cursor()
    try:
        cursor.execute(sql, [], ())  # counts as text (str from DuckDB, bytes from PostgreSQL): int() reads both
        return tuple(None if v is None else int(v) for v in cursor.fetch(1)[0])
    finally:
        cursor.close()


def default_known(policy: TablePolicy, columns: dict[str, int], public_keys: set[str], key: str,
                  own_key: Sequence[str]) -> tuple[str, ...]:
    """When and where: the record's visible times, and columns naming a public table's key
    (cell_id: a place). An attacker who met or watched a person knows these, and the
    quasi-identifiers, which the policy itself declares as known."""
    return tuple(c for c, oid in columns.items()
                 if policy.rule(c).rule != "hide" and c != key and c not in own_key
                 and (kind_of(oid) == "time" or c in public_keys or c in policy.quasi_identifiers))


def measure_classes(backend: Backend, policy: TablePolicy, ctx: RewriteContext) -> ClassRisk:
    qis = [q for q in policy.quasi_identifiers if policy.rule(q).rule != "hide"]
    sensitive = policy.l_diversity[0] if policy.l_diversity else None
    view = view_with_person(policy, ctx)
    classes, persons, smallest, alone, below_k, least = _query(
        backend, class_sizes_sql(view, qis, ctx.role.k, sensitive, ctx.dialect))
    stored = _query(backend, persons_sql(policy.name, policy.privacy_unit or qis[0], ctx.dialect))[0]
    persons = int(persons or 0)
    return ClassRisk(tuple(qis), int(stored), persons, int(classes), int(smallest or 0),
                     Share(int(alone or 0), persons, False), Share(int(below_k or 0), persons, False),
                     int(least) if sensitive and least is not None else None)


def measure_unicity(backend: Backend, policy: TablePolicy, ctx: RewriteContext, known: tuple[str, ...],
                    settings: Settings, progress: Progress) -> UnicityRisk:
    key = policy.privacy_unit
    assert key is not None
    view = view_with_person(policy, ctx)
    risk = UnicityRisk(key, known, 0, policy.rule(key).options.get("scope"))
    for m in POINTS:
        progress(f"{ctx.role.name}: {policy.name}, people singled out by {m} known record(s)")
        query = UnicityQuery(key, known, m, settings.sample, settings.seed)
        sampled, singled, eligible, linked = _query(backend, unicity_sql(view, query, ctx.dialect))
        risk.linked = int(linked)
        if not eligible:  # nobody has m distinct records (one record per person): m and beyond do not apply
            break
        risk.eligible[m] = int(eligible)
        # Always an estimate: even with every person sampled, which m records are known is drawn at random.
        risk.by_points[m] = Share(int(singled), int(sampled), True)
    return risk


def _suggest(table: TableRisk, policy: TablePolicy, settings: Settings, k: int) -> None:
    if table.classes is not None and (table.classes.alone.value > settings.threshold
                                      or table.classes.below_k.value > settings.threshold):
        table.passed = False
        table.suggestions.append(f"generalize the quasi-identifiers {', '.join(table.classes.quasi_identifiers)} "
                                 f"further, or raise k (now {k})")
    u = table.unicity
    if u is None:
        return
    worst = max((s.value for m, s in u.by_points.items() if m <= settings.points_judged), default=0.0)
    if worst > settings.threshold:
        table.passed = False
        rule = policy.rule(u.linking_key)
        if len(u.by_points) == 1:  # one record per person: what is known singles people out by itself
            table.suggestions.append(f"declare {', '.join(u.known)} as quasi-identifiers, so that the k-filter "
                                     "covers them, or generalize them further")
            return
        if rule.rule == "tokenize" and "scope" in rule.options:
            table.suggestions.append(f"scope the {u.linking_key} tokens to a period shorter than a "
                                     f"{rule.options['scope']}, or hide the token from this table")
        elif rule.rule == "tokenize":
            table.suggestions.append(f"scope the {u.linking_key} tokens per period, so one person's records "
                                     "cannot be linked across periods, or hide the token from this table")
        else:
            table.suggestions.append(f"tokenize or hide {u.linking_key}: the raw unit links every record")
        table.suggestions.append(f"generalize what an attacker may know ({', '.join(u.known)}): coarser times, "
                                 "places mapped to regions")


def measure_role(backend: Backend, role: Role, ctx: RewriteContext, settings: Settings,
                 progress: Progress) -> RoleRisk:
    result = RoleRisk(role.name, role.mode)
    if role.mode == "raw":
        result.note = "raw: receives its tables as stored, identities included; nothing to measure"
        return result
    if role.mode == "aggregate":
        result.note = (f"{role.mode}: receives no records, only aggregates over groups of at least {role.k} "
                       "people; record-level risk does not apply (differencing does: see README)")
        return result
    if role.mode == "dp":
        result.note = ("dp: receives no records, only noisy aggregates charged to its privacy budget; "
                       "record-level risk does not apply (what epsilon bounds: see README)")
        return result
    keys = backend.primary_keys()
    tables = role.tables or {}
    public_keys = {c for t, p in tables.items() if p.public for c in keys.get(t, ())}
    for name in sorted(tables):
        policy = tables[name]
        if policy.public:
            continue
        table = TableRisk(name)
        if policy.quasi_identifiers:
            progress(f"{role.name}: {name}, equivalence classes")
            table.classes = measure_classes(backend, policy, ctx)
        key = policy.privacy_unit
        if key and policy.rule(key).rule in LINKING_RULES:
            known = policy.known or default_known(policy, ctx.tables[name], public_keys, key, keys.get(name, ()))
            if known:
                table.unicity = measure_unicity(backend, policy, ctx, known, settings, progress)
        _suggest(table, policy, settings, role.k)
        if table.classes is not None or table.unicity is not None:
            result.tables.append(table)
    return result
