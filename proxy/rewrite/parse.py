"""Split a Query message into statements and parse each with sqlglot (postgres dialect).

Bounded work starts here (DESIGN.md section 3, principle 6): a message longer
than the configured limit is refused before it is tokenized, and nesting is
measured on the tokens before sqlglot's recursive-descent parser sees them, so
no statement can exhaust the interpreter's stack or send the parser into its
exponential backtracking (nested ARRAY[...] or type-name calls like int(...)).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from proxy.errors import SqlError
from proxy.rewrite.dialect import DIALECT

_DIALECT = DIALECT

# sqlglot needs ~25 Python frames per nesting level, parse to emit; the default
# limit of 1000 fails at ~45 levels. 20000 plans 500 levels with every pass
# (measured), so the default depth limit of 200 has a wide margin; Python 3.11
# keeps these frames off the C stack, so worker threads are safe too.
RECURSION_LIMIT = 20_000
# Each nested ARRAY[...] or type-name call (int(...), date(...)) doubles or
# triples sqlglot's parse time (it tries a type, backtracks, tries a call):
# 16 levels take seconds, 25 would take hours. Real SQL nests them a few deep.
MAX_TYPE_CALL_DEPTH = 5
_OPEN = {TokenType.L_PAREN: TokenType.R_PAREN, TokenType.L_BRACKET: TokenType.R_BRACKET,
         TokenType.L_BRACE: TokenType.R_BRACE, TokenType.CASE: TokenType.END}
_TYPE_TOKENS = frozenset(Postgres.Parser.TYPE_TOKENS) - {TokenType.UNION}  # UNION (SELECT ...) is cheap


@dataclass(frozen=True, slots=True)
class StatementLimits:
    max_length: int = 1 << 20  # bytes of UTF-8 in one Query or Parse message
    max_depth: int = 200  # nested parentheses, brackets, braces and CASE ... END


DEFAULT_LIMITS = StatementLimits()
_limits = DEFAULT_LIMITS


def set_limits(limits: StatementLimits) -> None:
    """The server's configured limits, for every later split_statements call."""
    global _limits
    _limits = limits


def too_complex(detail: str, hint: str, position: int | None = None) -> SqlError:
    return SqlError("54001", "statement is too complex", detail=detail, hint=hint, position=position)


def check_length(sql: str, limits: StatementLimits | None = None) -> None:
    limit = (limits or _limits).max_length
    if len(sql) > limit or (len(sql) * 4 > limit and len(sql.encode("utf-8")) > limit):
        raise SqlError("54001", "statement is too long",
                       detail=f"The statement is {len(sql.encode('utf-8'))} bytes long; at most {limit} are accepted.",
                       hint="Send a shorter statement (e.g. a join instead of a long IN list), or raise "
                            "limits.max_statement_length in the proxy configuration.")


class _Nesting:
    """Nesting depth over one statement's tokens; an error points at the token that crossed a limit."""

    def __init__(self, limits: StatementLimits) -> None:
        self.limits = limits
        self.stack: list[tuple[TokenType, bool]] = []  # (closing token, opened by a type-name call)
        self.type_calls = 0

    def feed(self, tok: Token, previous: Token | None) -> None:
        kind = tok.token_type
        if kind in _OPEN:
            typed = kind != TokenType.CASE and previous is not None and previous.token_type in _TYPE_TOKENS
            self.stack.append((_OPEN[kind], typed))
            self.type_calls += typed
            if len(self.stack) > self.limits.max_depth:
                raise too_complex(f"It nests more than {self.limits.max_depth} levels deep (parentheses, "
                                  "brackets, subqueries, CASE ... END).",
                                  "Simplify the statement, or raise limits.max_nesting_depth in the proxy "
                                  "configuration.", tok.start + 1)
            if self.type_calls > MAX_TYPE_CALL_DEPTH:
                raise too_complex(f"It nests more than {MAX_TYPE_CALL_DEPTH} ARRAY[...] constructors or "
                                  "type-name calls such as int(...) or date(...).",
                                  "Write CAST(x AS type) instead of type-name calls, or nest fewer arrays.",
                                  tok.start + 1)
        elif self.stack and kind == self.stack[-1][0]:
            self.type_calls -= self.stack.pop()[1]


@dataclass(frozen=True, slots=True)
class Statement:
    text: str
    offset: int  # 0-based character offset of `text` in the client's message
    first_word: str  # upper-case first keyword, for routing without a full parse


def syntax_error(sql: str, offset: int = 0, at: int | None = None, near: str | None = None) -> SqlError:
    where = f' at or near "{near}"' if near else " at end of input"
    return SqlError("42601", f"syntax error{where}",
                    position=None if at is None else offset + at + 1)


def split_statements(sql: str, limits: StatementLimits | None = None) -> list[Statement]:
    """Statements in order; empty ones (only comments or semicolons) are dropped.
    Raises 54001 for a message over the length limit or a statement nested too deep."""
    limits = limits or _limits
    check_length(sql, limits)
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)  # for parsing and every pass after it
    try:
        tokens = _DIALECT.tokenize(sql)
    except TokenError:
        raise SqlError("42601", "unterminated quoted string or comment") from None
    statements: list[Statement] = []
    start: int | None = None
    end = 0
    nesting = _Nesting(limits)
    previous: Token | None = None
    for tok in tokens + [None]:
        if tok is None or tok.token_type == TokenType.SEMICOLON:
            if start is not None:
                statements.append(Statement(sql[start:end + 1], start, first_word))
            start, previous = None, None
            nesting = _Nesting(limits)
            continue
        if start is None:
            start, first_word = tok.start, tok.text.upper()
        nesting.feed(tok, previous)
        previous = tok
        end = tok.end
    return statements


def _line_col_to_index(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + max(col - 1, 0)


def parse_statement(stmt: Statement) -> exp.Expression:
    try:
        parsed = sqlglot.parse(stmt.text, dialect=_DIALECT)
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        near = err.get("highlight") or None
        at = None
        if err.get("line"):
            at = _line_col_to_index(stmt.text, err["line"], err["col"]) - (len(near) - 1 if near else 0)
        raise syntax_error(stmt.text, stmt.offset, at, near) from None
    except TokenError:
        raise SqlError("42601", "unterminated quoted string or comment") from None
    except RecursionError:
        raise recursion_error() from None
    expressions = [e for e in parsed if e is not None and not isinstance(e, exp.Semicolon)]
    if len(expressions) != 1:
        raise syntax_error(stmt.text, stmt.offset)
    return _keep_written_names(expressions[0], stmt.text)


def _keep_written_names(tree: exp.Expression, text: str) -> exp.Expression:
    """sqlglot maps synonyms onto one class (substr and substring, now and
    current_timestamp, mod and %); PostgreSQL names an output column after the
    function as written, so keep that spelling wherever a call was name(...)."""
    for node in tree.walk():
        start, end = node.meta.get("start"), node.meta.get("end")
        if start is None or end is None or isinstance(node, (exp.Identifier, exp.Literal, exp.Star)):
            continue
        if text[end + 1:end + 65].lstrip().startswith("("):
            node.meta["written_name"] = text[start:end + 1]
    return tree


def recursion_error() -> SqlError:
    """What a RecursionError anywhere in planning becomes: the client's error, not ours."""
    return too_complex("Planning it needs deeper recursion than anonproxy allows.",
                       "Simplify the statement: fewer nested expressions, subqueries or operators in a chain.")
