"""A PostgreSQL catalog statement rewritten to run on a role's catalog store.

Catalog relations become the store's `pgcat` tables; PostgreSQL idioms DuckDB
lacks (`OPERATOR(pg_catalog.~)`, `COLLATE pg_catalog.default`, reg* casts,
`pg_catalog.`-qualified functions and types) become DuckDB's equivalents. Only
the store is reachable: a statement naming any other relation is refused.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from proxy.catalog.definitions import definitions
from proxy.catalog.functions import MACROS
from proxy.catalog.store import SCHEMA, relations, table_name
from proxy.errors import SqlError
from proxy.rewrite.resolve import is_cte_reference

CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})
_REGEX_OPERATORS = {"~": exp.RegexpLike, "~*": exp.RegexpILike}
# reg* type -> (store table, name column, literal-name column): 'name'::regclass is an OID,
# an OID cast to one prints the name.
_REG_LOOKUPS = {
    "regclass": ("pg_class", "relname"),
    "regnamespace": ("pg_namespace", "nspname"),
    "regproc": ("pg_proc", "proname"),
    "regtype": ("pg_type", "typname"),
}
_TO_REG = {"to_regclass": "regclass", "to_regtype": "regtype", "to_regnamespace": "regnamespace",
           "to_regproc": "regproc"}
_SET_RETURNING = frozenset({"generate_series", "generate_subscripts", "unnest"})
_ZERO_BASED_COLUMNS = frozenset(c.name for columns in relations().values() for c in columns if c.wire_oid in (22, 30))
_REGPROC_COLUMNS = frozenset(c.name for columns in relations().values() for c in columns if c.wire_oid == 24)
# PostgreSQL type names DuckDB does not know, as the store holds their values.
_TYPES = {"oid": "UINTEGER", "name": "VARCHAR", "char": "VARCHAR", "bpchar": "VARCHAR", "regproc": "VARCHAR",
          "int2vector": "SMALLINT[]", "oidvector": "UINTEGER[]", "xid": "BIGINT", "aclitem": "VARCHAR",
          "pg_node_tree": "VARCHAR"}


@dataclass(frozen=True)
class Transpiled:
    sql: str  # DuckDB SQL over the store
    column_oids: tuple[int | None, ...]  # per output column: its catalog column's type OID, if it is one


def catalog_relation(table: exp.Table) -> str | None:
    """"pg_catalog.pg_class" for a catalog relation reference, else None."""
    schema, name = table.db.lower(), table.name.lower()
    if schema in CATALOG_SCHEMAS:
        return f"{schema}.{name}"
    if not schema and name.startswith("pg_"):
        return f"pg_catalog.{name}"
    return None


def transpile(tree: exp.Expression) -> Transpiled:
    tree = _bottom_up(_qualify_helper_arguments(_table_oids(tree.copy())))
    return Transpiled(tree.sql(dialect="duckdb"), _column_oids(tree))


def _table_oids(tree: exp.Expression) -> exp.Expression:
    """The system column tableoid (psql's \\dd reads it): the catalog relation's own OID."""
    relations_by_alias = {}
    for table in tree.find_all(exp.Table):
        relation = catalog_relation(table) if isinstance(table.this, exp.Identifier) else None
        if relation in definitions().relation_oids:
            relations_by_alias[table.alias_or_name.lower()] = relation
    for column in list(tree.find_all(exp.Column)):
        if column.name.lower() != "tableoid":
            continue
        qualifier = column.table.lower()
        relation = relations_by_alias.get(qualifier) if qualifier else \
            (next(iter(relations_by_alias.values())) if len(relations_by_alias) == 1 else None)
        if relation is not None:
            oid = exp.cast(exp.Literal.number(definitions().relation_oids[relation]), _TYPES["oid"], dialect="duckdb")
            column.replace(oid)
    return tree


def _qualify_helper_arguments(tree: exp.Expression) -> exp.Expression:
    """pg_table_is_visible(oid) -> pg_table_is_visible(c.oid): the helpers are macros with
    subqueries, where a bare column would bind to the macro's own table."""
    for call in tree.find_all(exp.Anonymous):
        if call.name.lower() not in MACROS:
            continue
        select = call.find_ancestor(exp.Select)
        sources = [] if select is None else [
            source.this for source in [select.args.get("from_"), *(select.args.get("joins") or [])]
            if source is not None and isinstance(source.this, exp.Table)]
        for arg in call.expressions:
            for column in arg.find_all(exp.Column):
                if column.table:
                    continue
                owners = [t for t in sources if _has_column(t, column.name.lower())]
                if len(owners) == 1:
                    column.set("table", exp.to_identifier(owners[0].alias_or_name))
    return tree


def _has_column(table: exp.Table, name: str) -> bool:
    relation = catalog_relation(table) if isinstance(table.this, exp.Identifier) else None
    return relation in relations() and any(c.name == name for c in relations()[relation])


def _bottom_up(tree: exp.Expression) -> exp.Expression:
    """Rewrite children before their parents, so a rewrite that moves a child
    (an operator's operand into a regexp match) moves it already rewritten."""
    for node in reversed(list(tree.walk(bfs=False))):
        new = _rewrite(node)
        if new is not node:
            if node is tree:
                return new
            node.replace(new)
    return tree


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table):
        return _table(node)
    if isinstance(node, exp.Dot) and isinstance(node.this, exp.Identifier) \
            and node.this.name.lower() in CATALOG_SCHEMAS and isinstance(node.expression, exp.Func):
        return node.expression  # pg_catalog.format_type(...) -> format_type(...)
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("json_build_object", "jsonb_build_object"):
        return exp.Anonymous(this="json_object", expressions=node.expressions)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "_pg_expandarray" and len(node.expressions) == 1:
        return _expand_array(node.expressions[0])
    if isinstance(node, exp.Bracket) and _zero_based(node.this):
        return _one_based(node)
    if isinstance(node, exp.ObjectIdentifier) and node.name.lower() == "oid":
        return exp.DataType.build(_TYPES["oid"], dialect="duckdb")  # x::oid, $1::oid[]
    if isinstance(node, exp.DataType):
        return _data_type(node)
    if isinstance(node, exp.Column) and node.db.lower() in CATALOG_SCHEMAS:
        node.set("db", None)  # pg_catalog.pg_class.relname -> pg_class.relname, the table keeps that alias
        return node
    if isinstance(node, exp.Operator):
        return _operator(node)
    if isinstance(node, exp.Collate):
        return node.this  # the store compares in C order, as the default collation does here
    if isinstance(node, exp.Cast):
        return _cast(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() in _TO_REG and node.expressions:
        return _oid_of(node.expressions[0], _TO_REG[node.name.lower()])
    if isinstance(node, (exp.EQ, exp.NEQ)) and _is_array_literal(node.expression):
        return node.set("expression", _array(node.expression.name)) or node
    return node


def _table(table: exp.Table) -> exp.Expression:
    if is_cte_reference(table):  # bound by resolve_names to a CTE of this statement
        return table
    if not isinstance(table.this, exp.Identifier):
        # A function in FROM: only PostgreSQL's own set-returning functions. The store is
        # DuckDB: read_text(), read_csv(), duckdb_settings() and the like must not exist here.
        name = table.this.name.lower() if isinstance(table.this, exp.Func) else ""
        if isinstance(table.this, exp.Anonymous) and name not in _SET_RETURNING:
            raise SqlError("42883", f"function {name}() does not exist",
                           hint="Catalog statements may call generate_series, generate_subscripts and unnest in FROM.")
        if not isinstance(table.this, (exp.Anonymous, exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.Unnest,
                                       exp.Explode)):  # pg_catalog.unnest(...) parses as Explode
            raise SqlError("0A000", "this FROM item is not supported in a catalog statement")
        table.set("db", None)  # pg_catalog.generate_series(...) s
        return table
    relation = catalog_relation(table)
    if relation is None:
        raise SqlError("0A000", "a statement may read the catalog or tables, not both",
                       hint="Ask the catalog and the tables in separate statements.")
    if relation not in relations():
        raise SqlError("42P01", f'relation "{relation}" does not exist')
    if table.args.get("alias") is None:
        table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
    # In place: a parenthesized join `(pg_class c JOIN pg_namespace n ...)` hangs its joins on this node.
    table.set("this", exp.to_identifier(table_name(relation)))
    table.set("db", exp.to_identifier(SCHEMA))
    table.set("catalog", None)
    return table


def _operator(node: exp.Operator) -> exp.Expression:
    """OPERATOR(pg_catalog.~) and friends; other operators keep their symbol."""
    symbol = str(node.args.get("operator", "")).split(".")[-1].strip()
    negated = symbol.startswith("!")
    kind = _REGEX_OPERATORS.get(symbol.lstrip("!"))
    if kind is None:
        raise SqlError("42883", f"operator does not exist: {symbol}")
    match = kind(this=node.this, expression=node.expression)
    return exp.Not(this=match) if negated else match


def _data_type(node: exp.DataType) -> exp.Expression:
    """pg_catalog.text -> TEXT, pg_catalog.regclass -> REGCLASS (a marker _cast resolves)."""
    kind = node.args.get("kind")
    if node.this != exp.DType.USERDEFINED or kind is None:
        return node
    name = (kind.expression if isinstance(kind, exp.Dot) else kind).name.lower()
    if name in _REG_LOOKUPS:
        return exp.ObjectIdentifier(this=name.upper())
    if name in _TYPES:
        return exp.DataType.build(_TYPES[name], dialect="duckdb")
    return exp.DataType.build(name, dialect="postgres")


def _cast(node: exp.Cast) -> exp.Expression:
    type_name = node.to.name.lower() if isinstance(node.to, exp.ObjectIdentifier) else None
    if type_name in _REG_LOOKUPS:
        inner = node.this
        if inner.is_string and type_name == "regproc" and _compared_with_regproc_column(node):
            return _bare_name(inner)  # typinput = 'array_in'::regproc: the store holds regproc as names
        if inner.is_string and not inner.name.isdigit():
            return _oid_of(inner, type_name)
        if isinstance(node.parent, exp.Cast) or isinstance(node.parent, exp.Select) or _in_order(node):
            return _name_of(inner, type_name)
        return exp.cast(inner, "BIGINT")
    return node


def _compared_with_regproc_column(node: exp.Cast) -> bool:
    parent = node.parent
    if not isinstance(parent, (exp.EQ, exp.NEQ)):
        return False
    other = parent.expression if parent.this is node else parent.this
    return isinstance(other, exp.Column) and other.name.lower() in _REGPROC_COLUMNS


def _bare_name(name: exp.Expression) -> exp.Expression:
    last = exp.func("split_part", name, exp.Literal.string("."), exp.Literal.number(-1))  # 'pg_catalog.f' -> f
    return exp.func("trim", last, exp.Literal.string('"'))


def _expand_array(array: exp.Expression) -> exp.Expression:
    """information_schema._pg_expandarray(a): one row (x, n) per element, n from 1."""
    template = sqlglot.parse_one("unnest(list_transform(range(1, len(_a) + 1), lambda _i: {'x': _a[_i], 'n': _i}))",
                                 read="duckdb")
    return template.transform(lambda n: array.copy() if isinstance(n, exp.Column) and n.name == "_a" else n)


def _zero_based(node: exp.Expression) -> bool:
    """int2vector and oidvector columns (pg_index.indkey, pg_proc.proargtypes) count from 0."""
    if not isinstance(node, exp.Column):
        return False
    name = node.name.lower()
    if name in _ZERO_BASED_COLUMNS:
        return True
    select = node.find_ancestor(exp.Select)  # an alias of one, read from a derived table: tmp.i_indoption[k]
    return select is not None and any(
        isinstance(a, exp.Alias) and a.alias.lower() == name and isinstance(a.this, exp.Column)
        and a.this.name.lower() in _ZERO_BASED_COLUMNS for a in select.find_all(exp.Alias))


def _one_based(node: exp.Bracket) -> exp.Expression:
    if len(node.expressions) != 1 or isinstance(node.expressions[0], exp.Slice):
        return node
    index = node.expressions[0]
    node.set("expressions", [exp.Add(this=exp.Paren(this=index.copy()), expression=exp.Literal.number(1))])
    return node


def _in_order(node: exp.Expression) -> bool:
    return node.find_ancestor(exp.Order) is not None


def _oid_of(name: exp.Expression, kind: str) -> exp.Expression:
    table, column = _REG_LOOKUPS[kind]
    last = exp.func("split_part", name, exp.Literal.string("."), exp.Literal.number(-1))  # 'public.t' -> t
    return _lookup("oid", table, column, exp.func("trim", last, exp.Literal.string('"')))


def _name_of(oid: exp.Expression, kind: str) -> exp.Expression:
    table, column = _REG_LOOKUPS[kind]
    name = exp.func("format_type", oid, exp.Null()) if kind == "regtype" else _lookup(column, table, "oid", oid)
    return exp.func("coalesce", name, exp.cast(oid, "VARCHAR"))  # an unknown OID prints as its number


def _lookup(wanted: str, table: str, column: str, value: exp.Expression) -> exp.Expression:
    query = sqlglot.select(wanted).from_(f"{SCHEMA}.{table}").where(
        exp.EQ(this=exp.column(column), expression=value)).limit(1)
    return exp.Subquery(this=query)


def _is_array_literal(node: exp.Expression) -> bool:
    return node.is_string and re.fullmatch(r"\{[^{}]*\}", node.name) is not None


def _array(text: str) -> exp.Expression:
    """'{0}' compared with an array column -> [0]."""
    items = [item.strip().strip('"') for item in text[1:-1].split(",") if item.strip()]
    return exp.Array(expressions=[exp.Literal.number(i) if i.lstrip("-").isdigit() else exp.Literal.string(i)
                                  for i in items])


def _column_oids(tree: exp.Expression) -> tuple[int | None, ...]:
    """The catalog column type of each output column that is one, read straight from a store table."""
    if not isinstance(tree, exp.Select):
        return ()
    aliases = {}
    for table in tree.find_all(exp.Table):
        if table.db == SCHEMA and table.find_ancestor(exp.Select) is tree:
            aliases[table.alias_or_name] = table.name
    types = {name: {c.name: c.wire_oid for c in columns} for name, columns in
             ((table_name(r), cs) for r, cs in relations().items())}
    out: list[int | None] = []
    for projection in tree.expressions:
        if isinstance(projection, exp.Star) and len(aliases) == 1:  # SELECT * FROM one catalog table
            out += [c.wire_oid for c in relations()[_relation_of(*aliases.values())]]
            continue
        column = projection.unalias()
        out.append(_column_oid(column, aliases, types) if isinstance(column, exp.Column) else None)
    return tuple(out)


def _relation_of(name: str) -> str:
    return next(r for r in relations() if table_name(r) == name)


def _column_oid(column: exp.Column, aliases: dict[str, str], types: dict[str, dict[str, int]]) -> int | None:
    candidates = [aliases[column.table]] if column.table in aliases else list(aliases.values()) if not column.table else []
    found = [types[t][column.name] for t in candidates if column.name in types.get(t, {})]
    return found[0] if len(found) == 1 else None
