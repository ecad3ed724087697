"""Load and validate the proxy's YAML configuration.

Every problem is reported with the path of the offending key and its value,
all at once, so a user fixes a file in one pass.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from proxy.policy.model import ALL_TABLES, IMPLEMENTED_MODES, MODES, Role
from proxy.wire.scram import Verifier

DEFAULT_LISTEN = ("127.0.0.1", 6432)
BACKENDS = ("duckdb",)


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class TLSConfig:
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class BackendConfig:
    kind: str
    path: Path


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    verifier: Verifier


@dataclass(frozen=True, slots=True)
class Config:
    host: str
    port: int
    database: str
    tls: TLSConfig | None
    backend: BackendConfig
    users: dict[str, User]
    roles: dict[str, Role]


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    listing = ", ".join(sorted(choices)) or "(none)"
    return f"did you mean '{close[0]}'? choices are: {listing}" if close else f"choices are: {listing}"


def parse_listen(value: Any) -> tuple[str, int]:
    """'HOST:PORT' (or '[v6]:PORT') -> (host, port)."""
    text = str(value)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{text}' is not HOST:PORT")
    return host.strip("[]"), int(port)


class _Checker:
    """Collects problems while walking the document."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def mapping(self, doc: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(doc, dict):
            self.fail(path, f"expected a mapping, got {type(doc).__name__} {doc!r}")
            return {}
        for key in doc:
            if key not in allowed:
                self.fail(f"{path}.{key}", f"unknown key '{key}'; {_suggest(str(key), list(allowed))}")
        return doc

    def file(self, value: Any, path: str, must_exist: bool = True) -> Path:
        p = Path(str(value))
        p = p if p.is_absolute() else self.base / p
        if must_exist and not p.is_file():
            self.fail(path, f"file '{value}' does not exist (looked at {p})")
        return p


def _check_roles(c: _Checker, doc: Any) -> dict[str, Role]:
    roles: dict[str, Role] = {}
    for name, body in c.mapping(doc, "roles", tuple(doc or ())).items():
        path = f"roles.{name}"
        body = c.mapping(body, path, ("mode", "tables"))
        mode = body.get("mode")
        if mode not in MODES:
            c.fail(f"{path}.mode", f"unknown mode {mode!r}; {_suggest(str(mode), list(MODES))}")
        elif mode not in IMPLEMENTED_MODES:
            c.fail(f"{path}.mode", f"mode '{mode}' is not available yet; available: "
                   + ", ".join(IMPLEMENTED_MODES))
        tables = body.get("tables", [])
        if tables == ALL_TABLES:
            allowed = None
        elif isinstance(tables, list) and all(isinstance(t, str) for t in tables):
            allowed = frozenset(t.lower() for t in tables)
        else:
            c.fail(f"{path}.tables", f"expected '{ALL_TABLES}' or a list of table names, got {tables!r}")
            allowed = frozenset()
        roles[name] = Role(name, str(mode), allowed)
    return roles


def _check_users(c: _Checker, doc: Any, roles: dict[str, Role]) -> dict[str, User]:
    users: dict[str, User] = {}
    for name, body in c.mapping(doc, "users", tuple(doc or ())).items():
        path = f"users.{name}"
        body = c.mapping(body, path, ("role", "password"))
        role = body.get("role")
        if role not in roles:
            c.fail(f"{path}.role", f"unknown role {role!r}; {_suggest(str(role), list(roles))}")
        try:
            verifier = Verifier.parse(str(body.get("password", "")))
        except ValueError as exc:
            # Never echo the value: it may be a plaintext password.
            c.fail(f"{path}.password", f"{exc}; create one with `anonproxy passwd`")
            continue
        users[name] = User(str(name), str(role), verifier)
    return users


def _check_backend(c: _Checker, doc: Any) -> BackendConfig:
    body = c.mapping(doc, "backend", ("type", "path"))
    kind = body.get("type", "duckdb")
    if kind not in BACKENDS:
        c.fail("backend.type", f"unknown backend {kind!r}; {_suggest(str(kind), list(BACKENDS))}")
    if "path" not in body:
        c.fail("backend.path", "missing: the DuckDB database file to serve")
        return BackendConfig(str(kind), Path())
    return BackendConfig(str(kind), c.file(body["path"], "backend.path"))


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    c = _Checker(path.resolve().parent)
    top = c.mapping(doc, "(top)", ("listen", "database", "tls", "backend", "users", "roles"))
    host, port = DEFAULT_LISTEN
    if "listen" in top:
        try:
            host, port = parse_listen(top["listen"])
        except ValueError as exc:
            c.fail("listen", str(exc))
    tls = None
    if "tls" in top:
        body = c.mapping(top["tls"], "tls", ("cert", "key"))
        tls = TLSConfig(c.file(body.get("cert", ""), "tls.cert"), c.file(body.get("key", ""), "tls.key"))
    backend = _check_backend(c, top.get("backend"))
    roles = _check_roles(c, top.get("roles") or {})
    users = _check_users(c, top.get("users") or {}, roles)
    database = top.get("database", "postgres")
    if not isinstance(database, str) or not database:
        c.fail("database", f"expected a database name, got {database!r}")
    if c.problems:
        raise ConfigError(c.problems)
    return Config(host, port, str(database), tls, backend, users, roles)
