"""Aggregate mode: every released value is computed from at least k distinct
people, and no one person's row can change whether a statement succeeds, which
groups are released or any released byte except through such an aggregate
(DESIGN.md section 3, principle 4; the grammar is in aggregate_grammar.py).

Each SELECT is classified by what it reads (relations.py):
- over public or released rows only: anything the allow-list accepts, but it
  may not look into private rows (no correlation, no private row-level subquery);
- aggregating over private rows: the grammar, then HAVING count(DISTINCT
  person) >= k for every private source, each FILTERed aggregate counted for
  itself, and OFFSET 0 when nested, so no outer predicate is pushed into it;
- row-level over private rows: allowed only as a FROM source of an aggregate
  (it then carries each row's person up) or as a semijoin on the privacy unit.
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError
from proxy.rewrite.aggregate_grammar import (
    AGGREGATE_HINT, ALLOWED_AGGREGATES, COMPARISONS, GRAMMAR_HINT, POST_AGGREGATE, RANKING, VALUE_AGGREGATES,
    Operand, Scope, check_constant, is_aggregate, is_constant, key_operand)
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.policy_views import PERSON
from proxy.rewrite.relations import (
    PRIVATE, PUBLIC, RELEASED, ColumnInfo, Relation, Source, alias_columns, cte_of, function_relation,
    refuse, source_items, stored_relation)
from proxy.rewrite.resolve import CTE_PREFIX, client_sql, folded, stored_table
from proxy.wire import types as pg

ROW_LEVEL_HINT = "Aggregate the rows (count, sum, avg ... with GROUP BY); groups of fewer than {k} people are suppressed."


def own_nodes(select: exp.Select):
    """The nodes of a SELECT itself: nested queries are yielded as nodes, not entered."""
    stack = [v for k, v in select.args.items() if k != "with_"]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, exp.Expression):
            continue
        yield item
        if not isinstance(item, (exp.Subquery, exp.Select, exp.SetOperation)):
            stack.extend(item.iter_expressions())


def _position(select: exp.Select) -> str:
    """Where a query sits: a FROM source or CTE ("source"), IN (...) ("semijoin"), or elsewhere."""
    parent = select.parent
    if isinstance(parent, exp.CTE):
        return "source"
    if isinstance(parent, exp.Subquery):
        if isinstance(parent.parent, (exp.From, exp.Join)):
            return "source"
        if isinstance(parent.parent, exp.In) and parent.arg_key == "query":
            return "semijoin"
    return "other"


class AggregateMode:
    def __init__(self, ctx: RewriteContext) -> None:
        self.ctx = ctx
        self.memo: dict[int, Relation] = {}
        self.carried = 0  # person columns added so far: names unique in the statement, as a star may
                          # bring an inner level's person column up beside this level's own

    # --- relations ------------------------------------------------------------

    def relation(self, query: exp.Expression) -> Relation:
        if isinstance(query, exp.Subquery):
            return self.relation(query.this)
        found = self.memo.get(id(query))
        if found is None:
            found = self.memo[id(query)] = self._relation(query)
        return found

    def _relation(self, query: exp.Expression) -> Relation:
        if isinstance(query, exp.Select):
            return self.select(query)
        if isinstance(query, exp.SetOperation):
            left, right = self.relation(query.left), self.relation(query.right)
            if RELEASED in (left.kind, right.kind) and query.parent is not None:
                raise refuse("set operations over private data are supported only as the whole statement "
                             "in aggregate mode", "Run each aggregate as its own statement.", "0A000")
            kind = RELEASED if RELEASED in (left.kind, right.kind) else PUBLIC
            return Relation(kind, left.columns, grouped=True)
        if isinstance(query, exp.Values):
            return function_relation(query)
        raise refuse(f"{query.key.upper()} is not supported in aggregate mode", code="0A000")

    def source(self, item: exp.Expression) -> Source:
        alias = item.args.get("alias")
        name = folded(alias.this) if isinstance(alias, exp.TableAlias) and alias.this else ""
        if isinstance(item, exp.Table) and stored_table(item):
            relation = stored_relation(stored_table(item), self.ctx)
        elif isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier) \
                and item.name.startswith(CTE_PREFIX):
            cte = cte_of(item)
            relation = self._renamed(self.relation(cte.this), alias_columns(cte))
        elif isinstance(item, exp.Subquery):
            relation = self.relation(item.this)
        elif isinstance(item, (exp.Table, exp.Values, exp.Unnest)):
            if any(True for _ in item.find_all(exp.Column)):  # implicitly LATERAL: rows per person
                raise refuse("a set-returning function over columns of another FROM item is not allowed in "
                             "aggregate mode: how many rows it returns could depend on one person",
                             "Use constant arguments, e.g. generate_series(1, 12).", "0A000")
            return Source(name, function_relation(item))
        else:
            raise refuse(f"{item.key.upper()} in FROM is not supported in aggregate mode", code="0A000")
        relation = self._renamed(relation, alias_columns(item))
        if relation.kind == PRIVATE and not name:
            raise SqlError("42601", "subquery in FROM must have an alias")
        return Source(name, relation)

    @staticmethod
    def _renamed(relation: Relation, names: list[str]) -> Relation:
        if not names or relation.columns is None:
            return relation
        columns = list(relation.columns.items())
        renamed = {new: info for new, (_, info) in zip(names, columns)} | dict(columns[len(names):])
        return Relation(relation.kind, renamed, relation.persons, relation.grouped)

    # --- one SELECT -----------------------------------------------------------

    def select(self, select: exp.Select) -> Relation:
        sources = [self.source(item) for item in source_items(select)]
        outputs = {p.alias_or_name: p.this if isinstance(p, exp.Alias) else p for p in select.expressions}
        scope = Scope(sources, outputs)
        persons = [exp.column(exp.to_identifier(person), table=exp.to_identifier(s.alias, quoted=True))
                   for s in sources for person in s.relation.persons]
        if not persons:
            return self._public_select(select, scope, sources)
        for join in select.args.get("joins") or []:
            if join.args.get("on") is not None:
                self.predicate(join.args["on"], scope)
            if join.args.get("using"):
                raise refuse("JOIN ... USING is not supported in aggregate mode", "Write ON a.x = b.x.", "0A000")
        if select.args.get("where") is not None:
            self.predicate(select.args["where"].this, scope)
        aggregating = bool(select.args.get("group")) or any(is_aggregate(n) for n in own_nodes(select))
        if aggregating:
            return self._aggregating(select, scope, persons)
        if any(isinstance(node, exp.Window) for node in own_nodes(select)):
            raise refuse("window functions over private rows are not allowed in aggregate mode",
                         "Aggregate with GROUP BY; a window may rank the aggregated groups.")
        return self._row_level(select, scope, persons)

    def _public_select(self, select: exp.Select, scope: Scope, sources: list[Source]) -> Relation:
        """Public or released rows: any allowed expression, but no look into private rows."""
        for node in own_nodes(select):
            if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star) \
                    and folded(node.this) not in scope.outputs:
                scope.column(node)
            if isinstance(node, exp.Subquery) and self.relation(node.this).kind == PRIVATE:
                raise refuse("a row-level subquery over private rows may filter only private rows, "
                             "as IN (SELECT <privacy unit> ...)", GRAMMAR_HINT)
        kind = RELEASED if any(s.relation.kind == RELEASED for s in sources) else PUBLIC
        return Relation(kind, self._outputs(select, scope), grouped=True)

    def _outputs(self, select: exp.Select, scope: Scope, released: bool = True) -> dict[str, ColumnInfo]:
        columns: dict[str, ColumnInfo] = {}
        for proj in select.expressions:
            inner = proj.this if isinstance(proj, exp.Alias) else proj
            if isinstance(inner, exp.Star) or (isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star)):
                table = folded(inner.args["table"]) if isinstance(inner, exp.Column) and inner.args.get("table") else None
                for source in scope.sources:
                    if table is None or source.alias == table:
                        columns.update(source.relation.columns or {})
                continue
            info = self._projection_info(inner, scope)
            if released:
                info = ColumnInfo(info.oid, private=False, value_ok=True)
            columns[proj.alias_or_name] = info
        return columns

    def _projection_info(self, node: exp.Expression, scope: Scope) -> ColumnInfo:
        if isinstance(node, exp.Column):
            try:
                return scope.column(node)
            except SqlError:
                return ColumnInfo(0, private=False, value_ok=True)
        key = key_operand(node, scope) if not is_aggregate(node) else None
        if key is not None:
            return ColumnInfo(key.oid, private=key.private, value_ok=False)
        if isinstance(node, exp.Count):
            return ColumnInfo(pg.INT8, private=False, value_ok=True)
        return ColumnInfo(pg.NUMERIC if isinstance(node, (exp.Sum, exp.Avg)) else 0, private=False, value_ok=True)

    # --- aggregating over private rows ---------------------------------------------

    def _aggregating(self, select: exp.Select, scope: Scope, persons: list[exp.Column]) -> Relation:
        distinct = select.args.get("distinct")
        if distinct is not None and distinct.args.get("on") is not None:
            raise refuse("DISTINCT ON is not supported in aggregate mode", code="0A000")
        keys = self._group_keys(select, scope)
        for proj in select.expressions:
            self.post_aggregate(proj.this if isinstance(proj, exp.Alias) else proj, scope, keys)
        if select.args.get("having") is not None:
            self.predicate(select.args["having"].this, scope, keys=keys)
        for ordered in (select.args.get("order") or exp.Order()).expressions:
            item = ordered.this
            named = isinstance(item, exp.Column) and not item.table and folded(item.this) in scope.outputs
            if not named and not (isinstance(item, exp.Literal) and item.is_int):
                self.post_aggregate(item, scope, keys)
        self._constant_limits(select)
        self._count_filters(select, persons)
        self._suppress_small_groups(select, persons)
        if _position(select) == "source" and select.args.get("limit") is None \
                and select.args.get("offset") is None:
            select.set("offset", exp.Offset(expression=exp.Literal.number(0)))  # the fence
        self.ctx.note("aggregate mode", f"groups of fewer than {self.ctx.role.k} people suppressed: "
                      + ", ".join(p.sql() for p in persons))
        return Relation(RELEASED, self._outputs(select, scope), grouped=bool(select.args.get("group")))

    def _group_keys(self, select: exp.Select, scope: Scope) -> list[exp.Expression]:
        group = select.args.get("group")
        if group is None:
            return []
        if any(group.args.get(k) for k in ("grouping_sets", "cube", "rollup", "all")):
            raise refuse("GROUPING SETS, CUBE, ROLLUP and GROUP BY ALL are not supported in aggregate mode",
                         code="0A000")
        keys = []
        for item in group.expressions:
            expr = item
            if isinstance(item, exp.Literal) and item.is_int:
                index = int(item.this) - 1
                if not 0 <= index < len(select.expressions):
                    raise SqlError("42P10", f"GROUP BY position {item.this} is not in select list")
                expr = select.expressions[index]
                expr = expr.this if isinstance(expr, exp.Alias) else expr
            elif isinstance(item, exp.Column) and not item.table and folded(item.this) in scope.outputs:
                try:
                    scope.column(item)
                except SqlError:  # not an input column: PostgreSQL takes the output column
                    expr = scope.outputs[folded(item.this)]
            if key_operand(expr, scope) is None:
                raise refuse(f"GROUP BY {client_sql(expr)} is not allowed in aggregate mode",
                             "Group by columns, date_trunc('unit', column) or extract(field FROM column).")
            keys.append(expr)
        return keys

    def _constant_limits(self, select: exp.Select) -> None:
        for name in ("limit", "offset"):
            clause = select.args.get(name)
            if clause is not None and not is_constant(clause.expression):
                raise refuse(f"{name.upper()} must be a constant in aggregate mode")

    def post_aggregate(self, node: exp.Expression, scope: Scope, keys: list[exp.Expression]) -> None:
        """An expression over aggregates, group keys and constants, computed per released group."""
        if is_aggregate(node):
            self.aggregate(node, scope)
        elif any(node == key for key in keys) or is_constant(node):
            return
        elif isinstance(node, exp.Column):
            if not any(isinstance(k, exp.Column) and folded(k.this) == folded(node.this) for k in keys):
                raise SqlError("42803", f'column "{client_sql(node)}" must appear in the GROUP BY '
                                        "clause or be used in an aggregate function")
        elif isinstance(node, exp.Subquery):
            self.value_subquery(node, scalar=True)
        elif isinstance(node, exp.Window):
            self._window(node, scope, keys)
        elif isinstance(node, POST_AGGREGATE):
            for child in node.iter_expressions():
                if not isinstance(child, (exp.DataType, exp.If)):
                    self.post_aggregate(child, scope, keys)
                elif isinstance(child, exp.If):  # CASE WHEN ... THEN ...
                    self.post_aggregate(child.this, scope, keys)
                    self.post_aggregate(child.args["true"], scope, keys)
        else:
            raise refuse(f"{client_sql(node)} is not allowed in an aggregate-mode result",
                         "Return aggregates, group keys and arithmetic, round, cast or coalesce over them.")

    def _window(self, node: exp.Window, scope: Scope, keys: list[exp.Expression]) -> None:
        """A window over the released groups: a ranking, or an aggregate of group values."""
        func = node.this
        if isinstance(func, RANKING):
            arguments = list(func.iter_expressions())
        elif isinstance(func, (exp.Sum, exp.Avg, exp.Count, exp.Min, exp.Max)):
            arguments = [] if isinstance(func.this, exp.Star) else [func.this]
        else:
            raise refuse("a window in aggregate mode ranks or sums the aggregated groups: "
                         "row_number, rank, dense_rank, ntile, sum, avg, count, min, max", code="0A000")
        arguments += list((node.args.get("partition_by") or []))
        order = node.args.get("order")
        arguments += [o.this for o in order.expressions] if order is not None else []
        for argument in arguments:
            self.post_aggregate(argument, scope, keys)

    def aggregate(self, node: exp.Expression, scope: Scope) -> Operand:
        agg = node.this if isinstance(node, exp.Filter) else node
        if isinstance(node, exp.Filter):
            self.predicate(node.expression.this, scope)
        name = client_sql(agg).split("(", 1)[0].lower()
        if not isinstance(agg, ALLOWED_AGGREGATES):
            raise refuse(f"aggregate {name}() is not allowed in aggregate mode", AGGREGATE_HINT)
        extra = [k for k, v in agg.args.items() if k not in ("this", "big_int") and v]
        arg = agg.this
        if isinstance(arg, exp.Distinct) and len(arg.expressions) == 1 and not isinstance(agg, VALUE_AGGREGATES):
            arg = arg.expressions[0]
        if extra:
            raise refuse(f"{client_sql(agg)} is not allowed in aggregate mode", AGGREGATE_HINT)
        if isinstance(agg, exp.Count) and (isinstance(arg, exp.Star) or (isinstance(arg, exp.Literal))):
            return Operand(pg.INT8, private=False)
        if not isinstance(arg, exp.Column) or isinstance(arg.this, exp.Star):
            raise refuse(f"{name}() of an expression is not allowed in aggregate mode: its argument must be a column",
                         AGGREGATE_HINT)
        info = scope.column(arg)
        if isinstance(agg, VALUE_AGGREGATES) and not info.value_ok:
            raise refuse(f'{name}() on column "{arg.name}" is not allowed in aggregate mode: it would return '
                         "one person's own value", "Use count, sum or avg, or a column the policy generalizes.")
        if isinstance(agg, (exp.Sum, exp.Avg)) and info.oid and info.kind != "number":
            raise SqlError("42883", f"function {name}({pg.pg_type(info.oid).name}) does not exist")
        return Operand(info.oid if isinstance(agg, VALUE_AGGREGATES) else pg.NUMERIC, private=False)

    def _count_filters(self, select: exp.Select, persons: list[exp.Column]) -> None:
        """A FILTERed aggregate is released only when its own rows hold at least k people."""
        k = exp.Literal.number(self.ctx.role.k)
        for node in list(own_nodes(select)):
            if isinstance(node, exp.Filter) and isinstance(node.this, exp.AggFunc):
                where = node.expression
                enough = exp.and_(*[exp.GTE(this=exp.Filter(this=exp.Count(this=exp.Distinct(expressions=[p.copy()])),
                                                             expression=where.copy()), expression=k.copy())
                                    for p in persons])
                case = exp.Case(ifs=[exp.If(this=enough, true=node.copy())])
                node.replace(exp.Paren(this=case))

    def _suppress_small_groups(self, select: exp.Select, persons: list[exp.Column]) -> None:
        k = exp.Literal.number(self.ctx.role.k)
        conditions = [exp.GTE(this=exp.Count(this=exp.Distinct(expressions=[p.copy()])), expression=k.copy())
                      for p in persons]
        having = select.args.get("having")
        select.set("having", exp.Having(this=exp.and_(*([exp.Paren(this=having.this)] if having else []),
                                                      *conditions)))

    # --- row-level over private rows ---------------------------------------------------

    def _row_level(self, select: exp.Select, scope: Scope, persons: list[exp.Column]) -> Relation:
        position = _position(select)
        if position == "other":
            raise refuse(f'role "{self.ctx.role.name}" may only receive aggregated results from private tables',
                         ROW_LEVEL_HINT.format(k=self.ctx.role.k))
        for clause in ("distinct", "order", "limit", "offset"):
            if select.args.get(clause) is not None:
                raise refuse(f"{clause.upper()} in a row-level subquery over private rows is not allowed in "
                             "aggregate mode", "Filter with WHERE; aggregate in the outer query.", "0A000")
        for proj in select.expressions:
            inner = proj.this if isinstance(proj, exp.Alias) else proj
            if isinstance(inner, exp.Star) or (isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star)):
                continue
            if key_operand(inner, scope) is None and not is_constant(inner):
                raise refuse(f"{client_sql(inner)} is not allowed in a row-level subquery in "
                             "aggregate mode", "Select columns, date_trunc/extract of columns or constants; "
                                               "compute in the outer aggregate.")
        columns = self._outputs(select, scope, released=False)
        if position == "semijoin":
            return Relation(PRIVATE, columns, persons=[])
        names = [f"{PERSON}_{self.carried + i}" for i in range(len(persons))]
        self.carried += len(persons)
        for person, name in zip(persons, names):
            select.append("expressions", exp.alias_(person, name))
        return Relation(PRIVATE, columns, persons=names)

    # --- conditions -----------------------------------------------------------------------

    def predicate(self, node: exp.Expression, scope: Scope, keys: list[exp.Expression] | None = None) -> None:
        if isinstance(node, (exp.And, exp.Or)):
            self.predicate(node.this, scope, keys)
            self.predicate(node.expression, scope, keys)
        elif isinstance(node, (exp.Not, exp.Paren)):
            self.predicate(node.this, scope, keys)
        elif isinstance(node, (exp.Boolean, exp.Null)):
            return
        elif isinstance(node, exp.Column):
            self.operand(node, scope, keys)
        elif isinstance(node, COMPARISONS):
            right = node.expression
            if isinstance(right, (exp.Any, exp.All)):
                self.operand(node.this, scope, keys)
                self.value_subquery(right.this, scalar=False)
            else:
                self.compare(node.this, right, scope, keys)
        elif isinstance(node, exp.Between):
            for bound in (node.args["low"], node.args["high"]):
                self.compare(node.this, bound, scope, keys)
        elif isinstance(node, exp.In):
            self.membership(node, scope, keys)
        elif isinstance(node, (exp.Like, exp.ILike)):
            operand = self.operand(node.this, scope, keys)
            pattern = node.expression
            if not (isinstance(pattern, exp.Literal) and pattern.is_string) or operand.oid not in (pg.TEXT, pg.VARCHAR, pg.BPCHAR, 0):
                raise refuse("LIKE in aggregate mode needs a text column and a constant pattern", GRAMMAR_HINT)
        elif isinstance(node, exp.Escape) and isinstance(node.expression, exp.Literal):
            self.predicate(node.this, scope, keys)
        elif isinstance(node, exp.Is) and isinstance(node.expression, (exp.Null, exp.Boolean)):
            self.operand(node.this, scope, keys)
        elif isinstance(node, exp.Exists):
            self.value_subquery(node.this, scalar=False)
        else:
            raise refuse(f"the condition {client_sql(node)} is not allowed in aggregate mode", GRAMMAR_HINT)

    def operand(self, node: exp.Expression, scope: Scope, keys: list[exp.Expression] | None) -> Operand:
        if keys is not None and is_aggregate(node):
            return self.aggregate(node, scope)
        if isinstance(node, exp.Subquery):
            self.value_subquery(node, scalar=True)
            return Operand(0, private=False)
        if is_constant(node):
            return Operand(0, private=False, constant=node)
        key = key_operand(node, scope)
        if key is None:
            raise refuse(f"{client_sql(node)} is not allowed in an aggregate-mode condition", GRAMMAR_HINT)
        return key

    def compare(self, left: exp.Expression, right: exp.Expression, scope: Scope,
                keys: list[exp.Expression] | None) -> None:
        a, b = self.operand(left, scope, keys), self.operand(right, scope, keys)
        for column, other in ((a, b), (b, a)):
            if column.private and other.constant is not None:
                check_constant(other.constant, column.oid)
        if a.private and b.private and a.oid and b.oid and \
                {a.oid, b.oid} - {pg.INT2, pg.INT4, pg.INT8} and a.oid != b.oid and \
                not ({a.oid, b.oid} <= {pg.TIMESTAMP, pg.TIMESTAMPTZ, pg.DATE}):
            raise refuse("in aggregate mode, compared columns must have the same type", GRAMMAR_HINT)

    def membership(self, node: exp.In, scope: Scope, keys: list[exp.Expression] | None) -> None:
        left = self.operand(node.this, scope, keys)
        query = node.args.get("query")
        if query is None:
            for item in node.expressions:
                if not is_constant(item):
                    raise refuse("IN (...) in aggregate mode takes constants", GRAMMAR_HINT)
                if left.private:
                    check_constant(item, left.oid)
            return
        inner = self.relation(query)
        if inner.kind != PRIVATE:
            return  # released or public values
        select = query.this if isinstance(query, exp.Subquery) else query
        unit_left = isinstance(node.this, exp.Column) and scope.column(node.this).unit
        projections = select.expressions if isinstance(select, exp.Select) else []
        unit_right = len(projections) == 1 and (inner.columns or {}).get(projections[0].alias_or_name,
                                                                          ColumnInfo(0, False, False)).unit
        if not (unit_left and unit_right):
            raise refuse("a subquery over private rows may only select people: use "
                         "<privacy unit> IN (SELECT <privacy unit> FROM ... WHERE ...)", GRAMMAR_HINT)

    def value_subquery(self, node: exp.Expression, scalar: bool) -> None:
        relation = self.relation(node)
        if relation.kind == PRIVATE:
            raise refuse("a subquery over private rows may only select people, as "
                         "<privacy unit> IN (SELECT <privacy unit> ...)", GRAMMAR_HINT)
        if scalar and relation.kind == RELEASED and relation.grouped:
            raise refuse("a scalar subquery over private data must be a single aggregate without GROUP BY "
                         "in aggregate mode", code="0A000")


def reads_private(tree: exp.Expression, ctx: RewriteContext) -> bool:
    return any(not ctx.role.table(name).public for name in
               (stored_table(t) for t in tree.find_all(exp.Table)) if name)


def enforce_aggregate_mode(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    if ctx.role.mode != "aggregate" or not reads_private(tree, ctx):
        return tree
    if any(w.args.get("recursive") for w in tree.find_all(exp.With)):
        raise refuse("WITH RECURSIVE is not supported in aggregate mode over private tables", code="0A000")
    mode = AggregateMode(ctx)
    mode.relation(tree)
    for query in list(tree.find_all(exp.Select)):  # every query, wherever it sits
        mode.relation(query)
    top = mode.relation(tree)
    if top.kind == PRIVATE:
        raise refuse(f'role "{ctx.role.name}" may only receive aggregated results from private tables',
                     ROW_LEVEL_HINT.format(k=ctx.role.k))
    return tree
