"""From a client's SQL text to what runs: local commands and backend statements.

parse -> answer session functions -> guard -> substitute policy views ->
aggregate-mode rules -> name output columns -> emit. Each pass is Expression -> Expression.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from sqlglot import exp

from proxy.catalog.route import is_catalog_query, plan_catalog_query
from proxy.rewrite.aggregate_mode import enforce_aggregate_mode
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.guard import guard, require_query
from proxy.rewrite.output_names import name_output_columns
from proxy.rewrite.params import infer_param_types
from proxy.errors import SqlError
from proxy.rewrite.parse import Statement, parse_statement, split_statements
from proxy.rewrite.policy_views import expand_views, substitute_policy_views
from proxy.rewrite.session_functions import answer_session_functions, uses_session_state
from proxy.session_commands import LOCAL_WORDS, LocalCommand, parse_local_command

_LOCAL_SCHEMAS = ("public", "main")
_DECLARE = re.compile(
    r'\s*DECLARE\s+(?P<name>"(?:[^"]|"")+"|\w+)\s+(?P<options>(?:(?:BINARY|ASENSITIVE|INSENSITIVE|NO|SCROLL)\s+)*)'
    r'CURSOR\s+(?P<hold>(?:WITH|WITHOUT)\s+HOLD\s+)?FOR\s+', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BackendQuery:
    sql: str  # in the backend's dialect
    param_oids: tuple[int, ...]
    cacheable: bool = True


@dataclass(frozen=True, slots=True)
class DeclareCursor:
    """DECLARE name [BINARY] ... CURSOR [WITH HOLD] FOR query: a SQL-level cursor."""

    name: str
    query: BackendQuery
    binary: bool
    hold: bool


Planned = LocalCommand | BackendQuery | DeclareCursor


def emit(tree: exp.Expression, ctx: RewriteContext) -> str:
    """The backend's SQL; the client's schema and database qualifiers are ours, not its."""
    for table in tree.find_all(exp.Table):
        if table.db.lower() in _LOCAL_SCHEMAS:
            table.set("db", None)
            table.set("catalog", None)
    return expand_views(tree.sql(dialect=ctx.dialect), ctx)


def plan_query(tree: exp.Expression, ctx: RewriteContext, declared: tuple[int, ...] = ()) -> BackendQuery:
    require_query(tree)
    cacheable = not uses_session_state(tree)
    param_oids = infer_param_types(tree, declared, ctx)
    tree = answer_session_functions(tree, ctx)
    if is_catalog_query(tree, ctx):
        tree = plan_catalog_query(tree, ctx)
    else:
        tree = guard(tree, ctx)
        tree = substitute_policy_views(tree, ctx)
        tree = enforce_aggregate_mode(tree, ctx)
    tree = name_output_columns(tree)
    return BackendQuery(emit(tree, ctx), param_oids, cacheable)


def plan_declare(stmt: Statement, ctx: RewriteContext, declared: tuple[int, ...]) -> DeclareCursor:
    match = _DECLARE.match(stmt.text)
    if match is None:
        raise SqlError("42601", "syntax error in DECLARE",
                       hint="DECLARE name [BINARY] [NO SCROLL] CURSOR [WITH HOLD | WITHOUT HOLD] FOR query")
    options = match["options"].upper().split()
    if "SCROLL" in options and "NO" not in options:
        raise SqlError("0A000", "SCROLL cursors are not supported", hint="Declare it NO SCROLL and fetch forward.")
    body = stmt.text[match.end():]
    query = plan_query(parse_statement(Statement(body, stmt.offset + match.end(), "")), ctx, declared)
    name = match["name"][1:-1].replace('""', '"') if match["name"].startswith('"') else match["name"].lower()
    return DeclareCursor(name, query, "BINARY" in options, match["hold"] is not None and "WITHOUT" not in match["hold"].upper())


def plan(sql: str, ctx: RewriteContext, declared: tuple[int, ...] = ()) -> list[Planned]:
    """Every statement of one message, planned before any runs (as PostgreSQL
    parses a whole Query message first: a syntax error anywhere runs nothing)."""
    planned: list[Planned] = []
    for stmt in split_statements(sql):
        if stmt.first_word == "DECLARE":
            planned.append(plan_declare(stmt, ctx, declared))
        elif stmt.first_word in LOCAL_WORDS:
            planned.append(parse_local_command(stmt))
        else:
            planned.append(plan_query(parse_statement(stmt), ctx, declared))
    return planned


class PlanCache:
    """LRU of plans per (login, declared parameter types, statement text).

    Keyed by login, which determines the role, so that current_user and the
    role's policy are baked in safely; a hit never touches sqlglot.
    """

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._plans: OrderedDict[tuple[str, tuple[int, ...], str], list[Planned]] = OrderedDict()

    def plan(self, sql: str, ctx: RewriteContext, declared: tuple[int, ...] = ()) -> list[Planned]:
        key = (ctx.user, declared, sql)
        hit = self._plans.get(key)
        if hit is not None:
            self._plans.move_to_end(key)
            return hit
        planned = plan(sql, ctx, declared)
        queries = [p.query if isinstance(p, DeclareCursor) else p for p in planned]
        if all(not isinstance(q, BackendQuery) or q.cacheable for q in queries):
            self._plans[key] = planned
            if len(self._plans) > self._size:
                self._plans.popitem(last=False)
        return planned
