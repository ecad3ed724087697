"""The asyncio server: accept connections, hand each to a Session, route cancels."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from proxy.backends.base import Backend, BackendError
from proxy.backends.duckdb import DuckDBBackend
from proxy.backends.postgres import PostgresBackend
from proxy.config import Config, ConfigError, User
from proxy.policy.schema_check import check_roles
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.parse import set_limits
from proxy.rewrite.pipeline import PlanCache
from proxy.running import Registry
from proxy.session import Session
from proxy.tls import server_context
from proxy.settings import Settings
from proxy.watchdog import MemoryWatchdog

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


WORKERS = 32  # backend calls and planning in flight at once


def _start_all_threads(executor: ThreadPoolExecutor, n: int) -> None:
    """Start the pool's threads now: while the memory guard caps the address
    space, a new thread (8 MB of stack) could not start."""
    barrier = threading.Barrier(n + 1)
    for _ in range(n):
        executor.submit(barrier.wait)
    barrier.wait()


class Server:
    def __init__(self, config: Config, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.plans = PlanCache()
        self.executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="backend")
        _start_all_threads(self.executor, WORKERS)
        set_limits(config.limits.statement)
        self.running = Registry()  # every statement in flight, for the memory guard
        self.watchdog = (MemoryWatchdog(config.limits.max_memory, self.running)
                         if config.limits.max_memory else None)
        self.ssl_context = server_context(config.tls)
        self.secret = os.urandom(32)  # seeds fake SCRAM salts for unknown users
        self.sessions: dict[int, Session] = {}
        self._next_pid = secrets.randbelow(1 << 20) + 1000
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._views: dict[tuple[str, str, str], str] = {}  # built policy views, shared by sessions

    def rewrite_context(self, user: User, settings: Settings, pid: int) -> RewriteContext:
        return RewriteContext(role=self.config.roles[user.role], user=user.name,
                              database=self.config.database, tables=self.backend.table_columns(),
                              dialect=self.backend.name, setting=settings.get, backend_pid=pid,
                              token_key=self.config.token_key, views=self._views)

    async def start(self, host: str, port: int) -> asyncio.Server:
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
        session = Session(self, reader, writer, self._next_pid)
        self.sessions[session.process_id] = session
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await session.run()
        finally:
            self._tasks.discard(task)

    def forget(self, session: Session) -> None:
        self.sessions.pop(session.process_id, None)

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
        self.backend.close()


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
