"""Aggregate mode: only aggregated answers leave, and only from groups of at
least k people, enforced in the rewritten SQL.

- The statement's output must be aggregated (or read only public tables).
- Every aggregating SELECT that reads private data gets
  HAVING count(DISTINCT <person>) >= k for each private source, so every
  released row, grouped or global, holds at least k people; this applies at
  every level, so groups inside subqueries and CTEs are suppressed too.
- Row-level subqueries and CTEs that feed an aggregate carry each row's person
  (an internal column) up to where it is counted.
- Aggregates that return one row's own value (min, max, string_agg, mode,
  quantiles, ...) are allowed only on generalized columns or public tables.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError, insufficient_privilege
from proxy.policy.model import TablePolicy
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.policy_views import PERSON
from proxy.rewrite.resolve import CTE_PREFIX, stored_table

VALUE_AGGREGATES = (exp.Max, exp.Min, exp.ArgMax, exp.ArgMin, exp.AnyValue, exp.First, exp.Last,
                    exp.GroupConcat, exp.ArrayAgg, exp.Median, exp.PercentileCont, exp.PercentileDisc,
                    exp.Quantile, exp.ApproxQuantile, exp.Mode)
VALUE_AGGREGATE_NAMES = frozenset({"mode", "median", "quantile", "quantile_cont", "quantile_disc", "list",
                                   "first", "last", "any_value", "arbitrary", "histogram", "string_agg",
                                   "array_agg", "json_agg", "jsonb_agg", "min_by", "max_by", "arg_min",
                                   "arg_max", "percentile_cont", "percentile_disc", "mad", "kurtosis"})


def _owner(node: exp.Expression) -> exp.Select | None:
    """The SELECT a node belongs to (not a nested one)."""
    return node.find_ancestor(exp.Select)


def _in_window(node: exp.Expression, select: exp.Select) -> bool:
    parent = node.parent
    while parent is not None and parent is not select:
        if isinstance(parent, exp.Window):
            return True
        parent = parent.parent
    return False


def own_aggregates(select: exp.Select) -> list[exp.Expression]:
    found = [n for n in select.find_all(exp.AggFunc) if _owner(n) is select and not _in_window(n, select)]
    found += [n for n in select.find_all(exp.Anonymous)
              if n.name.lower() in VALUE_AGGREGATE_NAMES and _owner(n) is select and not _in_window(n, select)]
    return found


def is_aggregating(select: exp.Select) -> bool:
    return bool(select.args.get("group")) or bool(own_aggregates(select))


def _sources(select: exp.Select) -> list[exp.Expression]:
    """The FROM and JOIN items of a SELECT."""
    items = []
    if select.args.get("from_") is not None:
        items.append(select.args["from_"].this)
    items += [join.this for join in select.args.get("joins") or []]
    return items


def _view_policy(source: exp.Expression, ctx: RewriteContext) -> TablePolicy | None:
    name = stored_table(source)
    if name is not None:
        return ctx.role.table(name)
    return None


def _cte_body(table: exp.Table) -> exp.Expression | None:
    node = table.parent
    while node is not None:
        with_ = node.args.get("with_")
        if isinstance(with_, exp.With):
            for cte in with_.expressions:
                if cte.alias_or_name == table.name:
                    return cte.this
        node = node.parent
    return None


def _derived_body(source: exp.Expression) -> exp.Expression | None:
    if isinstance(source, exp.Subquery):
        return source.this
    if isinstance(source, exp.Table) and source.name.startswith(CTE_PREFIX):
        return _cte_body(source)
    return None


def _person_columns(body: exp.Expression) -> list[str]:
    """The person columns a derived table's rows carry (after propagation)."""
    if isinstance(body, exp.Select):
        return [p.alias_or_name for p in body.expressions if p.alias_or_name.startswith(PERSON)]
    return []


def _source_alias(source: exp.Expression) -> str:
    return source.alias_or_name


def _person_refs(select: exp.Select, ctx: RewriteContext) -> list[exp.Column]:
    """One column per private source of `select`, naming the person of each row."""
    refs = []
    for source in _sources(select):
        policy = _view_policy(source, ctx)
        if policy is not None:
            if not policy.public:
                refs.append(exp.column(PERSON, table=_source_alias(source)))
            continue
        body = _derived_body(source)
        if body is not None:
            refs += [exp.column(name, table=_source_alias(source)) for name in _person_columns(body)]
    return refs


def _feeds_from(select: exp.Select) -> bool:
    """Whether the SELECT's rows are a FROM source (a derived table or a CTE body)."""
    parent = select.parent
    if isinstance(parent, exp.Subquery):
        return isinstance(parent.parent, (exp.From, exp.Join))
    return isinstance(parent, exp.CTE)


def _in_predicate(select: exp.Select) -> bool:
    """Whether the SELECT only filters (WHERE, HAVING, JOIN ... ON) rather than produces values."""
    node = select.parent
    while node is not None and not isinstance(node, exp.Select):
        if isinstance(node, (exp.Where, exp.Having)) or node.arg_key == "on":
            return True
        node = node.parent
    return False


def _propagate_persons(select: exp.Select, refs: list[exp.Column]) -> None:
    """A row-level SELECT feeding an aggregate: carry each row's person(s) up."""
    if select.args.get("distinct"):
        raise SqlError("0A000", "SELECT DISTINCT over private rows inside an aggregate is not supported "
                                "in aggregate mode", hint="Aggregate directly, e.g. count(DISTINCT column).")
    for i, ref in enumerate(refs):
        select.append("expressions", exp.alias_(ref, f"{PERSON}_{i}"))


def _suppress_small_groups(select: exp.Select, ctx: RewriteContext) -> None:
    refs = _person_refs(select, ctx)
    if not refs:
        return
    k = exp.Literal.number(ctx.role.k)
    conditions = [exp.GTE(this=exp.Count(this=exp.Distinct(expressions=[ref])), expression=k.copy())
                  for ref in refs]
    having = select.args.get("having")
    combined = exp.and_(*([having.this] if having else []), *conditions)
    select.set("having", exp.Having(this=combined))


def _resolve_rule(column: exp.Column, select: exp.Select, ctx: RewriteContext):
    """(policy, column) behind a column of `select`, through one derived level; None if unknown."""
    candidates = []
    for source in _sources(select):
        if column.table and column.table.lower() != _source_alias(source).lower():
            continue
        policy = _view_policy(source, ctx)
        if policy is not None:
            if column.name.lower() in ctx.tables[policy.name]:
                candidates.append((policy, column.name.lower()))
            continue
        body = _derived_body(source)
        if isinstance(body, exp.Select):
            for proj in body.expressions:
                if proj.alias_or_name.lower() == column.name.lower():
                    inner = proj.this if isinstance(proj, exp.Alias) else proj
                    if isinstance(inner, exp.Column):
                        resolved = _resolve_rule(inner, body, ctx)
                        candidates.append(resolved if resolved else (None, column.name))
                    else:
                        candidates.append((None, column.name))
    return candidates[0] if len(candidates) == 1 else None


def _check_value_aggregates(select: exp.Select, ctx: RewriteContext) -> None:
    for agg in own_aggregates(select):
        is_value = isinstance(agg, VALUE_AGGREGATES) or (isinstance(agg, exp.Anonymous)
                                                         and agg.name.lower() in VALUE_AGGREGATE_NAMES)
        if not is_value:
            continue
        # percentile_cont(0.5) WITHIN GROUP (ORDER BY col): the column sits beside the call
        scope = agg.parent if isinstance(agg.parent, exp.WithinGroup) else agg
        for column in scope.find_all(exp.Column):
            resolved = _resolve_rule(column, select, ctx)
            policy, name = resolved if resolved else (None, column.name)
            allowed = policy is not None and (policy.public or policy.rule(name).rule == "generalize")
            if not allowed:
                what = agg.sql_name().lower() if not isinstance(agg, exp.Anonymous) else agg.name.lower()
                raise insufficient_privilege(
                    f"{what}() on column \"{column.name}\" is not allowed in aggregate mode: it would "
                    "return one person's own value",
                    hint="Use count, sum or avg, or a column the policy generalizes.")


def _row_level_refusal(ctx: RewriteContext) -> SqlError:
    return insufficient_privilege(
        f'role "{ctx.role.name}" may only receive aggregated results from private tables',
        hint="Aggregate the rows (count, sum, avg ... with GROUP BY); groups of fewer than "
             f"{ctx.role.k} people are suppressed.")


def _process(select: exp.Select, ctx: RewriteContext, done: set[int]) -> None:
    if id(select) in done:
        return
    done.add(id(select))
    for source in _sources(select):  # sources first: their persons must be known here
        body = _derived_body(source)
        if body is not None:
            for inner in [body] if isinstance(body, exp.Select) else list(body.find_all(exp.Select)):
                _process(inner, ctx, done)
    if is_aggregating(select):
        _check_value_aggregates(select, ctx)
        _suppress_small_groups(select, ctx)
        return
    refs = _person_refs(select, ctx)
    if not refs or _in_predicate(select):
        return
    if _feeds_from(select):
        _propagate_persons(select, refs)
        return
    raise _row_level_refusal(ctx)  # private rows would reach the output one by one


def enforce_aggregate_mode(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    if ctx.role.mode != "aggregate":
        return tree
    done: set[int] = set()
    selects = sorted(tree.find_all(exp.Select), key=lambda s: -s.depth)  # innermost first
    for select in selects:
        _process(select, ctx, done)
    return tree
