"""Load and validate the proxy's YAML configuration.

Every problem is reported with the path of the offending key and its value,
all at once, so a user fixes a file in one pass.
"""
from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import hmac
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from proxy.policy.model import ALL_TABLES, MODES, Budget, Role, TablePolicy
from proxy.policy.rules import parse_rule
from proxy.policy.tokens import TokenKeyError, load_key
from proxy import connection_limits
from proxy.connection_limits import ConnectionLimits
from proxy.rewrite.parse import DEFAULT_LIMITS, StatementLimits
from proxy.units import format_duration_ms, parse_duration_ms, parse_size
from proxy.tls import TLSError, load_pair
from proxy.watchdog import default_duckdb_memory_limit, default_max_memory, system_memory
from proxy.wire.scram import DEFAULT_ITERATIONS, Verifier

DEFAULT_LISTEN = ("127.0.0.1", 6432)
BACKENDS = ("duckdb", "postgres")
DEFAULT_STATEMENT_TIMEOUT_MS = 60_000
MAX_NESTING_DEPTH = 500  # planned at parse.RECURSION_LIMIT by every pass (measured); 1000 is not
DEFAULT_TEMP_SIZE = 10 << 30
# A failed login is answered after this delay, as with PostgreSQL's auth_delay (whose
# documentation suggests 500ms): one connection then guesses twice a second, not
# ~1,700 times, and a person who mistyped hardly notices.
DEFAULT_AUTH_DELAY_MS = 500
MAX_AUTH_DELAY_MS = 10_000
TOP_KEYS = ("listen", "database", "tls", "backend", "limits", "tokenization", "ledger", "users", "roles")


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class TLSConfig:
    cert: Path
    key: Path
    require: bool = False  # refuse plaintext logins for every user


@dataclass(frozen=True, slots=True)
class BackendConfig:
    kind: str
    path: Path  # duckdb: the database file
    dsn: str = field(default="", repr=False)  # postgres: may hold a password, never printed
    # duckdb only: its buffer manager's limit and worker threads (0: defaults
    # applied by load_config), and where it may spill (None: it may not).
    memory_limit: int = 0
    threads: int = 0
    temp_directory: Path | None = None
    max_temp_directory_size: int = DEFAULT_TEMP_SIZE

    @property
    def describe(self) -> str:
        """For messages: the file name, or the PostgreSQL host and database without credentials."""
        if self.kind == "duckdb":
            return self.path.name
        from psycopg.conninfo import conninfo_to_dict
        info = conninfo_to_dict(self.dsn)
        return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


@dataclass(frozen=True, slots=True)
class Limits:
    statement: StatementLimits = DEFAULT_LIMITS
    max_memory: int = 0  # bytes of resident memory for the whole process; 0: no guard
    connections: ConnectionLimits = ConnectionLimits()
    auth_delay_ms: int = DEFAULT_AUTH_DELAY_MS  # before answering a failed login


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    verifier: Verifier
    require_tls: bool = False  # tls.require, the role's or the user's own require_tls
    max_connections: int | None = None  # this login's sessions at once (PostgreSQL's CONNECTION LIMIT)


@dataclass(frozen=True, slots=True)
class Config:
    host: str
    port: int
    database: str
    tls: TLSConfig | None
    backend: BackendConfig
    users: dict[str, User]
    roles: dict[str, Role]
    token_key: bytes | None = None  # the tokenization key; never printed or logged
    limits: Limits = Limits()
    ledger: str = field(default="", repr=False)  # dp budget ledger: a SQLite file path or a postgresql:// DSN

    def __repr__(self) -> str:  # keep the key out of tracebacks and debug output
        return f"Config(host={self.host!r}, port={self.port}, database={self.database!r}, roles={list(self.roles)})"

    @property
    def auth_secret(self) -> bytes:
        """Seeds what the proxy makes up for unknown users (mock SCRAM salts): secret,
        and stable across restarts, or a salt that changes at each restart tells an
        unknown user from a real one. From the tokenization key when there is one;
        otherwise from every user's stored SCRAM keys, as secret (they let one pose
        as the server), stable until a user or a password changes."""
        label = b"anonproxy: secret for unknown users"
        if self.token_key is not None:
            return hmac.new(self.token_key, label, hashlib.sha256).digest()
        digest = hashlib.sha256(label)
        for name in sorted(self.users):
            digest.update(self.users[name].verifier.stored_key + self.users[name].verifier.server_key)
        return digest.digest()


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
            # The type only: a value in the wrong place may be a key or a password.
            self.fail(path, f"expected a mapping, got {type(doc).__name__}")
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

    def flag(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {value!r}")
            return False
        return value

    def private_file(self, p: Path, path: str) -> bool:
        """False, with a problem, for a key file others may read."""
        problem = _private_file_problem(p)
        if problem:
            self.fail(path, problem)
        return problem is None


def _private_file_problem(p: Path) -> str | None:
    """PostgreSQL's rule for its server key: owned by the user running the server,
    with no group or world access; or owned by root, readable by its group at most."""
    st = p.stat()
    mode = stat.S_IMODE(st.st_mode)
    ours = st.st_uid == os.geteuid()
    if not ours and st.st_uid != 0:
        return f"{p} must be owned by the user running anonproxy or by root (its owner is uid {st.st_uid})"
    if mode & (0o077 if ours else 0o037):
        fix = "600" if ours else "640"
        return (f"{p} has group or world access (mode {mode:04o}); a key file must be u=rw (0600) or less, "
                f"or u=rw,g=r (0640) or less when owned by root; fix: chmod {fix} {p}")
    return None


def _check_table(c: _Checker, name: str, body: Any, path: str) -> TablePolicy:
    if body in (None, "public"):
        return TablePolicy(name.lower())
    body = c.mapping(body, path, ("privacy_unit", "quasi_identifiers", "l_diversity", "known", "max_contributions",
                                  "columns"))
    unit = body.get("privacy_unit")
    if unit is not None and not isinstance(unit, str):
        c.fail(f"{path}.privacy_unit", f"expected a column name, got {unit!r}")
    qis = body.get("quasi_identifiers", [])
    if not isinstance(qis, list) or not all(isinstance(q, str) for q in qis):
        c.fail(f"{path}.quasi_identifiers", f"expected a list of column names, got {qis!r}")
        qis = []
    known = body.get("known", [])
    if not isinstance(known, list) or not all(isinstance(k, str) for k in known):
        c.fail(f"{path}.known", f"expected a list of column names an attacker may know of a record, got {known!r}")
        known = []
    if qis and unit is None:
        c.fail(f"{path}.quasi_identifiers", "quasi-identifiers need a privacy_unit to count people by")
    diversity = None
    if "l_diversity" in body:
        ld = c.mapping(body["l_diversity"], f"{path}.l_diversity", ("column", "l"))
        if not isinstance(ld.get("column"), str) or not isinstance(ld.get("l"), int) or ld.get("l", 0) < 2:
            c.fail(f"{path}.l_diversity", f"expected {{column: NAME, l: N >= 2}}, got {body['l_diversity']!r}")
        else:
            diversity = (ld["column"].lower(), ld["l"])
    columns = {}
    for column, spec in c.mapping(body.get("columns") or {}, f"{path}.columns",
                                  tuple(body.get("columns") or ())).items():
        rule = parse_rule(spec, f"{path}.columns.{column}", c.fail)
        if rule is not None:
            columns[str(column).lower()] = rule
    contributions = body.get("max_contributions", 1)
    if not isinstance(contributions, int) or isinstance(contributions, bool) or contributions < 1:
        c.fail(f"{path}.max_contributions", f"expected a whole number of rows >= 1, got {contributions!r}")
        contributions = 1
    return TablePolicy(name.lower(), unit.lower() if isinstance(unit, str) else None,
                       tuple(q.lower() for q in qis), diversity, columns, tuple(k.lower() for k in known),
                       contributions)


def _check_role_tables(c: _Checker, path: str, mode: str, tables: Any) -> dict[str, TablePolicy] | None:
    if tables == ALL_TABLES and mode == "raw":
        return None
    if mode == "raw" and isinstance(tables, list) and all(isinstance(t, str) for t in tables):
        return {t.lower(): TablePolicy(t.lower()) for t in tables}
    if isinstance(tables, dict):
        return {str(t).lower(): _check_table(c, str(t), body, f"{path}.{t}") for t, body in tables.items()}
    expected = f"'{ALL_TABLES}', a list of table names or " if mode == "raw" else ""
    c.fail(path, f"expected {expected}a mapping of table policies, got {tables!r}")
    return {}


def _check_roles(c: _Checker, doc: Any) -> dict[str, Role]:
    roles: dict[str, Role] = {}
    for name, body in c.mapping(doc, "roles", tuple(doc or ())).items():
        path = f"roles.{name}"
        body = c.mapping(body, path, ("mode", "k", "tables", "statement_timeout", "require_tls", *DP_KEYS))
        mode = body.get("mode")
        if mode not in MODES:
            c.fail(f"{path}.mode", f"unknown mode {mode!r}; {_suggest(str(mode), list(MODES))}")
        budget = _check_budget(c, path, body) if mode == "dp" else None
        if mode != "dp" and set(body) & set(DP_KEYS):
            c.fail(f"{path}.{sorted(set(body) & set(DP_KEYS))[0]}", "budget settings apply to dp roles only")
        k = body.get("k", 1)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            c.fail(f"{path}.k", f"expected a whole number of people >= 1, got {k!r}")
            k = 1
        tables = _check_role_tables(c, f"{path}.tables", str(mode), body.get("tables", []))
        for table in (tables or {}).values():
            if table.public and any(r.bounds is not None for r in table.columns.values()):
                c.fail(f"{path}.tables.{table.name}", "bounds are declared but no privacy_unit: without one the "
                       "table is public and read as stored; name the column that identifies a person")
        if tables and any(t.quasi_identifiers for t in tables.values()) and k < 2:
            c.fail(f"{path}.k", "quasi_identifiers are declared, so k must be at least 2")
        timeout = _check_timeout(c, f"{path}.statement_timeout", body.get("statement_timeout"),
                                 full_access=mode == "raw" and tables is None)
        roles[name] = Role(name, str(mode), tables, k, timeout, budget)
    return roles


DP_KEYS = ("budget", "default_epsilon", "max_epsilon", "delta")
PERIODS = ("day", "week", "month")


def _positive(c: _Checker, path: str, value: Any, default: float | None = None) -> float:
    if value is None and default is not None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    c.fail(path, f"expected a positive number, got {value!r}")
    return default or 1.0


def _check_budget(c: _Checker, path: str, body: dict[str, Any]) -> Budget | None:
    """budget: {epsilon: 10, period: month} (day, week, month) or
    {epsilon: 10, period: {start: 2026-01-01, days: 30}}; per statement default_epsilon,
    max_epsilon; delta for releasing groups by noisy threshold."""
    if "budget" not in body:
        c.fail(f"{path}.budget", "a dp role needs a budget, e.g. {epsilon: 10, period: month}")
        return None
    spec = c.mapping(body["budget"], f"{path}.budget", ("epsilon", "period"))
    total = _positive(c, f"{path}.budget.epsilon", spec.get("epsilon"))
    period, start, days = spec.get("period", "month"), None, None
    if isinstance(period, dict):
        window = c.mapping(period, f"{path}.budget.period", ("start", "days"))
        start, days = window.get("start"), window.get("days")
        if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
            start = dt.datetime.combine(start, dt.time(), dt.timezone.utc)
        if not isinstance(start, dt.datetime) or not isinstance(days, int) or isinstance(days, bool) or days < 1:
            c.fail(f"{path}.budget.period", f"expected {{start: YYYY-MM-DD, days: N}}, got {period!r}")
            return None
        start, period = start if start.tzinfo else start.replace(tzinfo=dt.timezone.utc), "window"
    elif period not in PERIODS:
        c.fail(f"{path}.budget.period", f"expected one of {', '.join(PERIODS)} or {{start, days}}, got {period!r}")
        return None
    maximum = _positive(c, f"{path}.max_epsilon", body.get("max_epsilon"), min(total, 1.0))
    default = _positive(c, f"{path}.default_epsilon", body.get("default_epsilon"), min(maximum, 0.5))
    delta = _positive(c, f"{path}.delta", body.get("delta"), 1e-6)
    if default > maximum or maximum > total:
        c.fail(path, f"expected default_epsilon ({default:g}) <= max_epsilon ({maximum:g}) <= budget epsilon ({total:g})")
    if delta >= 1e-3:
        c.fail(f"{path}.delta", f"expected a small probability below 0.001 (e.g. 1e-6), got {delta!r}")
    return Budget(total, str(period), default, maximum, delta, start, days)


def _check_timeout(c: _Checker, path: str, value: Any, *, full_access: bool) -> int:
    """Milliseconds. 0 (no timeout) only for full-access raw roles: for every other
    role a statement's duration is bounded work and must not become an oracle."""
    if value is None:
        return DEFAULT_STATEMENT_TIMEOUT_MS
    try:
        ms = parse_duration_ms(value)
    except ValueError as exc:
        c.fail(path, f"expected a duration such as 60s, 500ms or 2min, got {value!r}: {exc}")
        return DEFAULT_STATEMENT_TIMEOUT_MS
    if ms == 0 and not full_access:
        c.fail(path, "0 (no timeout) is allowed only for raw roles reading every table (tables: \"*\"); "
               f"give a duration, e.g. {format_duration_ms(DEFAULT_STATEMENT_TIMEOUT_MS)}")
    return ms


def _needs_key(roles: dict[str, Role]) -> bool:
    return any(rule.rule in ("tokenize", "perturb")
               for role in roles.values() for table in (role.tables or {}).values()
               for rule in table.columns.values())


def _check_tokenization(c: _Checker, doc: Any, roles: dict[str, Role]) -> bytes | None:
    if doc is None:
        if _needs_key(roles):
            c.fail("tokenization", "missing: tokenize and perturb rules need a key "
                   "({key_env: VARIABLE} or {key_file: PATH})")
        return None
    body = c.mapping(doc, "tokenization", ("key_env", "key_file"))
    if len(body) != 1:
        c.fail("tokenization", "expected exactly one of key_env or key_file")
        return None
    try:
        if "key_env" in body:
            return load_key(env=str(body["key_env"]))
        path = c.file(body["key_file"], "tokenization.key_file", must_exist=False)
        if path.is_file() and not c.private_file(path, "tokenization.key_file"):
            return None
        return load_key(path=path)
    except TokenKeyError as exc:
        c.fail(f"tokenization.{next(iter(body))}", str(exc))
        return None


def _check_verifier(c: _Checker, path: str, text: str) -> Verifier | None:
    try:
        verifier = Verifier.parse(text)
    except ValueError as exc:
        # Never echo the value: it may be a plaintext password.
        c.fail(path, f"{exc}; create one with `anonproxy passwd`")
        return None
    if verifier.iterations < DEFAULT_ITERATIONS:
        c.fail(path, f"the verifier has {verifier.iterations} iterations; at least {DEFAULT_ITERATIONS} are "
               "required (PostgreSQL's default scram_iterations: each guess at the password behind a leaked "
               "verifier costs that many hashes); create one with `anonproxy passwd`")
    return verifier


def _tls_roles(c: _Checker, doc: Any, tls: TLSConfig | None) -> set[str]:
    """The roles whose logins must come over TLS (roles.NAME.require_tls)."""
    bodies = doc if isinstance(doc, dict) else {}  # not a mapping: reported by _check_roles
    names = {name for name, body in bodies.items() if isinstance(body, dict)
             and c.flag(body.get("require_tls", False), f"roles.{name}.require_tls")}
    if tls is None:
        for name in sorted(names, key=str):
            c.fail(f"roles.{name}.require_tls", "needs TLS: configure tls: {cert: FILE, key: FILE}")
    return names


def _check_users(c: _Checker, doc: Any, roles: dict[str, Role], tls: TLSConfig | None,
                 tls_roles: set[str]) -> dict[str, User]:
    users: dict[str, User] = {}
    for name, body in c.mapping(doc, "users", tuple(doc or ())).items():
        path = f"users.{name}"
        body = c.mapping(body, path, ("role", "password", "require_tls", "max_connections"))
        role = body.get("role")
        if not isinstance(role, str) or role not in roles:
            c.fail(f"{path}.role", f"unknown role {role!r}; {_suggest(str(role), list(roles))}")
        own = c.flag(body.get("require_tls", False), f"{path}.require_tls")
        if own and tls is None:
            c.fail(f"{path}.require_tls", "needs TLS: configure tls: {cert: FILE, key: FILE}")
        limit = body.get("max_connections")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 10_000):
            c.fail(f"{path}.max_connections", f"expected a whole number from 0 to 10000, got {limit!r}")
            limit = None
        verifier = _check_verifier(c, f"{path}.password", str(body.get("password", "")))
        if verifier is not None:
            require = own or role in tls_roles or (tls is not None and tls.require)
            users[name] = User(str(name), str(role), verifier, require, limit)
    return users


def _check_tls(c: _Checker, doc: Any) -> TLSConfig | None:
    """The certificate and key, loaded now, so `check` finds what `serve` would."""
    body = c.mapping(doc, "tls", ("cert", "key", "require"))
    require = c.flag(body.get("require", False), "tls.require")
    for key, what in (("cert", "the server's certificate chain (PEM)"), ("key", "its private key (PEM)")):
        if key not in body:
            c.fail(f"tls.{key}", f"missing: {what}")
    if "cert" not in body or "key" not in body:
        return None
    cert, key = c.file(body["cert"], "tls.cert"), c.file(body["key"], "tls.key")
    if cert.is_file() and key.is_file() and c.private_file(key, "tls.key"):
        try:
            load_pair(cert, key)
        except TLSError as exc:
            c.fail("tls", str(exc))
    return TLSConfig(cert, key, require)


def _postgres_dsn(c: _Checker, body: dict[str, Any]) -> str:
    """The connection string; its password may come from an environment variable."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    try:
        info = conninfo_to_dict(str(body.get("dsn", "")))
    except Exception:
        c.fail("backend.dsn", "not a valid PostgreSQL connection string")  # the value may hold a password
        return ""
    if "password_env" in body:
        password = os.environ.get(str(body["password_env"]))
        if not password:
            c.fail("backend.password_env", f"environment variable {body['password_env']} is not set")
            return ""
        info["password"] = password
    return make_conninfo(**info)


_DUCKDB_ONLY = ("memory_limit", "threads", "temp_directory", "max_temp_directory_size")


def _size(c: _Checker, path: str, value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        return parse_size(value)
    except ValueError as exc:
        c.fail(path, f"expected a size such as 512MB or 4GB, got {value!r}: {exc}")
        return default


def _check_duckdb_resources(c: _Checker, body: dict[str, Any], ram: int) -> dict[str, Any]:
    memory_limit = _size(c, "backend.memory_limit", body.get("memory_limit"), default_duckdb_memory_limit(ram))
    if memory_limit < 16 << 20:
        c.fail("backend.memory_limit", f"expected at least 16MB, got {body.get('memory_limit')!r}")
    threads = body.get("threads", len(os.sched_getaffinity(0)))
    if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 1024:
        c.fail("backend.threads", f"expected a whole number of threads from 1 to 1024, got {threads!r}")
        threads = 1
    temp = None
    if body.get("temp_directory") is not None:
        temp = Path(str(body["temp_directory"]))
        temp = temp if temp.is_absolute() else c.base / temp
        if not temp.is_dir() or not os.access(temp, os.W_OK):
            c.fail("backend.temp_directory", f"'{body['temp_directory']}' is not a writable directory (looked at {temp})")
    temp_size = _size(c, "backend.max_temp_directory_size", body.get("max_temp_directory_size"), DEFAULT_TEMP_SIZE)
    return {"memory_limit": memory_limit, "threads": threads, "temp_directory": temp,
            "max_temp_directory_size": temp_size}


def _check_backend(c: _Checker, doc: Any, ram: int) -> BackendConfig:
    body = c.mapping(doc, "backend", ("type", "path", "dsn", "password_env") + _DUCKDB_ONLY)
    kind = body.get("type", "duckdb")
    if kind not in BACKENDS:
        c.fail("backend.type", f"unknown backend {kind!r}; {_suggest(str(kind), list(BACKENDS))}")
    if kind == "postgres":
        for key in _DUCKDB_ONLY:
            if key in body:
                c.fail(f"backend.{key}", "applies to the duckdb backend only; PostgreSQL's own settings "
                       "(work_mem, max_parallel_workers_per_gather) bound its statements")
        if "dsn" not in body:
            c.fail("backend.dsn", "missing: the PostgreSQL connection string (user, host, port, dbname)")
            return BackendConfig("postgres", Path())
        return BackendConfig("postgres", Path(), _postgres_dsn(c, body))
    resources = _check_duckdb_resources(c, body, ram)
    if "path" not in body:
        c.fail("backend.path", "missing: the DuckDB database file to serve")
        return BackendConfig(str(kind), Path(), **resources)
    return BackendConfig(str(kind), c.file(body["path"], "backend.path"), **resources)


def _check_limits(c: _Checker, doc: Any, backend: BackendConfig, ram: int) -> Limits:
    body = c.mapping(doc or {}, "limits", ("max_statement_length", "max_nesting_depth", "max_memory",
                                           "auth_delay", *connection_limits.KEYS))
    length = _size(c, "limits.max_statement_length", body.get("max_statement_length"), DEFAULT_LIMITS.max_length)
    if not 1024 <= length <= 1 << 30:
        c.fail("limits.max_statement_length", f"expected from 1kB to 1GB, got {body.get('max_statement_length')!r}")
    depth = body.get("max_nesting_depth", DEFAULT_LIMITS.max_depth)
    if not isinstance(depth, int) or isinstance(depth, bool) or not 10 <= depth <= MAX_NESTING_DEPTH:
        c.fail("limits.max_nesting_depth", f"expected a whole number from 10 to {MAX_NESTING_DEPTH}, got {depth!r}")
        depth = DEFAULT_LIMITS.max_depth
    max_memory = _size(c, "limits.max_memory", body.get("max_memory"),
                       default_max_memory(ram, backend.memory_limit))
    if max_memory and backend.kind == "duckdb" and max_memory <= backend.memory_limit:
        c.fail("limits.max_memory", f"{max_memory >> 20}MB leaves no room above backend.memory_limit "
               f"({backend.memory_limit >> 20}MB); raise it, lower backend.memory_limit, or use 0 to turn the guard off")
    elif max_memory and max_memory < 256 << 20:
        c.fail("limits.max_memory", f"expected at least 256MB (or 0: no guard), got {body.get('max_memory')!r}")
    return Limits(StatementLimits(length, depth), max_memory, connection_limits.parse(body, c.fail),
                  _check_auth_delay(c, body.get("auth_delay")))


def _check_auth_delay(c: _Checker, value: Any) -> int:
    if value is None:
        return DEFAULT_AUTH_DELAY_MS
    try:
        ms = parse_duration_ms(value)
    except ValueError as exc:
        c.fail("limits.auth_delay", f"expected a duration such as 500ms or 1s, got {value!r}: {exc}")
        return DEFAULT_AUTH_DELAY_MS
    if ms > MAX_AUTH_DELAY_MS:
        c.fail("limits.auth_delay", f"expected at most {format_duration_ms(MAX_AUTH_DELAY_MS)} (a failed "
               f"login holds its connection that long), got {value!r}")
    return ms


_QUOTED = re.compile(r"""\s*('[^']*'|"[^"]*")""")


def _unquote_file_text(problem: str) -> str:
    """PyYAML's message without the pieces of the file it quotes (a tag, an alias, a
    character); quoted punctuation (',' or ']') and token kinds ('<stream end>') are grammar."""
    def keep(match: re.Match[str]) -> str:
        quoted = match.group(1)[1:-1]
        return match.group(0) if quoted.startswith("<") or not re.search(r"\w", quoted) else ""
    return _QUOTED.sub(keep, problem)


def _duplicate_keys(node: yaml.Node, path: str, seen_nodes: set[int]) -> list[str]:
    """Every mapping key declared twice: PyYAML silently keeps the last, so a user
    declared masked, then admin, would be admin."""
    if id(node) in seen_nodes:  # an alias: checked where its anchor is
        return []
    seen_nodes.add(id(node))
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` exists to be overridden
                continue
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            here = f"{path}.{name}" if path else name
            if isinstance(key, yaml.ScalarNode) and name in lines:
                problems.append(f"{here}: declared twice (lines {lines[name]} and {key.start_mark.line + 1}); "
                                "keep one")
            lines.setdefault(name, key.start_mark.line + 1)
            problems += _duplicate_keys(value, here, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, f"{path}[{i}]", seen_nodes)
    return problems


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """Where and what, never the text: the file may be a private key or /etc/shadow."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = _unquote_file_text(getattr(exc, "problem", None) or "")
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{path}: not valid YAML{where}" + (f": {problem}" if problem else "")


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not a YAML file: not UTF-8 text (byte {exc.start})"]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicates = _duplicate_keys(node, "", set())
        if duplicates:
            raise ConfigError(duplicates)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_error(path, exc)]) from None
    finally:
        loader.dispose()


def load_config(path: str | Path) -> Config:
    path = Path(path)
    doc = _read_yaml(path)
    if not isinstance(doc, dict) or not set(doc) & set(TOP_KEYS):
        # Whatever file this is, none of it is shown.
        raise ConfigError([f"{path}: not an anonproxy configuration: expected a YAML mapping with some of "
                           f"the keys {', '.join(TOP_KEYS)}"])
    c = _Checker(path.resolve().parent)
    top = c.mapping(doc, "(top)", TOP_KEYS)
    host, port = DEFAULT_LISTEN
    if "listen" in top:
        try:
            host, port = parse_listen(top["listen"])
        except ValueError as exc:
            c.fail("listen", str(exc))
    tls = _check_tls(c, top["tls"]) if "tls" in top else None
    ram = system_memory()
    backend = _check_backend(c, top.get("backend"), ram)
    limits = _check_limits(c, top.get("limits"), backend, ram)
    roles = _check_roles(c, top.get("roles") or {})
    users = _check_users(c, top.get("users") or {}, roles, tls, _tls_roles(c, top.get("roles"), tls))
    token_key = _check_tokenization(c, top.get("tokenization"), roles)
    database = top.get("database", "postgres")
    if not isinstance(database, str) or not database:
        c.fail("database", f"expected a database name, got {database!r}")
    ledger = _check_ledger(c, top.get("ledger"), path)
    if c.problems:
        raise ConfigError(c.problems)
    return Config(host, port, str(database), tls, backend, users, roles, token_key, limits, ledger)


def _check_ledger(c: _Checker, value: Any, config_path: Path) -> str:
    """Where dp roles' budgets are kept: by default a SQLite file beside the config."""
    if value is None:
        return str(config_path.resolve().with_suffix(".budget.sqlite"))
    if not isinstance(value, str) or not value:
        c.fail("ledger", f"expected a file path or a postgresql:// DSN, got {type(value).__name__}")
        return ""
    if value.startswith(("postgresql://", "postgres://")):
        return value
    return str(c.file(value, "ledger", must_exist=False))
