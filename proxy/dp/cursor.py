"""A DP statement as the session's cursor: the exact statement runs in the
backend, its groups are released with noise, the charge and the answer are
committed to the ledger in one transaction, and only then are rows handed out
(the client's projections, HAVING, ORDER BY and LIMIT, run by an in-memory
DuckDB over the released values).

A statement asked again in the same budget period is answered from the ledger:
the identical answer, uncharged, never recomputed with new or re-seeded noise.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import statistics
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import duckdb

from proxy.backends.base import BackendError, Cursor, ResultColumn
from proxy.backends.duckdb import DuckDBCursor, pg_column
from proxy.dp.accuracy import PROBE_EPSILON, Target, TargetUnreachable, choose
from proxy.dp.ledger import BudgetExceeded, BudgetPeriod, Ledger, Period
from proxy.dp.plan import DpPlan
from proxy.dp.release import Domains, Released, average_bound, key_text, release
from proxy.policy.model import Budget
from proxy.wire import types as pg

_DUCK_TYPES = {pg.INT2: "SMALLINT", pg.INT4: "INTEGER", pg.INT8: "BIGINT", pg.FLOAT4: "REAL", pg.FLOAT8: "DOUBLE",
               pg.NUMERIC: "DOUBLE", pg.DATE: "DATE", pg.TIMESTAMP: "TIMESTAMP", pg.TIMESTAMPTZ: "TIMESTAMPTZ",
               pg.BOOL: "BOOLEAN"}
_post_db = duckdb.connect(":memory:")  # post-processing reads only the VALUES it is given
_post_lock = threading.Lock()
_post_shapes: dict[str, list[tuple[str, str]]] = {}  # result shapes by SQL text (DuckDBCursor bounds its size)
# Group keys of these types are picked in Python when no post-processing statement is needed: their
# stored text reads back as the value the post-processing statement's CAST would give.
_KEY_VALUES = {pg.INT2: int, pg.INT4: int, pg.INT8: int, pg.TEXT: str, pg.VARCHAR: str, pg.BOOL: lambda t: t == "t",
               pg.DATE: dt.date.fromisoformat, pg.TIMESTAMP: dt.datetime.fromisoformat}


@dataclass(frozen=True, slots=True)
class DpSession:
    """What a DP statement needs from its session."""

    role: str
    login: str
    budget: Budget
    epsilon: float
    ledger: Ledger
    target: Target | None = None  # an accuracy to meet with the least epsilon, instead of `epsilon`


def period_of(budget: Budget) -> BudgetPeriod:
    return BudgetPeriod(budget.period, budget.start, budget.days)


class DpCursor:
    def __init__(self, backend: Cursor, plan: DpPlan, session: DpSession) -> None:
        self.backend = backend
        self._plan = plan
        self._session = session
        self._post: DuckDBCursor | None = None
        self._picked: list[tuple[Any, ...]] | None = None  # rows picked in Python (see picked_rows)
        self.notices: list[str] = []

    # --- the Cursor interface ---------------------------------------------------------

    def describe(self, sql: str, params: Sequence[Any]) -> list[ResultColumn]:
        key_oids = [c.type_oid for c in self.backend.describe(sql, params)[:len(self._plan.keys)]]
        return self._post_cursor().describe(*post_sql(self._plan, key_oids, []))

    def execute(self, sql: str, params: Sequence[Any], formats: Sequence[int] = (),
                shape_key: str | None = None) -> list[ResultColumn]:
        s = self._session
        period = period_of(s.budget).current(dt.datetime.now(dt.timezone.utc))
        cost = s.target.describe() if s.target else s.epsilon
        fingerprint = statement_fingerprint(s.role, sql, params, cost, s.budget.delta)
        stored = s.ledger.stored(s.role, period.key, fingerprint)
        if stored is None:
            if s.target is not None and s.target.relative and any(o.kind != "count" for o in self._plan.outputs):
                raise BackendError("a relative accuracy target applies to counts only", "0A000",
                                   hint="For sums and averages, SET anonproxy.target_error_abs to an error in "
                                        "their own units, or RESET anonproxy.target_error.")
            self._check(period, PROBE_EPSILON if s.target else s.epsilon)
            answer, epsilon = self._compute(sql, params)
            try:
                result = s.ledger.release(role=s.role, login=s.login, period=period, fingerprint=fingerprint,
                                          epsilon=epsilon, delta=s.budget.delta, total=s.budget.epsilon,
                                          answer=answer)
            except BudgetExceeded as exc:
                raise budget_error(exc, epsilon) from None
            stored, charged, spent = result.answer, result.charged, result.spent
        else:
            charged, spent = False, s.ledger.spent(s.role, period.key)
        decoded = json.loads(stored)
        if "refused" in decoded:  # a target the role's limits cannot meet: the same refusal, every time
            raise BackendError(decoded["refused"], "53400", detail=_spent_detail(decoded, charged),
                               hint="Relax the target, or ask for a larger max_epsilon.")
        self.notices = [notice_text(self._plan, decoded, charged, spent, s.budget, period)]
        picked = picked_rows(self._plan, decoded["key_oids"], decoded["rows"])
        if picked is not None:
            columns, self._picked = picked
            return columns
        sql, values = post_sql(self._plan, decoded["key_oids"], decoded["rows"])
        return self._post_cursor().execute(sql, values, formats)

    def fetch(self, n: int) -> list[tuple[Any, ...]]:
        if self._picked is not None:
            rows, self._picked = self._picked[:n], self._picked[n:]
            return rows
        assert self._post is not None
        return self._post.fetch(n)

    def cancel(self) -> None:
        self.backend.cancel()

    def close(self) -> None:
        if self._post is not None:
            self._post.close()

    # --- steps ----------------------------------------------------------------------------

    def _check(self, period: Period, needed: float) -> None:
        """Refuse before any work when the budget cannot cover the statement (it costs nothing)."""
        s = self._session
        try:
            s.ledger.check(s.role, period, needed, s.budget.epsilon)
        except BudgetExceeded as exc:
            raise budget_error(exc, needed) from None

    def _compute(self, sql: str, params: Sequence[Any]) -> tuple[str, float]:
        """The answer to store and what it costs."""
        s = self._session
        columns = self.backend.execute(sql, params, (), shape_key=self._plan.shape_key)
        exact: list[tuple[Any, ...]] = []
        while batch := self.backend.fetch(10_000):
            exact.extend(batch)
        key_oids = [c.type_oid for c in columns[:len(self._plan.keys)]]
        domains = self._public_domains()
        epsilon, probe = s.epsilon, 0.0
        if s.target is not None:
            try:
                choice = choose(self._plan, exact, s.target, s.budget.max_epsilon, None, domains)
            except TargetUnreachable as exc:
                return json.dumps({"refused": str(exc), "epsilon": exc.probe}), exc.probe
            epsilon, probe = choice.epsilon, choice.probe
        released = release(self._plan, exact, epsilon, s.budget.delta, None, domains)
        return encode_answer(released, key_oids, s.target, probe), epsilon + probe

    def _public_domains(self) -> Domains:
        """The values of group keys that are a public table's columns, read from that table."""
        domains: Domains = {}
        for i, key in enumerate(self._plan.keys):
            if key.domain is None and key.domain_sql is not None:
                self.backend.execute(key.domain_sql, [], ())
                values: list[Any] = []
                while batch := self.backend.fetch(10_000):
                    values.extend(key_text(row[0]) for row in batch)
                domains[i] = values
        return domains

    def _post_cursor(self) -> DuckDBCursor:
        if self._post is None:
            with _post_lock:
                self._post = DuckDBCursor(_post_db.cursor(), _post_shapes)
        return self._post


def statement_fingerprint(role: str, sql: str, params: Sequence[Any], cost: float | str, delta: float) -> str:
    """The normalized statement (the proxy's own SQL for it), its parameters and its cost (an epsilon, or an
    accuracy target: the epsilon it chose is then part of the answer)."""
    text = json.dumps([role, sql, [repr(p) for p in params], repr(cost), repr(delta)])
    return hashlib.sha256(text.encode()).hexdigest()


def encode_answer(released: Released, key_oids: list[int], target: Target | None = None, probe: float = 0.0) -> str:
    return json.dumps({"key_oids": key_oids, "rows": [[list(k), list(v)] for k, v in released.rows],
                       "noisy": released.noisy, "bounds": list(released.bounds),
                       "epsilon": released.epsilon + probe, "main_epsilon": released.epsilon, "probe": probe,
                       "target": target.describe() if target else None, "threshold": released.threshold,
                       "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})


def _spent_detail(answer: dict, charged: bool) -> str:
    if not answer["epsilon"]:
        return "Nothing was spent."
    verb = "spent" if charged else "was spent when this was first asked"
    return f"Sizing the answer from a noisy count {verb}: epsilon {answer['epsilon']:g}."


def picked_rows(plan: DpPlan, key_oids: Sequence[int],
                rows: Sequence[Sequence[Any]]) -> tuple[list[ResultColumn], list[tuple[Any, ...]]] | None:
    """The released rows with the client's columns picked in Python, as the post-processing
    statement would give them (same names, types and values), when that statement would only
    pick columns: a millisecond or two less per answer. None where it is needed."""
    if plan.layout is None or any(oid not in _KEY_VALUES for oid in key_oids):
        return None
    types = [_DUCK_TYPES.get(oid, "VARCHAR") for oid in key_oids]
    types += ["BIGINT" if o.integer else "DOUBLE" for o in plan.outputs]
    casts = [_KEY_VALUES[oid] for oid in key_oids] + [int if o.integer else float for o in plan.outputs]
    picked = []
    try:  # a key whose text Python reads differently (a BC date, year 10000) takes the statement's way
        for keys, values in rows:
            cells = [None if v is None else cast(v) for v, cast in zip([*keys, *values], casts)]
            picked.append(tuple(cells[i] for _, i in plan.layout))
    except ValueError:
        return None
    return [pg_column(name, types[i]) for name, i in plan.layout], picked


def post_sql(plan: DpPlan, key_oids: Sequence[int], rows: Sequence[Sequence[Any]]) -> tuple[str, list[str | None]]:
    """The plan's post-processing over a VALUES list of the released groups, the values
    as parameters (as text, cast in SQL): one SQL text per shape, prepared once."""
    types = [_DUCK_TYPES.get(oid, "VARCHAR") for oid in key_oids]
    types += ["BIGINT" if o.integer else "DOUBLE" for o in plan.outputs]
    names = [f"g{i}" for i in range(len(key_oids))] + [f"a{j}" for j in range(len(plan.outputs))]
    params: list[str | None] = []
    tuples = []
    for keys, vals in rows:
        cells = []
        for value, sql_type in zip([*keys, *vals], types):
            params.append(None if value is None else str(value))
            cells.append(f"CAST(${len(params)} AS {sql_type})")
        tuples.append("(" + ", ".join(cells) + ")")
    if tuples:
        relation = f"SELECT * FROM (VALUES {', '.join(tuples)}) AS __v({', '.join(names)})"
    else:
        relation = "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {n}" for t, n in zip(types, names)) + " WHERE false"
    return f"WITH __released AS ({relation}) {plan.post_sql}", params


def budget_error(exc: BudgetExceeded, needed: float) -> BackendError:
    """53400 (configuration limit exceeded), as a backend error: the session then closes
    the statement's cursor as after any failed execution."""
    resets = exc.resets.strftime("%Y-%m-%d %H:%M UTC")
    return BackendError(f"privacy budget exhausted: {exc.spent:g} of {exc.total:g} spent, this statement "
                        f"needs {needed:g}", "53400",
                        detail=f"The budget resets at {resets}.",
                        hint="Ask for less (SET anonproxy.epsilon = x), repeat a statement already answered this "
                             "period (repeats are free), or wait for the reset.")


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.2g}"


def notice_text(plan: DpPlan, answer: dict, charged: bool, spent: float, budget: Budget, period: Period) -> str:
    left = max(0.0, budget.epsilon - spent)
    span = {"day": "today", "week": "this week", "month": "this month"}.get(budget.period, "this period")
    resets = period.resets.strftime("%Y-%m-%d %H:%M UTC")
    head = (f"DP: epsilon {answer['epsilon']:.4g} spent" if charged
            else f"DP: the answer released at {answer['at'].replace('T', ' ')[:16]} UTC, repeated (nothing spent)")
    if answer.get("target") and charged:
        head += (f" to meet the target {answer['target']} (epsilon {answer['probe']:g} to size the answer from a "
                 f"noisy count, {answer['main_epsilon']:.4g} for the answer)")
    parts = [f"{head}; budget {left:.4g} of {budget.epsilon:g} left {span} (resets {resets})."]
    errors = []
    for j, output in enumerate(plan.outputs):
        values = [abs(vals[j]) for _, vals in answer["rows"]]
        typical = statistics.median(values) if values else 0.0
        bound = answer["bounds"][j]
        if output.kind == "avg" and not answer["rows"]:
            continue  # an average's error depends on the count it divides by: no group, no figure
        if output.kind == "avg":
            counts = [n[output.quantities[1]] for n in answer["noisy"]]
            eps = plan.epsilon_each(answer.get("main_epsilon", answer["epsilon"]))
            bound = average_bound(output, plan, eps, statistics.median(counts), typical)
        relative = f" (about ±{100 * bound / typical:.2g}%)" if typical > 0 and bound / typical < 1 else ""
        errors.append(f"{output.label} ±{_number(bound)}{relative}")
    if errors:
        parts.append("95% error: " + "; ".join(errors) + ".")
    if answer["threshold"] is not None:
        # Never how many groups the data has: that count is exact, so not for release.
        parts.append(f"{len(answer['rows'])} groups released; groups whose noisy count is below "
                     f"{answer['threshold']:,.0f} are withheld.")
    return " ".join(parts)
