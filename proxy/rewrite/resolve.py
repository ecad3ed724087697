"""Resolve every relation name with PostgreSQL's scoping, then write each one
ourselves (DESIGN.md section 3, principle 1).

A table reference names either a CTE in scope or a stored table. PostgreSQL's
rules: a CTE is visible to the statement it is attached to and to nested
queries; inside a non-recursive WITH list, a CTE's body sees only the CTEs
before it (so `WITH customers AS (SELECT * FROM customers)` reads the stored
table), while in a WITH RECURSIVE list every CTE, itself included, is visible
in every body. After this pass:

- every CTE has a proxy-generated name, and every reference to it uses that
  name, so no backend can bind a reference differently from us;
- every stored table is a proxy-written, quoted name, marked with the table it
  is (`STORED_TABLE` in the node's meta) for the policy-view splice;
- anything else (an unknown name, another schema, a table function not on the
  list) has been refused.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterator

from sqlglot import exp

from proxy.errors import SqlError, insufficient_privilege, undefined_table
from proxy.rewrite.context import RewriteContext

STORED_TABLE = "anonproxy.table"  # meta key: the stored table a Table node reads
CTE_PREFIX = "__anonproxy_cte_"
WRITTEN = "anonproxy.written"  # meta key: the client's own name of a renamed CTE or CTE reference
LOCAL_SCHEMAS = frozenset({"public", "main"})
# Set-returning functions that read nothing but their arguments.
SAFE_TABLE_FUNCTIONS = frozenset({"generate_series", "unnest", "range"})

Env = dict[str, str]  # client name (case-folded as PostgreSQL does) -> generated CTE name
Resolver = Callable[[exp.Table, RewriteContext], None]  # for every table reference that is not a CTE


def folded(ident: exp.Identifier) -> str:
    """PostgreSQL folds unquoted identifiers to lower case; quoted ones are exact."""
    return ident.name if ident.quoted else ident.name.lower()


def stored_table(node: exp.Expression) -> str | None:
    """The stored table a resolved Table node reads, or None (CTE, function)."""
    return node.meta.get(STORED_TABLE) if isinstance(node, exp.Table) else None


def _bind_ctes(with_: exp.With, env: Env, ctx: RewriteContext, counter: Iterator[int], other: Resolver) -> Env:
    ctes = list(with_.expressions)
    names = [folded(cte.args["alias"].this) for cte in ctes]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SqlError("42712", f'WITH query name "{name}" specified more than once')
    generated = [f"{CTE_PREFIX}{next(counter)}" for _ in ctes]
    recursive = bool(with_.args.get("recursive"))
    for i, cte in enumerate(ctes):
        visible = dict(env)
        # WITH RECURSIVE: every CTE of the list, itself included; otherwise only earlier ones.
        visible.update(zip(names, generated) if recursive else zip(names[:i], generated[:i]))
        _visit(cte.this, visible, ctx, counter, other)
        if recursive:
            _check_recursive_form(cte.this, names[i], generated[i])
        alias: exp.TableAlias = cte.args["alias"]
        alias.meta[WRITTEN] = alias.this.copy()
        alias.set("this", exp.to_identifier(generated[i], quoted=True))
        ctx.note("names", f"CTE {names[i]} -> {generated[i]}" + (" (recursive WITH)" if recursive else ""))
    return {**env, **dict(zip(names, generated))}


def _refers_to(body: exp.Expression, generated: str) -> bool:
    return any(t.name == generated and isinstance(t.this, exp.Identifier) for t in body.find_all(exp.Table))


def _check_recursive_form(body: exp.Expression, name: str, generated: str) -> None:
    """PostgreSQL's rule: a self-referencing CTE is `non-recursive UNION [ALL] recursive`."""
    if not _refers_to(body, generated):
        return
    if not isinstance(body, exp.Union) or _refers_to(body.left, generated):
        raise SqlError("42P19", f'recursive query "{name}" does not have the form '
                                "non-recursive-term UNION [ALL] recursive-term")


def _resolve_function_source(table: exp.Table) -> None:
    func = table.this
    name = func.name.lower() if isinstance(func, exp.Anonymous) else ""
    if isinstance(func, (exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.Unnest)) or \
            name in SAFE_TABLE_FUNCTIONS:
        return
    shown = func.sql(dialect="postgres") if func is not None else "?"
    raise insufficient_privilege(f"table function {shown} is not allowed",
                                 hint="Query the tables your role may read, or generate_series/unnest.")


def _resolve_table(table: exp.Table, env: Env, ctx: RewriteContext, other: Resolver) -> None:
    if isinstance(table.this, exp.Identifier) and table.args.get("db") is None and table.args.get("catalog") is None \
            and folded(table.this) in env:
        name = folded(table.this)
        if table.args.get("alias") is None:  # keep the client's name for qualified columns
            table.set("alias", exp.TableAlias(this=table.this.copy()))
        table.meta[WRITTEN] = table.this.copy()
        table.set("this", exp.to_identifier(env[name], quoted=True))
        ctx.note("names", f"{table.alias_or_name} -> CTE {env[name]}")
        return
    other(table, ctx)


def is_cte_reference(table: exp.Table) -> bool:
    return isinstance(table, exp.Table) and WRITTEN in table.meta


def resolve_stored(table: exp.Table, ctx: RewriteContext) -> None:
    """A data query's table reference: a stored table the role may read, or a safe function."""
    if not isinstance(table.this, exp.Identifier):
        _resolve_function_source(table)
        return
    name = folded(table.this)
    schema, catalog = table.args.get("db"), table.args.get("catalog")
    if catalog is not None and folded(catalog) != ctx.database:
        raise SqlError("0A000", "cross-database references are not implemented: "
                                f"{table.sql(dialect='postgres')}")
    if schema is not None and folded(schema) not in LOCAL_SCHEMAS:
        raise undefined_table(f"{table.db}.{table.name}")
    if name not in ctx.tables or not ctx.role.may_read(name):
        raise undefined_table(table.name)
    if table.args.get("alias") is None:
        table.set("alias", exp.TableAlias(this=table.this.copy()))
    table.set("this", exp.to_identifier(name, quoted=True))
    table.set("db", None)
    table.set("catalog", None)
    table.meta[STORED_TABLE] = name
    ctx.note("names", f"{table.alias_or_name} -> stored table {name}")
    ctx.note("table", name)


def _visit(node: exp.Expression, env: Env, ctx: RewriteContext, counter: Iterator[int], other: Resolver) -> None:
    with_ = node.args.get("with_")
    if isinstance(with_, exp.With):
        env = _bind_ctes(with_, env, ctx, counter, other)
    if isinstance(node, exp.Table):
        _resolve_table(node, env, ctx, other)
    for child in list(node.iter_expressions()):
        if child is not with_:
            _visit(child, env, ctx, counter, other)


def resolve_names(tree: exp.Expression, ctx: RewriteContext, other: Resolver = resolve_stored) -> exp.Expression:
    """CTE references renamed to the CTE in scope; every other reference handed to `other`."""
    _visit(tree, {}, ctx, itertools.count(1), other)
    return tree


def client_sql(node: exp.Expression, *, lower_functions: bool = False) -> str:
    """The node as the client wrote it, for messages: CTEs keep their own names
    (the proxy's internal ones must never reach the client, errors included).
    `lower_functions`: count(*) as PostgreSQL writes it, for labels a reader sees
    beside their own SQL (a dp notice), instead of sqlglot's COUNT(*)."""
    copy = node.copy()
    for part in copy.walk():
        written = part.meta.get(WRITTEN)
        if isinstance(part, exp.TableAlias) and written is not None:
            part.set("this", written.copy())
        elif isinstance(part, exp.Table) and written is not None:
            part.set("this", written.copy())
            if part.alias == written.name:
                part.set("alias", None)
    return copy.sql(dialect="postgres", normalize_functions="lower" if lower_functions else "upper")
