"""Split a Query message into statements and parse each with sqlglot (postgres dialect)."""
from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from proxy.errors import SqlError

_DIALECT = Postgres()


@dataclass(frozen=True, slots=True)
class Statement:
    text: str
    offset: int  # 0-based character offset of `text` in the client's message
    first_word: str  # upper-case first keyword, for routing without a full parse


def syntax_error(sql: str, offset: int = 0, at: int | None = None, near: str | None = None) -> SqlError:
    where = f' at or near "{near}"' if near else " at end of input"
    return SqlError("42601", f"syntax error{where}",
                    position=None if at is None else offset + at + 1)


def split_statements(sql: str) -> list[Statement]:
    """Statements in order; empty ones (only comments or semicolons) are dropped."""
    try:
        tokens = _DIALECT.tokenize(sql)
    except TokenError:
        raise SqlError("42601", "unterminated quoted string or comment") from None
    statements: list[Statement] = []
    start: int | None = None
    end = 0
    for tok in tokens + [None]:
        if tok is None or tok.token_type == TokenType.SEMICOLON:
            if start is not None:
                statements.append(Statement(sql[start:end + 1], start, first_word))
            start = None
            continue
        if start is None:
            start, first_word = tok.start, tok.text.upper()
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
    expressions = [e for e in parsed if e is not None and not isinstance(e, exp.Semicolon)]
    if len(expressions) != 1:
        raise syntax_error(stmt.text, stmt.offset)
    return expressions[0]
