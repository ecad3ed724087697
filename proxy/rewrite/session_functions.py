"""Answer the session functions drivers call (version(), current_schema(), ...)
with the proxy's own values, so the backend's name and version never leak
through and clients see the PostgreSQL they expect."""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError
from proxy.rewrite.context import RewriteContext
from proxy.settings import SERVER_VERSION

VERSION_STRING = (f"PostgreSQL {SERVER_VERSION} (anonproxy) on x86_64-pc-linux-gnu, "
                  "compiled by anonproxy, 64-bit")


def _anonymous_name(node: exp.Expression) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else ""


def _replacement(node: exp.Expression, ctx: RewriteContext) -> tuple[str, exp.Expression] | None:
    """(PostgreSQL's output column name, literal) for a session function call."""
    name = _anonymous_name(node)
    if isinstance(node, exp.CurrentVersion) or name == "version":
        return "version", exp.Literal.string(VERSION_STRING)
    if isinstance(node, exp.CurrentSchema) or name == "current_schema":
        return "current_schema", exp.Literal.string("public")
    if isinstance(node, exp.CurrentDatabase) or name == "current_database":  # pg_catalog.current_database()
        return "current_database", exp.Literal.string(ctx.database)
    if isinstance(node, exp.CurrentCatalog):
        return "current_catalog", exp.Literal.string(ctx.database)
    if isinstance(node, exp.Column) and not node.table and not node.this.quoted \
            and node.name.lower() in ("user", "current_role"):  # reserved words in PostgreSQL
        return node.name.lower(), exp.Literal.string(ctx.user)
    if isinstance(node, exp.CurrentUser) or name == "current_user":
        return "current_user", exp.Literal.string(ctx.user)
    if isinstance(node, exp.SessionUser) or name == "session_user":
        return "session_user", exp.Literal.string(ctx.user)
    if name == "pg_backend_pid":
        return name, exp.Literal.number(ctx.backend_pid)
    if name == "current_setting" and node.expressions and _constant(node.expressions[0]).is_string:
        return name, _current_setting(node.expressions, ctx)
    if name == "set_config":
        return name, exp.Literal.string(_set_config_unchanged(node, ctx))
    return None


def _constant(node: exp.Expression) -> exp.Expression:
    """'x'::text -> 'x' (SQLAlchemy casts the setting name it asks for)."""
    return _constant(node.this) if isinstance(node, exp.Cast) else node


def _current_setting(args: list[exp.Expression], ctx: RewriteContext) -> exp.Expression:
    """current_setting(name [, missing_ok]): missing_ok true gives NULL for an unknown name."""
    missing_ok = len(args) > 1 and isinstance(args[1], exp.Boolean) and args[1].this
    try:
        return exp.Literal.string(ctx.setting(_constant(args[0]).name))
    except SqlError:
        if missing_ok:
            return exp.Null()
        raise


def _set_config_unchanged(node: exp.Anonymous, ctx: RewriteContext) -> str:
    """set_config(name, value, is_local) that leaves the setting as it is (asyncpg's
    `set_config('jit', 'off', false)` on connect) answers the value; one that would
    change it is refused: settings change through SET, which the session runs."""
    args = node.expressions
    if len(args) != 3 or not (args[0].is_string and args[1].is_string):
        raise SqlError("0A000", "set_config is supported only with constant arguments",
                       hint="Use SET name = value (or SET LOCAL).")
    setting, value = args[0].name, args[1].name
    if ctx.setting(setting) != value:
        raise SqlError("0A000", f'set_config can only confirm a setting\'s current value here; "{setting}" is '
                                f'"{ctx.setting(setting)}"', hint=f"Use SET {setting} = '{value}' to change it.")
    return value


_PER_SESSION = ("current_setting", "pg_backend_pid", "set_config")


def uses_session_state(tree: exp.Expression) -> bool:
    """True when the answer depends on the session (SET state, its process id), so the
    plan must not be cached: the cache is shared by every session of a login."""
    return any(_anonymous_name(n) in _PER_SESSION for n in tree.find_all(exp.Anonymous))


def answer_session_functions(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    def swap(node: exp.Expression) -> exp.Expression:
        target = node.this if isinstance(node, exp.Dot) and isinstance(node.this, exp.Identifier) \
            and node.this.name.lower() == "pg_catalog" else None
        call = node.expression if target is not None else node
        found = _replacement(call, ctx)
        if found is None:
            return node
        name, literal = found
        if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
            return exp.alias_(literal, name, quoted=True)
        return literal

    return tree.transform(swap, copy=False)
