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
PERSON = "__anonproxy_pu"  # the raw privacy unit, in aggregate-mode views only, counted for k



def _stored(name: str, alias: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True), alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _transformed(policy: TablePolicy, column: str, alias: str, ctx: RewriteContext) -> exp.Expression | None:
    oid = ctx.tables[policy.name][column]
    unit = exp.column(policy.privacy_unit, table=alias) if policy.privacy_unit else None
    c = Column(exp.column(column, table=alias), column, oid, unit)
    return column_expression(policy.rule(column), c, ctx.token_key, ctx.dialect)


def _k_filter(select: exp.Select, policy: TablePolicy, ctx: RewriteContext) -> exp.Select:
    qis = [q for q in policy.quasi_identifiers if policy.rule(q).rule != "hide"]
    if not qis or ctx.role.k < 2:
        return select
    keys = [_transformed(policy, q, K_INPUT, ctx) for q in qis]
    unit = exp.column(policy.privacy_unit, table=K_INPUT)
    having: exp.Expression = exp.GTE(this=exp.Count(this=exp.Distinct(expressions=[unit])),
                                     expression=exp.Literal.number(ctx.role.k))
    if policy.l_diversity:
        column, l = policy.l_diversity
        sensitive = exp.column(column, table=K_INPUT)
        having = exp.and_(having, exp.GTE(this=exp.Count(this=exp.Distinct(expressions=[sensitive])),
                                          expression=exp.Literal.number(l)))
    groups = (exp.select(*[exp.alias_(k, f"q{i}") for i, k in enumerate(keys)])
              .from_(_stored(policy.name, K_INPUT)).group_by(*[k.copy() for k in keys])
              .having(having))
    on = exp.and_(*[exp.NullSafeEQ(this=_transformed(policy, q, SOURCE, ctx),
                                   expression=exp.column(f"q{i}", table=K_GROUPS)) for i, q in enumerate(qis)])
    joined = select.join(exp.Subquery(this=groups, alias=exp.TableAlias(this=exp.to_identifier(K_GROUPS))),
                         on=on, join_type="inner")
    # The fence (DESIGN.md section 3, principle 5): without it PostgreSQL and DuckDB
    # push the client's WHERE below this join, evaluating it, errors included, on
    # rows the role cannot see. Neither pushes a predicate into a subquery with OFFSET.
    return joined.offset(0)


def policy_view(policy: TablePolicy, ctx: RewriteContext) -> exp.Select:
    projections = []
    for column in ctx.tables[policy.name]:
        expr = _transformed(policy, column, SOURCE, ctx)
        if expr is not None:
            projections.append(exp.alias_(expr, column, quoted=True))
    if not projections:
        raise undefined_table(policy.name)  # every column hidden: nothing of it exists for the role
    if ctx.role.mode == "aggregate" and policy.privacy_unit:
        projections.append(exp.alias_(exp.column(policy.privacy_unit, table=SOURCE), PERSON))
    select = exp.select(*projections).from_(_stored(policy.name, SOURCE))
    return _k_filter(select, policy, ctx)


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
