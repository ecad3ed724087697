"""Recognize the statements the proxy answers itself: SET, SHOW, RESET,
transaction control, DISCARD, DEALLOCATE.

sqlglot folds most of these into opaque Commands, so they are read here from
the token stream; what they *do* is up to the session.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot.tokens import Token, TokenType

from proxy.errors import SqlError
from proxy.rewrite.dialect import DIALECT
from proxy.rewrite.parse import Statement, syntax_error

LOCAL_WORDS = frozenset({"SET", "SHOW", "RESET", "BEGIN", "START", "COMMIT", "END", "ROLLBACK",
                         "ABORT", "SAVEPOINT", "RELEASE", "DISCARD", "DEALLOCATE", "UNLISTEN",
                         "FETCH", "MOVE", "CLOSE"})
_BACKWARD = {"PRIOR", "BACKWARD", "ABSOLUTE", "RELATIVE", "LAST", "FIRST"}
_DIALECT = DIALECT


@dataclass(frozen=True, slots=True)
class LocalCommand:
    action: str  # set, reset, reset_all, show, show_all, begin, commit, rollback,
    #              savepoint, release, rollback_to, discard_all, deallocate, noop,
    #              fetch, move (value: row count or "ALL"), close_cursor (name None: all)
    tag: str
    name: str | None = None
    value: str | None = None
    local: bool = False


_SHOW_ALIASES = {("TRANSACTION", "ISOLATION", "LEVEL"): "transaction_isolation",
                 ("TIME", "ZONE"): "TimeZone", ("SESSION", "AUTHORIZATION"): "session_authorization"}


def _words(tokens: list[Token]) -> list[str]:
    return [t.text.upper() for t in tokens]


def _setting_name(toks: list[Token]) -> str:
    """SHOW/RESET target: a setting name or one of PostgreSQL's multi-word aliases."""
    words = tuple(" ".join(_words(toks)).split())
    return _SHOW_ALIASES.get(words) or "".join(t.text for t in toks)


def _value_text(text: str, tokens: list[Token]) -> str | None:
    """The right-hand side of SET as PostgreSQL stores it; None for DEFAULT."""
    if not tokens:
        raise SqlError("42601", "syntax error at end of input")
    if len(tokens) == 1 and tokens[0].token_type == TokenType.STRING:
        return tokens[0].text
    if len(tokens) == 1 and tokens[0].text.upper() == "DEFAULT":
        return None
    return ", ".join(part.strip().strip("'") for part in text[tokens[0].start:tokens[-1].end + 1].split(","))


def _parse_set(stmt: Statement, toks: list[Token]) -> LocalCommand:
    words = _words(toks)
    local = len(words) > 1 and words[1] == "LOCAL"
    rest = toks[2:] if len(words) > 1 and words[1] in ("LOCAL", "SESSION") else toks[1:]
    rw = _words(rest)
    if rw[:1] == ["TRANSACTION"] or rw[:3] == ["CHARACTERISTICS", "AS", "TRANSACTION"]:
        return LocalCommand("noop", "SET")  # isolation and read-only modes: always read-only here
    if rw[:2] == ["TIME", "ZONE"]:
        value = _value_text(stmt.text, rest[2:])
        return LocalCommand("set", "SET", "TimeZone", None if rw[2:3] == ["LOCAL"] else value, local)
    if rw[:1] == ["NAMES"]:
        return LocalCommand("set", "SET", "client_encoding", _value_text(stmt.text, rest[1:]), local)
    if rw[:1] == ["SCHEMA"]:
        return LocalCommand("set", "SET", "search_path", _value_text(stmt.text, rest[1:]), local)
    if rw[:2] == ["SESSION", "AUTHORIZATION"] or rw[:1] == ["ROLE"]:
        raise SqlError("42501", "changing the session's user or role is not allowed",
                       hint="Log in as the user whose policy you need.")
    # name [.name] {TO | =} value
    i = 0
    name = ""
    while i < len(rest) and rest[i].token_type not in (TokenType.EQ,) and rw[i] != "TO":
        name += rest[i].text
        i += 1
    if not name or i >= len(rest) or i + 1 >= len(rest):
        raise syntax_error(stmt.text, stmt.offset)
    return LocalCommand("set", "SET", name, _value_text(stmt.text, rest[i + 1:]), local)


def _parse_transaction(words: list[str], text: str) -> LocalCommand:
    """BEGIN, COMMIT, SAVEPOINT, RELEASE, ROLLBACK [TO]: `words` upper-case; a savepoint
    statement is read from `text` (sqlglot hands what follows some of its words over as
    one string), its name as a cursor's is (quoted names keep their case)."""
    head = words[0]
    if head in ("BEGIN", "START"):
        return LocalCommand("begin", "START TRANSACTION" if head == "START" else "BEGIN")
    if head in ("COMMIT", "END"):
        return LocalCommand("commit", "COMMIT")
    if head in ("SAVEPOINT", "RELEASE") or (head in ("ROLLBACK", "ABORT") and "TO" in words):
        return _parse_savepoint(text)
    if head in ("ROLLBACK", "ABORT"):
        return LocalCommand("rollback", "ROLLBACK")
    raise SqlError("42601", f'syntax error at or near "{words[-1].lower()}"')


_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.DOTALL)
_SAVEPOINT_FORMS = {("SAVEPOINT",): ("savepoint", "SAVEPOINT"), ("RELEASE",): ("release", "RELEASE"),
                    ("RELEASE", "SAVEPOINT"): ("release", "RELEASE")}


def _savepoint_words(text: str) -> list[str]:
    """The words before a savepoint statement's name, upper-case, comments left out."""
    match = _CURSOR_NAME.search(text)
    return _COMMENT.sub(" ", text[:match.start()] if match else text).upper().split()


def _parse_savepoint(text: str) -> LocalCommand:
    """SAVEPOINT name, RELEASE [SAVEPOINT] name, ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name."""
    words = tuple(_savepoint_words(text))
    form = _SAVEPOINT_FORMS.get(words)
    if form is None and words[:1] in (("ROLLBACK",), ("ABORT",)):
        rest = [w for w in words[1:] if w not in ("WORK", "TRANSACTION")]
        form = ("rollback_to", "ROLLBACK") if rest in (["TO"], ["TO", "SAVEPOINT"]) else None
    if form is None:
        raise SqlError("42601", "syntax error in a savepoint statement",
                       hint="SAVEPOINT name, RELEASE [SAVEPOINT] name, ROLLBACK [WORK] TO [SAVEPOINT] name")
    return LocalCommand(*form, cursor_name(text))


_CURSOR_NAME = re.compile(r'("(?:[^"]|"")+"|\w+)\s*;?\s*$')


def cursor_name(text: str) -> str:
    """A cursor name as written last in a statement: quoted names keep their case."""
    match = _CURSOR_NAME.search(text)
    if match is None:
        raise SqlError("42601", "syntax error at end of input")
    name = match[1]
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _parse_fetch(head: str, stmt: Statement) -> LocalCommand:
    """FETCH/MOVE [NEXT | FORWARD [n | ALL] | ALL | n] [FROM | IN] name: forward only.
    (Read from the text: sqlglot folds FETCH into one opaque token.)"""
    name = cursor_name(stmt.text)
    words = stmt.text[:_CURSOR_NAME.search(stmt.text).start()].upper().split()[1:]
    if words and words[-1] in ("FROM", "IN"):
        words = words[:-1]
    if any(w in _BACKWARD for w in words):
        raise SqlError("55000", "cursor can only scan forward",
                       hint="anonproxy cursors are NO SCROLL: fetch forward only.")
    count = "1"
    for word in words:
        if word == "ALL":
            count = "ALL"
        elif word.isdigit():
            count = word
        elif word not in ("NEXT", "FORWARD"):
            raise SqlError("42601", f'syntax error at or near "{word.lower()}"')
    return LocalCommand(head.lower(), head, name, count)


def parse_local_command(stmt: Statement) -> LocalCommand:
    try:
        toks = _DIALECT.tokenize(stmt.text)
    except Exception:
        raise syntax_error(stmt.text, stmt.offset) from None
    toks = [t for t in toks if t.token_type != TokenType.SEMICOLON]
    words = _words(toks)
    head = words[0]
    if head == "SET":
        return _parse_set(stmt, toks)
    if head == "SHOW":
        if len(words) < 2:
            raise syntax_error(stmt.text, stmt.offset)
        if words[1] == "ALL":
            return LocalCommand("show_all", "SHOW")
        return LocalCommand("show", "SHOW", _setting_name(toks[1:]))
    if head == "RESET":
        if words[1:] == ["ALL"]:
            return LocalCommand("reset_all", "RESET")
        return LocalCommand("reset", "RESET", _setting_name(toks[1:]))
    if head == "DISCARD":
        return LocalCommand("discard_all", "DISCARD ALL") if words[1:] == ["ALL"] else LocalCommand("noop", "DISCARD " + " ".join(words[1:]))
    if head == "DEALLOCATE":
        target = [w for w in words[1:] if w != "PREPARE"]
        if target == ["ALL"]:
            return LocalCommand("deallocate", "DEALLOCATE ALL", None)
        return LocalCommand("deallocate", "DEALLOCATE", toks[-1].text)
    if head == "UNLISTEN":
        return LocalCommand("noop", "UNLISTEN")
    if head in ("FETCH", "MOVE"):
        return _parse_fetch(head, stmt)
    if head == "CLOSE":
        if words[1:] == ["ALL"]:
            return LocalCommand("close_cursor", "CLOSE CURSOR ALL")
        return LocalCommand("close_cursor", "CLOSE CURSOR", cursor_name(stmt.text))
    split = [w for t in toks for w in t.text.upper().split()]
    return _parse_transaction([w for w in split if w not in ("WORK", "TRANSACTION")] if head != "START" else split,
                              stmt.text)
