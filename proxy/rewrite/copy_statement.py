"""COPY (query) TO STDOUT and COPY table [(columns)] TO STDOUT: the query is an
ordinary statement, planned through every pass, so it reads exactly what the
role may read; only the output format differs. COPY FROM and COPY to a file are
writes on the server and are refused."""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError
from proxy.wire.copy import CopyFormat

_FORMAT_HINT = "COPY (query) TO STDOUT [WITH (FORMAT text | csv, HEADER, DELIMITER 'c', NULL 's')]"


def copy_query(tree: exp.Copy) -> exp.Expression:
    """The SELECT a COPY ... TO STDOUT runs."""
    files = tree.args.get("files") or []
    if tree.args.get("kind") or not (len(files) == 1 and files[0].name.upper() == "STDOUT"):
        raise SqlError("25006", "cannot execute COPY FROM or COPY to a file in a read-only transaction",
                       hint="anonproxy serves COPY (query) TO STDOUT; psql's \\copy uses it.")
    source = tree.this
    if isinstance(source, exp.Subquery):
        return source.this
    columns: list[exp.Expression] = [exp.Star()]
    if isinstance(source, exp.Schema):  # COPY t (a, b) TO STDOUT
        columns = [exp.column(c.name, quoted=c.quoted) for c in source.expressions]
        source = source.this
    if isinstance(source, exp.Table):
        return exp.select(*columns).from_(source.copy())
    raise SqlError("42601", "syntax error in COPY", hint=_FORMAT_HINT)


def copy_format(tree: exp.Copy) -> CopyFormat:
    options: dict[str, exp.Expression | None] = {}
    for param in tree.args.get("params") or []:
        name = param.this.name.upper()
        if name == "CSV":  # the old syntax: CSV [HEADER]
            options["FORMAT"] = exp.Var(this="csv")
            if param.expression is not None and param.expression.name.upper() == "HEADER":
                options["HEADER"] = exp.Boolean(this=True)
        else:
            options[name] = param.expression
    unknown = set(options) - {"FORMAT", "HEADER", "DELIMITER", "NULL"}
    if unknown:
        raise SqlError("0A000", f"COPY option {sorted(unknown)[0].lower()} is not supported", hint=_FORMAT_HINT)
    kind = options.get("FORMAT")
    csv = kind is not None and kind.name.lower() == "csv"
    if kind is not None and kind.name.lower() not in ("csv", "text"):
        raise SqlError("0A000", f'COPY format "{kind.name.lower()}" is not supported', hint=_FORMAT_HINT)
    header = "HEADER" in options and _true(options["HEADER"])  # HEADER alone means true
    delimiter = options["DELIMITER"].name if options.get("DELIMITER") is not None else ("," if csv else "\t")
    null = options["NULL"].name if options.get("NULL") is not None else ("" if csv else "\\N")
    if len(delimiter.encode()) != 1:
        raise SqlError("22023", "COPY delimiter must be a single one-byte character")
    return CopyFormat(csv=csv, header=header, delimiter=delimiter, null=null)


def _true(value: exp.Expression | None) -> bool:
    if value is None or isinstance(value, exp.Boolean):
        return value is None or value.this is True
    return value.name.lower() in ("true", "on", "1")
