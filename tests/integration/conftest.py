"""A real anonproxy server, started as a user starts it, for the client tests."""
from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy.wire.scram import make_verifier

ROOT = Path(__file__).resolve().parents[2]
DEMO_DB = ROOT / "examples" / "data" / "demo.duckdb"
PASSWORDS = {"admin": "admin-pw", "analyst": "analyst-pw", "reporter": "reporter-pw", "dashboard": "dashboard-pw",
             "partner": "partner-pw"}
# Beside the demo's roles, one for the tests: a partner application that may read one
# public table as stored (the demo's dashboard played this part before dp mode).
TEST_ROLES = """
  partner:
    mode: raw
    tables: [cell_towers]
"""
DEMO_POLICY = ROOT / "policies" / "demo.yaml"


@dataclass(frozen=True)
class ProxyServer:
    host: str
    port: int
    database: str
    process: subprocess.Popen
    db_path: Path

    def dsn(self, user: str = "admin", password: str | None = None, **extra: str) -> str:
        password = PASSWORDS[user] if password is None else password
        query = "&".join(f"{k}={v}" for k, v in extra.items())
        return (f"postgresql://{user}:{password}@{self.host}:{self.port}/{self.database}"
                + (f"?{query}" if query else ""))

    def alive(self) -> bool:
        return self.process.poll() is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _output_of(process: subprocess.Popen) -> str:
    log = getattr(process, "log_path", None)
    if log is not None:
        return Path(log).read_text(errors="replace")
    return process.stderr.read() if process.stderr else ""


def wait_for_port(host: str, port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"anonproxy exited early:\n{_output_of(process)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("anonproxy did not start listening")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """The demo database `make demo` builds; built here if this run has none."""
    if DEMO_DB.exists():
        return DEMO_DB
    spec = importlib.util.spec_from_file_location("build_demo", ROOT / "examples" / "build_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    module.build(path)
    return path


def demo_roles() -> str:
    """The roles of policies/demo.yaml, verbatim: the tests hold the demo to its contract."""
    text = DEMO_POLICY.read_text()
    return text[text.index("\nroles:"):]


def with_role_settings(roles: str, settings: dict[str, dict[str, str]]) -> str:
    """The demo roles text with extra keys (e.g. statement_timeout) added to named roles;
    every existing line is kept as it is."""
    for role, keys in settings.items():
        head = f"\n  {role}:\n"
        assert head in roles, f"no role {role} in the demo policy"
        start = roles.index(head) + len(head)
        following = re.search(r"\n  \S", roles[start:])
        block = roles[start:start + following.start()] if following else roles[start:]
        for key in keys:  # YAML would silently keep the demo's own value
            assert f"\n    {key}:" not in "\n" + block, f"the demo's {role} already sets {key}"
        lines = "".join(f"    {k}: {v}\n" for k, v in keys.items())
        roles = roles.replace(head, head + lines, 1)
    return roles


def write_config(directory: Path, db: Path | str, extra: str = "", key: bytes | None = None,
                 role_settings: dict[str, dict[str, str]] | None = None) -> Path:
    """A config serving the demo roles; `db` is a DuckDB file or a postgresql:// DSN;
    `role_settings` adds keys to demo roles, `extra` appends top-level YAML."""
    users = "\n".join(f'  {u}: {{role: {u}, password: "{make_verifier(p)}"}}' for u, p in PASSWORDS.items())
    backend = (f'{{type: postgres, dsn: "{db}"}}' if str(db).startswith("postgresql://")
               else f'{{type: duckdb, path: "{db}"}}')
    key_file = directory / "token.key"
    key_file.write_text((key or b"test-key-0123456789abcdef0123456789abcdef").hex())
    key_file.chmod(0o600)  # a key readable by others is refused
    config = directory / "proxy.yaml"
    config.write_text(f"""
database: demo
backend: {backend}
tokenization: {{key_file: "{key_file}"}}
users:
{users}
{with_role_settings(demo_roles(), role_settings or {}).rstrip()}
{TEST_ROLES}
{extra}""")
    return config


def start_proxy(config: Path, port: int | None = None) -> tuple[subprocess.Popen, int]:
    port = port or free_port()
    # Output to a file: a pipe nobody reads fills at 64 KB (failed logins are logged) and freezes the proxy.
    log_path = config.parent / f"proxy-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    process.log_path = log_path  # type: ignore[attr-defined]
    wait_for_port("127.0.0.1", port, process)
    return process, port


def stop_proxy(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def proxy(tmp_path_factory, demo_db) -> ProxyServer:
    config = write_config(tmp_path_factory.mktemp("proxy"), demo_db)
    process, port = start_proxy(config)
    yield ProxyServer("127.0.0.1", port, "demo", process, demo_db)
    stop_proxy(process)


@pytest.fixture(scope="session")
def pg_demo(tmp_path_factory, demo_db):
    """A real PostgreSQL server holding the demo data; yields the read-only role's DSN."""
    from tests import pg_server
    try:
        server = pg_server.start()
    except pg_server.CannotStart as exc:
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    try:
        import psycopg
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE demo")
        spec = importlib.util.spec_from_file_location("load_demo_postgres", ROOT / "examples" / "load_demo_postgres.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.load(server.dsn(dbname="demo"), demo_db, "anonproxy_reader")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_proxy(tmp_path_factory, pg_demo) -> ProxyServer:
    """anonproxy serving the demo roles from PostgreSQL, logged in as the read-only role."""
    config = write_config(tmp_path_factory.mktemp("pgproxy"), pg_demo.dsn("anonproxy_reader", "demo"))
    process, port = start_proxy(config)
    yield ProxyServer("127.0.0.1", port, "demo", process, Path(pg_demo.dsn(dbname="demo")))
    stop_proxy(process)
