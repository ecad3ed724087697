"""Substitute policy views: every stored table a statement reads becomes a
subquery that computes the role's column rules inside the backend, so no
clause of the client's statement ever sees a raw protected value.

Where a table declares quasi-identifiers, the view keeps only rows whose
transformed quasi-identifier combination is shared by at least k privacy
units (and, with l_diversity, holds at least l distinct sensitive values).
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import undefined_table
from proxy.policy.model import TablePolicy
from proxy.policy.transforms import Column, column_expression
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.resolve import stored_table

SOURCE, K_INPUT, K_GROUPS = "__anonproxy_src", "__anonproxy_kin", "__anonproxy_k"
# Columns the k-filter adds beside the stored ones (schema_check refuses stored names like these).
K_KEY, K_UNITS, K_VALUES = "__anonproxy_q", "__anonproxy_units", "__anonproxy_values"
PERSON = "__anonproxy_pu"  # the raw privacy unit, in aggregate and dp views only (k, contribution bounds)



def _stored(name: str, alias: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True), alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _transformed(policy: TablePolicy, column: str, alias: str, ctx: RewriteContext) -> exp.Expression | None:
    oid = ctx.tables[policy.name][column]
    unit = exp.column(policy.privacy_unit, table=alias) if policy.privacy_unit else None
    c = Column(exp.column(column, table=alias), column, oid, unit)
    return column_expression(policy.rule(column), c, ctx.token_key, ctx.dialect)


def _distinct_counts(inner: exp.Select, counted: list[tuple[exp.Expression, str]], keys: list[exp.Expression],
                     dialect: str) -> exp.Select:
    """`inner` plus, per (expression, name), the number of distinct non-null values
    of the expression in the row's quasi-identifier group, as a window over the
    group: no join, so NULL keys group together as GROUP BY would, and PostgreSQL
    needs no nested loop (IS NOT DISTINCT FROM cannot be hashed)."""
    def window(func: exp.Expression, order: exp.Expression | None = None) -> exp.Window:
        spec = exp.Order(expressions=[exp.Ordered(this=order, nulls_first=False)]) if order is not None else None
        return exp.Window(this=func, partition_by=[k.copy() for k in keys], order=spec)

    level = exp.select(exp.Star()).from_(inner.subquery("__anonproxy_q"))
    if dialect != "postgres":  # DuckDB counts DISTINCT in a window directly
        return level.select(*[exp.alias_(window(exp.Count(this=exp.Distinct(expressions=[e]))), name)
                              for e, name in counted])
    # PostgreSQL has no DISTINCT in window aggregates: dense_rank with NULLs last
    # numbers the distinct non-null values 1..d, and their largest rank is d.
    ranked = level.select(*[exp.alias_(window(exp.Anonymous(this="dense_rank"), e.copy()), f"{name}_rank")
                            for e, name in counted])
    top = []
    for e, name in counted:
        rank_if_counted = exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Is(this=e.copy(), expression=exp.Null())),
                                               true=exp.column(f"{name}_rank"))])
        top.append(exp.alias_(window(exp.Max(this=rank_if_counted)), name))
    return exp.select(exp.Star()).from_(ranked.subquery("__anonproxy_r")).select(*top)


def _k_filter(policy: TablePolicy, ctx: RewriteContext) -> exp.Expression:
    """The stored table, or, where quasi-identifiers are declared, only its rows
    whose transformed combination is shared by k privacy units (and l sensitive
    values), with every raw column still in place for the view's projections."""
    qis = [q for q in policy.quasi_identifiers if policy.rule(q).rule != "hide"]
    if not qis or ctx.role.k < 2:
        return _stored(policy.name, SOURCE)
    keys = [exp.column(f"{K_KEY}{i}") for i in range(len(qis))]
    inner = exp.select(exp.Star()).from_(_stored(policy.name, K_INPUT)).select(
        *[exp.alias_(_transformed(policy, q, K_INPUT, ctx), f"{K_KEY}{i}") for i, q in enumerate(qis)])
    counted = [(exp.column(policy.privacy_unit), K_UNITS)]
    condition: exp.Expression = exp.GTE(this=exp.column(K_UNITS), expression=exp.Literal.number(ctx.role.k))
    if policy.l_diversity:
        column, l = policy.l_diversity
        counted.append((exp.column(column), K_VALUES))
        condition = exp.and_(condition, exp.GTE(this=exp.column(K_VALUES), expression=exp.Literal.number(l)))
    kept = (exp.select(exp.Star()).from_(_distinct_counts(inner, counted, keys, ctx.dialect).subquery(K_GROUPS))
            .where(condition))
    # The fence (DESIGN.md section 3, principle 5): without it PostgreSQL and DuckDB
    # push the client's WHERE below this filter, evaluating it, errors included, on
    # rows the role cannot see. Neither pushes a predicate into a subquery with OFFSET.
    return kept.offset(0).subquery(SOURCE)


def policy_view(policy: TablePolicy, ctx: RewriteContext) -> exp.Select:
    projections = []
    for column in ctx.tables[policy.name]:
        expr = _transformed(policy, column, SOURCE, ctx)
        if expr is not None:
            projections.append(exp.alias_(expr, column, quoted=True))
    if not projections:
        raise undefined_table(policy.name)  # every column hidden: nothing of it exists for the role
    if ctx.role.mode in ("aggregate", "dp") and policy.privacy_unit:
        projections.append(exp.alias_(exp.column(policy.privacy_unit, table=SOURCE), PERSON))
    return exp.select(*projections).from_(_k_filter(policy, ctx))


def view_with_person(policy: TablePolicy, ctx: RewriteContext) -> exp.Select:
    """The role's view plus the raw privacy unit as PERSON, for measurements that
    run inside the backend and return only counts (anonproxy risk)."""
    view = policy_view(policy, ctx)
    if PERSON not in view.named_selects and policy.privacy_unit:
        view = view.select(exp.alias_(exp.column(policy.privacy_unit, table=SOURCE), PERSON))
    return view


def view_sql(policy: TablePolicy, ctx: RewriteContext) -> str:
    """The view in the backend's SQL, built once per role and table: a policy
    view is the same for every statement, so statements only splice it in."""
    key = (ctx.role.name, policy.name, ctx.dialect)
    sql = ctx.views.get(key)
    if sql is None:
        sql = ctx.views[key] = policy_view(policy, ctx).sql(dialect=ctx.dialect)
    return sql


class ViewBody(exp.Expression):
    """A policy view in a statement's tree. Only this pass creates it, from the
    role's policy; the parser never does, so no client text can become one.
    It is emitted as the view's SQL built once per role and table."""

    arg_types = {"table": True, "sql": True}


def splice_policy_views(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    """Every stored table the statement reads (as resolve_names marked it)
    becomes a subquery node holding its policy view, under the same alias."""
    if not ctx.role.transforms:
        return tree
    for table in list(tree.find_all(exp.Table)):
        name = stored_table(table)
        if name is None:
            continue
        body = ViewBody(table=name, sql=view_sql(ctx.role.table(name), ctx))
        table.replace(exp.Subquery(this=body, alias=table.args["alias"]))
    return tree
