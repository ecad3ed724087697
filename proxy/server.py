"""The asyncio server: accept connections, hand each to a Session, route cancels."""
from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from proxy.backends.base import Backend, BackendError
from proxy.backends.duckdb import DuckDBBackend
from proxy.backends.postgres import PostgresBackend
from proxy.catalog.stores import CatalogStores
from proxy.config import Config, ConfigError, User
from proxy.connection_limits import ConnectionLimits
from proxy.dp.ledger import Ledger, open_ledger
from proxy.errors import Fatal
from proxy.event_loop import QuietExceptionHandler, raise_open_file_limit, share_the_interpreter
from proxy.policy.schema_check import check_roles
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.parse import set_limits
from proxy.rewrite.pipeline import PlanCache
from proxy.running import Registry
from proxy.session import Session
from proxy.tls import server_context
from proxy.settings import Settings
from proxy.watchdog import MemoryWatchdog
from proxy.wire.messages import MessageLimits

log = logging.getLogger("anonproxy.server")


def open_backend(config: Config) -> Backend:
    """The backend, after checking every policy against its real schema."""
    if config.backend.kind == "postgres":
        try:
            backend: Backend = PostgresBackend(config.backend.dsn)
        except BackendError as exc:
            raise ConfigError([f"backend: {exc}"]) from None
    else:
        b = config.backend
        backend = DuckDBBackend(b.path, memory_limit=b.memory_limit, threads=b.threads,
                                temp_directory=b.temp_directory, max_temp_directory_size=b.max_temp_directory_size)
    problems = check_roles(config.roles, backend.table_columns())
    if problems:
        backend.close()
        raise ConfigError(problems)
    return backend


def _start_all_threads(executor: ThreadPoolExecutor, n: int) -> None:
    """Start the pool's threads now: while the memory guard caps the address
    space, a new thread (8 MB of stack) could not start."""
    barrier = threading.Barrier(n + 1)
    for _ in range(n):
        executor.submit(barrier.wait)
    barrier.wait()


def _workers(limits: ConnectionLimits) -> int:
    """One thread per session that may be logged in, plus room for cursor closes: a
    session runs one backend call or plan at a time, so no session ever waits for
    a thread another holds, and slow statements cannot starve the rest."""
    return limits.max_connections + 8


class Server:
    def __init__(self, config: Config, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.limits = config.limits.connections
        self.message_limits = MessageLimits(statement=config.limits.statement.max_length,
                                            bind=self.limits.max_message)
        self.plans = PlanCache()
        self.catalogs = CatalogStores(backend)
        workers = _workers(self.limits)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backend")
        _start_all_threads(self.executor, workers)
        set_limits(config.limits.statement)
        self.running = Registry()  # every statement in flight, for the memory guard
        self.watchdog = (MemoryWatchdog(config.limits.max_memory, self.running)
                         if config.limits.max_memory else None)
        self.ssl_context = server_context(config.tls)
        self.secret = config.auth_secret  # stable: unknown users' mock salts survive restarts
        self.sessions: dict[int, Session] = {}
        self.logging_in: dict[Session, None] = {}  # accepted, not yet logged in; oldest first
        self.logged_in = 0
        self.per_user: Counter[str] = Counter()  # logged-in sessions per user
        self.extra_cursors = 0  # backend cursors beyond each session's own, all sessions
        self._next_pid = secrets.randbelow(1 << 20) + 1000
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._views: dict[tuple[str, str, str], str] = {}  # built policy views, shared by sessions
        # The dp budget ledger, opened at start so a bad path fails at once, not at a query.
        self.ledger: Ledger | None = (open_ledger(config.ledger)
                                      if any(r.mode == "dp" for r in config.roles.values()) else None)

    def rewrite_context(self, user: User, settings: Settings, pid: int) -> RewriteContext:
        return RewriteContext(role=self.config.roles[user.role], user=user.name,
                              database=self.config.database, tables=self.backend.table_columns(),
                              dialect=self.backend.name, setting=settings.get, backend_pid=pid,
                              token_key=self.config.token_key, views=self._views,
                              fixed_keys=self.backend.primary_keys() if self.backend.schema_fixed else {})

    async def start(self, host: str, port: int) -> asyncio.Server:
        raise_open_file_limit()
        share_the_interpreter()
        asyncio.get_running_loop().set_exception_handler(QuietExceptionHandler())
        self._server = await asyncio.start_server(self._accept, host, port, limit=1 << 20)
        if self.watchdog is not None:
            self.watchdog.start()
        return self._server

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._next_pid += 1
        if len(self.logging_in) >= self.limits.max_pending_logins:
            # Full of sockets that have not logged in: drop the one waiting longest, so
            # idle or slow connections can never lock out a client that logs in promptly.
            oldest = next(iter(self.logging_in))
            self.logging_in.pop(oldest)
            oldest.abort_login()
        session = Session(self, reader, writer, self._next_pid)
        self.sessions[session.process_id] = session
        self.logging_in[session] = None
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await session.run()
        finally:
            self._tasks.discard(task)

    def admit(self, session: Session) -> None:
        """A session that authenticated takes one of max_connections, and one of its
        user's own max_connections, or is refused as PostgreSQL refuses it."""
        self.logging_in.pop(session, None)
        if self.logged_in >= self.limits.max_connections:
            raise Fatal("53300", "sorry, too many clients already")
        own_limit = self.config.users[session.user].max_connections
        if own_limit is not None and self.per_user[session.user] >= own_limit:
            raise Fatal("53300", f'too many connections for role "{session.user}"',
                        hint=f"users.{session.user}.max_connections allows {own_limit}.")
        self.logged_in += 1
        self.per_user[session.user] += 1
        session.admitted = True

    def forget(self, session: Session) -> None:
        self.sessions.pop(session.process_id, None)
        self.logging_in.pop(session, None)
        if session.admitted:
            session.admitted = False
            self.logged_in -= 1
            self.per_user[session.user] -= 1

    def cancel(self, process_id: int, secret_key: int) -> None:
        session = self.sessions.get(process_id)
        if session is not None and secrets.compare_digest(
                session.secret_key.to_bytes(4, "big"), (secret_key & 0xFFFFFFFF).to_bytes(4, "big")):
            log.info("session %d: cancel requested", process_id)
            session.cancel()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions.values()):
            session.terminate()
        if self._tasks:  # let each session finish its own clean-up
            await asyncio.wait(self._tasks, timeout=5)
        self.executor.shutdown(wait=True, cancel_futures=True)
        if self.watchdog is not None:
            self.watchdog.stop()
        self.catalogs.close()
        self.backend.close()
        if self.ledger is not None:
            self.ledger.close()


async def serve_forever(config: Config, host: str, port: int,
                        ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled (Ctrl-C or SIGTERM), then close everything cleanly."""
    server = Server(config, open_backend(config))
    await server.start(host, port)
    log.info("listening on %s:%d", host, server.port)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
