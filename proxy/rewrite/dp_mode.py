"""dp mode: a statement over private tables becomes a DP plan (proxy/dp/plan.py).

Supported (DESIGN.md section 4): one SELECT of COUNT(*), COUNT(col),
COUNT(DISTINCT <privacy unit>), SUM(col) and AVG(col) over private tables joined
on their privacy unit and public tables, with WHERE and ON in aggregate mode's
grammar, GROUP BY columns or date_trunc/extract of one, and HAVING, ORDER BY and
LIMIT over the released aggregates. Anything else is refused with 0A000 naming
the construct; row-level statements get 42501.

What runs in the backend is the bounded, exact computation: each person keeps at
most `max_contributions` rows (a random sample, drawn per statement), summed values
are clamped to their bounds and rounded to an integer grid, and per group the
planned quantities are computed. The client's projections, HAVING, ORDER BY and
LIMIT become the plan's post-processing SQL, run by the proxy over released values.
"""
from __future__ import annotations

import json

from sqlglot import exp

from proxy.dp.plan import COUNT, SUM, DpPlan, GroupKey, Output, Quantity, grid, sum_sensitivity
from proxy.errors import SqlError
from proxy.policy.model import ColumnRule
from proxy.policy.transforms import bin_values
from proxy.rewrite.aggregate_grammar import POST_AGGREGATE, Scope, is_aggregate, is_constant, key_operand
from proxy.rewrite.aggregate_mode import AggregateMode, reads_private
from proxy.rewrite.arithmetic import duckdb_division
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.policy_views import PERSON
from proxy.rewrite.relations import PRIVATE, PUBLIC, Source, refuse, stored_relation
from proxy.rewrite.resolve import client_sql, folded, stored_table
from proxy.wire import types as pg

SUPPORTED = ("Supported in dp mode: SELECT of count(*), count(column), count(DISTINCT <privacy unit>), "
             "sum(column), avg(column) with WHERE, GROUP BY columns (or date_trunc/extract of one), HAVING, "
             "ORDER BY and LIMIT, over private tables joined on their privacy unit and public tables.")
ROWS, BOUNDED = "__dp_rows", "__dp"
INTEGER_OIDS = (pg.INT2, pg.INT4, pg.INT8)
NUMBER_OIDS = INTEGER_OIDS + (pg.FLOAT4, pg.FLOAT8, pg.NUMERIC)


def unsupported(construct: str) -> SqlError:
    return refuse(f"{construct} is not supported in dp mode", SUPPORTED, "0A000")


def enforce_dp_mode(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    """Statements over public tables only run as written; the rest become a DP plan,
    attached to the backend statement as tree.meta["dp_plan"]."""
    if ctx.role.mode != "dp" or not reads_private(tree, ctx):
        return tree
    return DpPlanner(ctx, tree).build()


class DpPlanner:
    def __init__(self, ctx: RewriteContext, tree: exp.Expression) -> None:
        self.ctx = ctx
        self.select = self._single_select(tree)
        self.sources, self.tables = self._sources()
        self.scope = Scope(self.sources)
        self.unit_key = self._unit_key()
        self.contributions = 1 if self.unit_key else max(ctx.role.table(self.tables[s.alias]).max_contributions
                                                         for s in self.sources if s.relation.kind == PRIVATE)
        self.quantities: list[Quantity] = []
        self.quantity_keys: dict[tuple, int] = {}
        self.values: dict[str, tuple[int, exp.Expression]] = {}  # per-row values by their SQL: __v0, ...
        self.outputs: list[Output] = []
        self.output_keys: dict[str, int] = {}
        self.keys: list[exp.Expression] = []
        self._key_sql: dict[str, int] | None = None  # each group key's SQL -> its index, once keys are known

    # --- shape ------------------------------------------------------------------------

    @staticmethod
    def _single_select(tree: exp.Expression) -> exp.Select:
        if isinstance(tree, exp.SetOperation):
            raise unsupported("UNION, INTERSECT and EXCEPT")
        assert isinstance(tree, exp.Select)
        if tree.args.get("with_"):
            raise unsupported("WITH (common table expressions)")
        if any(node is not tree for node in tree.find_all(exp.Select)) or tree.find(exp.Subquery):
            raise unsupported("a subquery")
        if tree.find(exp.Window):
            raise unsupported("a window function")
        if tree.args.get("distinct"):
            raise unsupported("SELECT DISTINCT")
        for arg in ("windows", "qualify", "locks", "sample", "prewhere"):
            if tree.args.get(arg):
                raise unsupported(arg.upper())
        return tree

    def _sources(self) -> tuple[list[Source], dict[str, str]]:
        items = [self.select.args["from_"].this] if self.select.args.get("from_") else []
        for join in self.select.args.get("joins") or []:
            if join.args.get("side") or (join.args.get("kind") or "INNER").upper() not in ("INNER", "CROSS"):
                raise unsupported(f"{join.args.get('side') or join.args.get('kind')} JOIN")
            if join.args.get("using"):
                raise unsupported("JOIN ... USING")
            items.append(join.this)
        sources, tables = [], {}
        for item in items:
            name = stored_table(item) if isinstance(item, exp.Table) else None
            if name is None:
                raise unsupported("a FROM item other than a table")
            alias_node = item.args.get("alias")
            alias = folded(alias_node.this) if isinstance(alias_node, exp.TableAlias) and alias_node.this else name
            sources.append(Source(alias, stored_relation(name, self.ctx)))
            tables[alias] = name
        return sources, tables

    def _unit_key(self) -> str | None:
        """Why each person has one row in the joined relation, if they do: one private
        table, whose privacy unit is its primary key for the server's life, and public tables
        each joined on their whole primary key (also fixed) to columns of tables already so
        joined, so no row of the private table meets two rows of any of them. There is then
        nothing to sample away, and each person adds one row, whatever max_contributions allows."""
        private = [s for s in self.sources if s.relation.kind == PRIVATE]
        if len(private) != 1:
            return None
        table = self.tables[private[0].alias]
        unit = self.ctx.role.table(table).privacy_unit
        if unit is None or self.ctx.fixed_keys.get(table) != (unit.lower(),):
            return None
        pinned = {private[0].alias}
        equalities = [eq for eq in self._conjuncts() if isinstance(eq, exp.EQ)]
        grew = True
        while grew:
            grew = False
            for source in self.sources:
                key = self._raw_key(self.tables[source.alias])
                if source.alias not in pinned and key and all(
                        any(self._pins(eq, source.alias, column, pinned) for eq in equalities) for column in key):
                    pinned.add(source.alias)
                    grew = True
        if len(pinned) != len(self.sources):
            return None
        joined = sorted({self.tables[a] for a in pinned} - {table})
        return f"{table}.{unit.lower()} is the primary key" + (
            f"; {', '.join(joined)} {'is' if len(joined) == 1 else 'are'} joined on the primary key" if joined else "")

    def _raw_key(self, table: str) -> tuple[str, ...]:
        """The table's fixed primary key where the role reads each of its columns as stored:
        a key generalized or masked in the view (bins, a prefix) is no longer unique there."""
        key = self.ctx.fixed_keys.get(table, ())
        policy = self.ctx.role.table(table)
        return key if all(policy.rule(column).rule == "raw" for column in key) else ()

    def _conjuncts(self) -> list[exp.Expression]:
        """The top-level AND terms of WHERE and every ON (the joins are inner: all alike)."""
        conditions = [j.args.get("on") for j in self.select.args.get("joins") or []]
        where = self.select.args.get("where")
        conditions.append(where.this if where is not None else None)
        terms: list[exp.Expression] = []
        for condition in conditions:
            if condition is not None:
                terms.extend(condition.flatten() if isinstance(condition, exp.And) else [condition])
        return terms

    def _pins(self, eq: exp.EQ, alias: str, column: str, pinned: set[str]) -> bool:
        """eq is alias.column = a column of a pinned table, of the same type or both integers
        (a cast from text or a float could make two keys equal to one value)."""
        for mine, other in ((eq.this, eq.expression), (eq.expression, eq.this)):
            if not (isinstance(mine, exp.Column) and isinstance(other, exp.Column)):
                continue
            try:
                if (self._source(mine).alias == alias and mine.name.lower() == column
                        and self._source(other).alias in pinned
                        and _same_kind(self.scope.column(mine).oid, self.scope.column(other).oid)):
                    return True
            except SqlError:  # an unknown or ambiguous name: refused later, with its own error
                return False
        return False

    # --- checks ------------------------------------------------------------------------

    def _check_conditions(self) -> None:
        grammar = AggregateMode(self.ctx)
        where = self.select.args.get("where")
        if where is not None:
            grammar.predicate(where.this, self.scope)
        for join in self.select.args.get("joins") or []:
            if join.args.get("on") is not None:
                grammar.predicate(join.args["on"], self.scope)
        self._check_unit_joins()

    def _check_unit_joins(self) -> None:
        """Private tables must be joined on their privacy units, so each row still
        belongs to one person and bounding per person bounds what anyone adds."""
        private = [s.alias for s in self.sources if s.relation.kind == PRIVATE]
        linked = {private[0]}
        pairs = []
        for join in self.select.args.get("joins") or []:
            on = join.args.get("on")
            for eq in (on.find_all(exp.EQ) if on is not None else ()):
                sides = [self._unit_alias(side) for side in (eq.this, eq.expression)]
                if all(sides):
                    pairs.append(tuple(sides))
        grew = True
        while grew:
            grew = False
            for a, b in pairs:
                if (a in linked) != (b in linked):
                    linked |= {a, b}
                    grew = True
        if set(private) - linked:
            raise unsupported("a join of private tables other than on their privacy unit")

    def _source(self, column: exp.Column) -> Source:
        """The FROM item a (resolvable, unambiguous) column reference reads."""
        self.scope.column(column)  # raises for unknown or ambiguous names
        table = folded(column.args["table"]) if column.args.get("table") else None
        return next(s for s in self.sources
                    if (table is None or s.alias == table) and column.name.lower() in (s.relation.columns or {}))

    def _unit_alias(self, node: exp.Expression) -> str | None:
        if not isinstance(node, exp.Column) or not self.scope.column(node).unit:
            return None
        return self._source(node).alias

    def _rule(self, column: exp.Column) -> ColumnRule:
        return self.ctx.role.table(self.tables[self._source(column).alias]).rule(column.name.lower())

    # --- group keys ---------------------------------------------------------------------

    def _keys(self) -> list[exp.Expression]:
        projections = [p.this if isinstance(p, exp.Alias) else p for p in self.select.expressions]
        names = {p.alias.lower(): p.this for p in self.select.expressions if isinstance(p, exp.Alias)}
        keys = []
        group = self.select.args.get("group")
        for item in (group.expressions if group is not None else []):
            if isinstance(item, exp.Literal) and item.is_int and 1 <= int(item.this) <= len(projections):
                item = projections[int(item.this) - 1]
            elif isinstance(item, exp.Column) and not item.args.get("table") and item.name.lower() in names \
                    and not any(item.name.lower() in (s.relation.columns or {}) for s in self.sources):
                item = names[item.name.lower()]
            if key_operand(item, self.scope) is None:
                raise unsupported(f"GROUP BY {client_sql(item)} (group by a column, or date_trunc/extract of one)")
            keys.append(item)
        if group is not None and (group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets")):
            raise unsupported("ROLLUP, CUBE and GROUPING SETS")
        return keys

    def _domain(self, key: exp.Expression) -> tuple | None:
        """Declared values, or the finite bins of a generalization."""
        if not isinstance(key, exp.Column):
            return None
        rule = self._rule(key)
        return rule.domain if rule.domain is not None else bin_values(rule, self._raw_oid(key))

    def _raw_oid(self, column: exp.Column) -> int:
        return self.ctx.tables[self.tables[self._source(column).alias]][column.name.lower()]

    def _domain_sql(self, key: exp.Expression) -> str | None:
        """A raw column of a public table is a public domain too: its distinct values,
        read from the table itself when the answer is released."""
        if not isinstance(key, exp.Column) or self._rule(key).rule != "raw":
            return None
        source = self._source(key)
        if source.relation.kind != PUBLIC:
            return None
        column = exp.column(key.name.lower(), quoted=True)
        return (exp.select(column, copy=False).distinct(copy=False)
                .from_(exp.table_(self.tables[source.alias], quoted=True), copy=False)
                .where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())), copy=False)
                .sql(dialect=self.ctx.dialect))

    # --- aggregates ---------------------------------------------------------------------

    def _quantity(self, key: tuple, make) -> int:
        if key not in self.quantity_keys:
            self.quantity_keys[key] = len(self.quantities)
            self.quantities.append(make())
        return self.quantity_keys[key]

    def _value(self, expression: exp.Expression) -> exp.Column:
        """The per-row value's column, one per distinct expression."""
        i = self.values.setdefault(expression.sql(), (len(self.values), expression))[0]
        return exp.column(f"__v{i}")

    def _count(self, node: exp.Count) -> tuple[int, ...]:
        m, grouped = self.contributions, bool(self.keys)
        arg = node.this
        if isinstance(arg, exp.Star):
            return (self._quantity(("rows",), lambda: Quantity(COUNT, m, per_group=m)),)
        if isinstance(arg, exp.Distinct):
            inner = arg.expressions
            if len(inner) != 1 or not isinstance(inner[0], exp.Column) or not self.scope.column(inner[0]).unit:
                raise unsupported("COUNT(DISTINCT ...) of anything but the privacy unit")
            return (self._quantity(("persons",), lambda: Quantity(COUNT, m if grouped else 1, per_group=1)),)
        if not isinstance(arg, exp.Column):
            raise unsupported(f"count({client_sql(arg)}) (count a column)")
        self.scope.column(arg)
        value = self._value(arg.copy())
        return (self._quantity(("nonnull", value.name), lambda: Quantity(COUNT, m, per_group=m)),)

    def _bounded(self, node: exp.AggFunc) -> tuple[exp.Column, tuple[float, float], bool]:
        arg = node.this
        if not isinstance(arg, exp.Column):
            raise unsupported(f"{node.key}({client_sql(arg)}) (sum or average a column)")
        info = self.scope.column(arg)
        rule = self._rule(arg)
        if info.oid not in NUMBER_OIDS or rule.bounds is None:
            raise refuse(f'column "{arg.name}" has no declared bounds, so {client_sql(node)} cannot be released',
                         "The policy declares bounds: [lower, upper] for the numeric columns dp roles may sum "
                         "or average.", "0A000")
        return arg, rule.bounds, info.oid in INTEGER_OIDS

    def _sum_value(self, arg: exp.Column, bounds: tuple[float, float], centre: float, resolution: float) -> exp.Column:
        """round((clamp(x) - centre) / resolution) as an integer: sums stay exact in the backend."""
        lo, hi = bounds
        if max(abs(lo - centre), abs(hi - centre)) / resolution > 2 ** 53:
            # the grid value could overflow BIGINT for some person's value only: an error that one row decides
            raise refuse(f'the bounds of column "{arg.name}" are too wide to sum exactly', "Declare narrower bounds.",
                         "0A000")
        clamped = exp.func("least", exp.func("greatest", exp.cast(arg, "DOUBLE"), _number(lo)), _number(hi))
        shifted = exp.Sub(this=clamped, expression=_number(centre)) if centre else clamped
        scaled = exp.Mul(this=exp.Paren(this=shifted), expression=_number(1 / resolution)) \
            if resolution != 1.0 else shifted
        return self._value(exp.cast(exp.Round(this=scaled), "BIGINT"))

    def _sum(self, node: exp.Sum) -> Output:
        arg, bounds, integer = self._bounded(node)
        r = grid(bounds, integer)
        value = self._sum_value(arg, bounds, 0.0, r)
        q = self._quantity(("sum", value.name),
                           lambda: Quantity(SUM, sum_sensitivity(bounds, 0.0, r, self.contributions), r))
        return Output("sum", _label(node), (q,), bounds, integer=r == 1.0)

    def _avg(self, node: exp.Avg) -> Output:
        arg, bounds, integer = self._bounded(node)
        centre = (bounds[0] + bounds[1]) / 2  # noise on a centred sum does not grow with the count
        r = grid(bounds, integer and float(centre).is_integer())
        value = self._sum_value(arg, bounds, centre, r)
        s = self._quantity(("sum", value.name),
                           lambda: Quantity(SUM, sum_sensitivity(bounds, centre, r, self.contributions), r, centre))
        counted = self._value(arg.copy())
        m = self.contributions
        c = self._quantity(("nonnull", counted.name), lambda: Quantity(COUNT, m, per_group=m))
        return Output("avg", _label(node), (s, c), bounds, integer=False)

    def _output(self, node: exp.Expression) -> int:
        label = _label(node)
        if label in self.output_keys:
            return self.output_keys[label]
        if isinstance(node, exp.Filter):
            raise unsupported("FILTER (WHERE ...) on an aggregate")
        if isinstance(node, exp.Count):
            output = Output("count", label, self._count(node))
        elif isinstance(node, exp.Sum):
            output = self._sum(node)
        elif isinstance(node, exp.Avg):
            output = self._avg(node)
        else:
            raise unsupported(f"the aggregate {node.key}()")
        self.output_keys[label] = len(self.outputs)
        self.outputs.append(output)
        return len(self.outputs) - 1

    # --- post-processing ----------------------------------------------------------------

    def _released(self, node: exp.Expression) -> exp.Expression:
        """The node with aggregates and group keys replaced by the released columns."""
        if self._key_sql is None:
            self._key_sql = {k.sql(): i for i, k in enumerate(self.keys)}
        keys = self._key_sql
        key_types = {type(k) for k in self.keys}  # only a node of a key's type can be that key

        def replace(n: exp.Expression) -> exp.Expression:
            if type(n) in key_types and (text := n.sql()) in keys:
                return exp.column(f"g{keys[text]}", table="__r")
            if is_aggregate(n):
                return exp.column(f"a{self._output(n)}", table="__r")
            return n
        out = node.transform(replace)  # transform copies
        for n in out.walk():
            if isinstance(n, exp.Column) and n.table != "__r":
                raise SqlError("42803", f'column "{n.name}" must appear in the GROUP BY clause or be used in an '
                                        "aggregate function", hint=SUPPORTED)
            if not isinstance(n, (exp.Column, exp.Alias, exp.Identifier, exp.DataType, exp.Var, *POST_AGGREGATE)) \
                    and not is_constant(n):
                raise unsupported(f"{client_sql(n)} over released aggregates")
        return out

    def _projection(self, node: exp.Expression) -> exp.Expression:
        """A released projection under the client's output name (a bare key would take g0's)."""
        released = self._released(node)
        if isinstance(released, exp.Alias):
            return released
        return exp.alias_(released, node.alias_or_name, quoted=True)

    def _post(self) -> exp.Select:
        post = exp.select(*[self._projection(p) for p in self.select.expressions], copy=False).from_(
            exp.Table(this=exp.to_identifier("__released"), alias=exp.TableAlias(this=exp.to_identifier("__r"))))
        having = self.select.args.get("having")
        if having is not None:
            post = post.where(self._released(having.this), copy=False)
        order = self.select.args.get("order")
        if order is not None:
            outputs = {p.alias.lower() for p in self.select.expressions if isinstance(p, exp.Alias)}
            ordered = []
            for o in order.expressions:
                target, new = o.this, o.copy()
                by_output = (isinstance(target, exp.Column) and not target.table and target.name.lower() in outputs) \
                    or (isinstance(target, exp.Literal) and target.is_int)
                if not by_output:
                    new.set("this", self._released(target))
                ordered.append(new)
            post.set("order", exp.Order(expressions=ordered))
        for arg in ("limit", "offset"):
            node = self.select.args.get(arg)
            if node is not None:
                if not all(is_constant(n) for n in node.iter_expressions()):
                    raise unsupported(f"a computed {arg.upper()}")
                post.set(arg, node.copy())
        return post

    def _layout(self, post: exp.Select) -> tuple[tuple[str, int], ...] | None:
        """Each output's name and released column, when the post-processing does nothing else."""
        if any(post.args.get(arg) for arg in ("where", "order", "limit", "offset")):
            return None
        layout = []
        for p in post.expressions:
            column = p.this if isinstance(p, exp.Alias) else None
            if not isinstance(column, exp.Column) or column.table != "__r":
                return None
            kind, index = column.name[0], int(column.name[1:])
            layout.append((p.alias, index if kind == "g" else len(self.keys) + index))
        return tuple(layout)

    # --- the backend statement ----------------------------------------------------------------

    def _person(self) -> exp.Column:
        first = next(s for s in self.sources if s.relation.kind == PRIVATE)
        return exp.column(PERSON, table=first.alias)

    def _rows(self) -> exp.Select:
        """The final pre-aggregation relation: keys, the person, the values, and (unless each
        person has one row) a random number per row: the contribution bound keeps each
        person's m first rows in its order."""
        person = self._person()
        rows = self.select  # its last use (build reads nothing of it after): taken over, not copied
        for arg in ("group", "having", "order", "limit", "offset"):
            rows.set(arg, None)
        draw = [] if self.unit_key else [exp.alias_(exp.func("random"), "__rand")]
        rows.set("expressions", [exp.alias_(k, f"__g{i}") for i, k in enumerate(self.keys)]
                 + [exp.alias_(person, "__pu"), *draw]
                 + [exp.alias_(v, f"__v{i}", copy=False) for i, v in self.values.values()])
        return rows

    def _ranked(self) -> exp.Select:
        """Each row's rank within its person, in random order (DuckDB refuses a volatile
        window ORDER BY, so the random number is drawn one level below)."""
        order = exp.Order(expressions=[exp.Ordered(this=exp.column("__rand"))])
        rank = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("__pu")], order=order)
        return exp.select(exp.Star(), exp.alias_(rank, "__rn", copy=False), copy=False).from_(
            self._rows().subquery(ROWS, copy=False), copy=False)

    def _exact(self) -> exp.Select:
        parts = []
        for i, q in enumerate(self.quantities):
            key = next(k for k, v in self.quantity_keys.items() if v == i)
            if key[0] == "rows":
                agg: exp.Expression = exp.Count(this=exp.Star())
            elif key[0] == "persons":
                agg = exp.Count(this=exp.Distinct(expressions=[exp.column("__pu")]))
            elif key[0] == "nonnull":
                agg = exp.Count(this=exp.column(key[1]))
            else:
                agg = exp.Sum(this=exp.column(key[1]))
            parts.append(exp.alias_(agg, f"__q{i}"))
        # The bounded row count, released only when an accuracy target asks to size the answer
        # (a noisy count, charged): never otherwise.
        parts.append(exp.alias_(exp.Count(this=exp.Star()), "__n"))
        groups = [exp.column(f"__g{i}") for i in range(len(self.keys))]
        exact = exp.select(*[g.copy() for g in groups], *parts, copy=False)
        if self.unit_key:
            exact.from_(self._rows().subquery(BOUNDED, copy=False), copy=False)
        else:
            exact.from_(self._ranked().subquery(BOUNDED, copy=False), copy=False).where(
                exp.LTE(this=exp.column("__rn"), expression=exp.Literal.number(self.contributions)), copy=False)
        return exact.group_by(*groups, copy=False) if groups else exact

    def _shape_key(self) -> str:
        """The exact statement selects __g<i> (the keys), __q<i> (COUNT or SUM of the values)
        and __n from the role's views of these tables: its columns' names and types follow
        from these alone. Conditions (WHERE, ON) only filter rows."""
        return json.dumps([self.ctx.role.name, [(s.alias, self.tables[s.alias]) for s in self.sources],
                           [k.sql() for k in self.keys], list(self.values), list(self.quantity_keys),
                           self.unit_key is None])

    def build(self) -> exp.Select:
        if not any(is_aggregate(n) for p in self.select.expressions for n in p.walk()):
            raise refuse(f'role "{self.ctx.role.name}" receives only differentially private aggregates',
                         SUPPORTED)
        self._check_conditions()
        self.keys = self._keys()
        post = self._post()
        keys = tuple(GroupKey(_label(k), self._domain(k), self._domain_sql(k)) for k in self.keys)
        threshold = None
        if any(k.domain is None and k.domain_sql is None for k in keys):  # a private key: released by threshold
            m = self.contributions
            threshold = self.quantity_keys.get(("persons",))
            if threshold is None:
                threshold = self._quantity(("rows",), lambda: Quantity(COUNT, m, per_group=m))
        plan = DpPlan(keys, tuple(self.quantities), tuple(self.outputs), threshold, self.contributions,
                      self.ctx.role.k, duckdb_division(post).sql(dialect="duckdb"), self._layout(post),
                      self.unit_key, self._shape_key())
        exact = self._exact()
        for ident in exact.find_all(exp.Identifier):  # as PostgreSQL folds them: a repeat is a repeat
            if not ident.quoted:                       # however the client spelled its names
                ident.set("this", ident.this.lower())
        exact.meta["dp_plan"] = plan
        return exact


def _label(node: exp.Expression) -> str:
    """How notices and explain name an aggregate or key: count(*), avg(annual_income)."""
    return client_sql(node, lower_functions=True)


def _same_kind(a: int, b: int) -> bool:
    return a == b != 0 or (a in INTEGER_OIDS and b in INTEGER_OIDS)


def _number(value: float) -> exp.Expression:
    v = float(value)
    literal = exp.Literal.number(str(abs(int(v))) if v.is_integer() else repr(abs(v)))
    return exp.Neg(this=literal) if v < 0 else literal
