"""Name every output column the way PostgreSQL does, before any policy view is
spliced in (DESIGN.md section 3, principle 2).

Each projection of each SELECT gets an explicit, proxy-computed alias, so no
backend ever names a column after its own text of an expression (which, over
a policy view, would be the view's SQL, key material included). The rules are
PostgreSQL's FigureColname: a column keeps its name, a function call takes the
function's name, a cast takes its operand's name or else the type's, CASE is
"case", a scalar subquery takes its first column's name, and anything else is
"?column?". Unquoted aliases fold to lower case, as PostgreSQL folds them.
"""
from __future__ import annotations

import re

from sqlglot import exp

from proxy.rewrite.context import RewriteContext
from proxy.rewrite.resolve import folded

UNNAMED = "?column?"
_CALL = re.compile(r"([A-Za-z_][\w]*)\s*\(")
_KEYWORD = re.compile(r"[A-Za-z_]+")
# Names PostgreSQL gives where the call is not written as name(...).
_SPECIAL = {exp.Case: "case", exp.Array: "array", exp.Exists: "exists", exp.Extract: "extract",
            exp.Coalesce: "coalesce", exp.Greatest: "greatest", exp.Least: "least",
            exp.Nullif: "nullif", exp.Tuple: "row"}


# PostgreSQL's grammar turns these spellings into its internal type names, which name the column.
_TYPE_NAMES = {"int": "int4", "integer": "int4", "bigint": "int8", "smallint": "int2", "real": "float4",
               "double precision": "float8", "float": "float8", "boolean": "bool", "decimal": "numeric",
               "character varying": "varchar", "char": "bpchar", "character": "bpchar",
               "timestamptz": "timestamptz", "time": "time"}


def _function_name(node: exp.Func) -> str:
    """The name PostgreSQL shows for a call: how the postgres dialect writes it."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    text = node.sql(dialect="postgres")
    if _KEYWORD.fullmatch(text):  # CURRENT_DATE, LOCALTIMESTAMP, ...
        return text.lower()
    match = _CALL.match(text)
    return match[1].lower() if match else UNNAMED


def _written_name(node: exp.Expression) -> str | None:
    """A call's name as the client wrote it (parse keeps it): quoted as is, else folded."""
    written = node.meta.get("written_name")
    if not written or isinstance(node, exp.Cast):
        return None
    if written.startswith('"') and written.endswith('"') and len(written) > 1:
        return written[1:-1].replace('""', '"')
    return written.lower()


def _strong_name(node: exp.Expression) -> str | None:
    """The name when PostgreSQL derives it from the expression itself (not a type)."""
    written = _written_name(node)
    if written is not None:
        return written
    if isinstance(node, exp.Column):
        return None if isinstance(node.this, exp.Star) else folded(node.this)
    if isinstance(node, exp.Paren):
        return _strong_name(node.this)
    if isinstance(node, (exp.Filter, exp.Window, exp.WithinGroup)):
        return _strong_name(node.this)
    if isinstance(node, exp.Bracket):
        return _strong_name(node.this)
    if isinstance(node, exp.Dot):  # schema.function(...) is named after the function
        if isinstance(node.expression, exp.Identifier):
            return folded(node.expression)
        return _strong_name(node.expression)
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) and node.this.expressions:
        return output_name(node.this.expressions[0])
    for kind, name in _SPECIAL.items():
        if isinstance(node, kind):
            return name if kind not in (exp.Case, exp.Array, exp.Tuple) else None
    if isinstance(node, exp.Trim):  # PostgreSQL's grammar turns trim(...) into these calls
        return {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(str(node.args.get("position") or "").upper(), "btrim")
    if isinstance(node, exp.Func) and not isinstance(node, (exp.Cast,)):
        name = _function_name(node)
        return None if name == UNNAMED else name
    return None


def _special_name(node: exp.Expression) -> str | None:
    """CASE, ARRAY[...], ROW(...), EXISTS, COALESCE...: named for their kind."""
    for kind, name in _SPECIAL.items():
        if isinstance(node, kind):
            return name
    return None


def output_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Alias):
        return folded(node.args["alias"])
    if isinstance(node, exp.Cast):
        # ARRAY[...]::text[] keeps "array" (strength 2 in PostgreSQL's FigureColname); CASE is weaker than a cast
        inner = _strong_name(node.this) or (None if isinstance(node.this, exp.Case) else _special_name(node.this))
        if inner is not None:
            return inner
        to = node.to
        while to.is_type(exp.DType.ARRAY) and to.expressions:  # '{1}'::int[] is named for int4
            to = to.expressions[0]
        written = to.sql(dialect="postgres").lower().split("(")[0].split(".")[-1]  # pg_catalog.text -> text
        return _TYPE_NAMES.get(written, written)
    strong = _strong_name(node)
    if strong is not None:
        return strong
    special = _special_name(node)
    if special is not None:
        return special
    if isinstance(node, exp.Interval):  # interval '1 day' is a cast to interval
        return "interval"
    return UNNAMED


def _name_projections(select: exp.Select) -> None:
    for proj in list(select.expressions):
        if isinstance(proj, exp.Star) or (isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star)):
            continue
        name = output_name(proj)
        if isinstance(proj, exp.Column) and proj.name == name:
            continue  # the backend names a plain column as written: already PostgreSQL's name
        if isinstance(proj, exp.Alias):
            proj.set("alias", exp.to_identifier(name, quoted=True))
        else:
            alias = exp.Alias(alias=exp.to_identifier(name, quoted=True))
            proj.replace(alias)
            alias.set("this", proj)  # moved, not copied: marks set by earlier passes stay


def name_output_columns(tree: exp.Expression, ctx: RewriteContext | None = None) -> exp.Expression:
    for select in list(tree.find_all(exp.Select)):
        _name_projections(select)
    return tree
