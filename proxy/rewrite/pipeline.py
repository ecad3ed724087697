"""From a client's SQL text to what runs: local commands and backend statements.

parse -> answer session functions -> then, for data queries, PASSES (each
Expression -> Expression, named for what it guarantees) -> emit.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlglot import exp

from proxy.catalog.route import is_catalog_query, plan_catalog_query
from proxy.dp.plan import DpPlan
from proxy.rewrite.aggregate_mode import enforce_aggregate_mode
from proxy.rewrite.dp_mode import enforce_dp_mode
from proxy.rewrite.arithmetic import postgres_division
from proxy.rewrite.array_literals import postgres_array_literals
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.column_origins import Origin, column_origins, record_column_origins
from proxy.rewrite.copy_statement import copy_format, copy_query
from proxy.rewrite.allowlist import check_allowed
from proxy.rewrite.emit import emit
from proxy.rewrite.guard import guard, require_query
from proxy.rewrite.join_using import expand_join_using
from proxy.rewrite.output_names import name_output_columns
from proxy.rewrite.params import infer_param_types
from proxy.errors import SqlError
from proxy.rewrite.parse import Statement, parse_statement, split_statements
from proxy.rewrite.policy_views import splice_policy_views
from proxy.rewrite.resolve import resolve_names
from proxy.rewrite.session_functions import answer_session_functions, uses_session_state
from proxy.session_commands import LOCAL_WORDS, LocalCommand, parse_local_command
from proxy.wire.copy import CopyFormat

_STDOUT_OPTIONS = re.compile(r"\bTO\s+STDOUT\s*(?=\()", re.IGNORECASE)
_DECLARE = re.compile(
    r'\s*DECLARE\s+(?P<name>"(?:[^"]|"")+"|\w+)\s+(?P<options>(?:(?:BINARY|ASENSITIVE|INSENSITIVE|NO|SCROLL)\s+)*)'
    r'CURSOR\s+(?P<hold>(?:WITH|WITHOUT)\s+HOLD\s+)?FOR\s+', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BackendQuery:
    sql: str  # in the backend's dialect, or DuckDB's over the role's catalog store
    param_oids: tuple[int, ...]
    cacheable: bool = True
    catalog: bool = False  # runs on the role's catalog store, not the backend
    column_oids: tuple[int | None, ...] = ()  # catalog statements: each output column's catalog type, if known
    origins: tuple[Origin | None, ...] = ()  # data statements: the stored column each projection reads, if one
    dp: DpPlan | None = None  # dp roles: the exact statement's release plan (the rows sent are its post-processing)


@dataclass(frozen=True, slots=True)
class DeclareCursor:
    """DECLARE name [BINARY] ... CURSOR [WITH HOLD] FOR query: a SQL-level cursor."""

    name: str
    query: BackendQuery
    binary: bool
    hold: bool


@dataclass(frozen=True, slots=True)
class CopyOut:
    """COPY (query) TO STDOUT: the query planned as any other, its rows sent as CopyData."""

    query: BackendQuery
    format: CopyFormat


Planned = LocalCommand | BackendQuery | DeclareCursor | CopyOut


# The data-query passes, in order. Each sees the tree the previous one left.
PASSES = (
    guard,                    # read-only statement kinds, no identifier in the proxy's namespace
    resolve_names,            # every relation resolved with PostgreSQL scoping and renamed by us
    expand_join_using,        # aggregate and dp roles: USING written as ON, its columns given their side
    check_allowed,            # every node, function and operator on the allow-list
    name_output_columns,      # output names computed by us, before any view exists in the tree
    enforce_aggregate_mode,   # aggregate mode's grammar and k-suppression
    enforce_dp_mode,          # dp mode: a bounded exact statement and its release plan
    postgres_division,        # the client's `/` divides as PostgreSQL does, on DuckDB too
    postgres_array_literals,  # '{1,2}'::int[] reads as PostgreSQL reads it, on DuckDB too
    record_column_origins,    # which stored column each output column is, for RowDescription
    splice_policy_views,      # each stored table replaced by its policy view, as a tree node
)


def plan_query(tree: exp.Expression, ctx: RewriteContext, declared: tuple[int, ...] = ()) -> BackendQuery:
    require_query(tree)
    cacheable = not uses_session_state(tree)
    param_oids = infer_param_types(tree, declared, ctx)
    tree = answer_session_functions(tree, ctx)
    if is_catalog_query(tree, ctx):
        transpiled = plan_catalog_query(name_output_columns(tree, ctx), ctx)
        return BackendQuery(transpiled.sql, param_oids, cacheable, catalog=True, column_oids=transpiled.column_oids)
    for rewrite_pass in PASSES:
        tree = rewrite_pass(tree, ctx)
    dp = tree.meta.get("dp_plan")
    if dp is not None:
        return BackendQuery(emit(tree, ctx.dialect), param_oids, cacheable, dp=dp)
    return BackendQuery(emit(tree, ctx.dialect), param_oids, cacheable, origins=column_origins(tree))


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


def plan_copy(stmt: Statement, ctx: RewriteContext, declared: tuple[int, ...]) -> CopyOut:
    text = _STDOUT_OPTIONS.sub(r"\g<0> WITH ", stmt.text, count=1)  # TO STDOUT (FORMAT csv): WITH is optional
    tree = parse_statement(Statement(text, stmt.offset, stmt.first_word))
    if not isinstance(tree, exp.Copy):
        raise SqlError("42601", "syntax error in COPY")
    return CopyOut(plan_query(copy_query(tree), ctx, declared), copy_format(tree))


def plan(sql: str, ctx: RewriteContext, declared: tuple[int, ...] = ()) -> list[Planned]:
    """Every statement of one message, planned before any runs (as PostgreSQL
    parses a whole Query message first: a syntax error anywhere runs nothing)."""
    planned: list[Planned] = []
    for stmt in split_statements(sql):
        if stmt.first_word == "DECLARE":
            planned.append(plan_declare(stmt, ctx, declared))
        elif stmt.first_word == "COPY":
            planned.append(plan_copy(stmt, ctx, declared))
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
        self._lock = threading.Lock()  # sessions plan in worker threads
        self._plans: OrderedDict[tuple[str, tuple[int, ...], str], list[Planned]] = OrderedDict()

    def plan(self, sql: str, ctx: RewriteContext, declared: tuple[int, ...] = ()) -> list[Planned]:
        key = (ctx.user, declared, sql)
        with self._lock:
            hit = self._plans.get(key)
            if hit is not None:
                self._plans.move_to_end(key)
                return hit
        planned = plan(sql, ctx, declared)
        queries = [p.query if isinstance(p, DeclareCursor) else p for p in planned]
        if all(not isinstance(q, BackendQuery) or q.cacheable for q in queries):
            with self._lock:
                self._plans[key] = planned
                if len(self._plans) > self._size:
                    self._plans.popitem(last=False)
        return planned
