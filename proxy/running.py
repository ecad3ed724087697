"""Statements in flight, and stopping them: the client's cancel request, the
role's statement timeout, the memory guard and the client's own disconnection all
end a statement the same way, and the client learns which one did (57014 or 53200).

A backend statement is stopped through its cursor (DuckDB interrupt, a
PostgreSQL cancel request). Planning is pure Python in a worker thread, stopped
by raising an exception in that thread at its next bytecode.
"""
from __future__ import annotations

import ctypes
import logging
import queue
import threading
from typing import Any, Callable

from proxy.backends.base import BackendError

log = logging.getLogger("anonproxy.limits")

USER, TIMEOUT, MEMORY, GONE = "user", "timeout", "memory", "gone"


def stop_error(reason: str) -> BackendError:
    """What the client reads when `reason` stopped its statement."""
    if reason == MEMORY:
        return BackendError(
            "out of memory", "53200",
            detail="anonproxy's memory use passed its limit (limits.max_memory) while this statement ran.",
            hint="Ask for less at once: aggregate or filter in the statement, return fewer or smaller values.")
    if reason == TIMEOUT:
        return BackendError("canceling statement due to statement timeout", "57014")
    if reason == GONE:  # no one reads it: the connection is gone
        return BackendError("connection to client lost", "08006")
    return BackendError("canceling statement due to user request", "57014")


class Running:
    """One statement in flight. `stop` may be called from any thread, more than
    once; the first reason wins. The cancel itself runs on the registry's
    canceller thread: a PostgreSQL cancel request is a network round trip, and
    neither the event loop nor the memory guard may wait for it."""

    def __init__(self, cancel: Callable[[], None], submit: Callable[[Callable[[], None]], None]) -> None:
        self._cancel = cancel
        self._submit = submit
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.cancelling = False  # until the cancel has been delivered: the cursor must not run anything else

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            self.cancelling = True
        self._submit(self._run_cancel)

    def _run_cancel(self) -> None:
        try:
            self._cancel()
        except Exception:  # the statement may have ended meanwhile; nothing to stop then
            log.debug("cancel failed", exc_info=True)
        finally:
            self.cancelling = False

    def error(self) -> BackendError | None:
        return None if self.reason is None else stop_error(self.reason)


class Registry:
    """Every statement in flight in the server, and the one thread that cancels
    them (started up front: while the memory guard caps the address space, no
    new thread could start)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[Running] = set()
        self._cancels: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._canceller, name="anonproxy-cancel", daemon=True).start()

    def _canceller(self) -> None:
        while True:
            self._cancels.get()()

    def running(self, cancel: Callable[[], None]) -> Running:
        """A new statement in flight, registered until `discard`."""
        running = Running(cancel, self._cancels.put)
        with self._lock:
            self._running.add(running)
        return running

    def discard(self, running: Running) -> None:
        with self._lock:
            self._running.discard(running)

    def __len__(self) -> int:
        return len(self._running)

    def stop_all(self, reason: str) -> int:
        with self._lock:
            victims = list(self._running)
        for running in victims:
            running.stop(reason)
        return len(victims)


class _Stop(BaseException):
    """Raised inside a planning thread; a BaseException so that no `except Exception` swallows it."""


class Stopped(Exception):
    """Planning was stopped; the Running object says why."""


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    # None clears an exception set but not yet raised.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               None if exc is None else ctypes.py_object(exc))


class Interruptible:
    """Runs one call in a worker thread so that another thread can stop it.

    The exception can arrive at any bytecode, including just after the call
    returned: every step after the call sits inside a handler that retries, and
    the thread is unregistered (with any pending exception cleared) under the
    same lock `interrupt` takes, so no exception can leak into whatever the
    pooled thread runs next.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: int | None = None
        self._stopped = False

    def interrupt(self) -> None:
        with self._lock:
            self._stopped = True
            if self._thread is not None:
                _raise_in(self._thread, _Stop)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        # No calls inside the handlers: CPython delivers the exception at call
        # boundaries, and a handler is not covered by its own try.
        stopped = Stopped()
        outcome: tuple[bool, Any] = (False, stopped)
        try:
            with self._lock:
                if self._stopped:
                    raise _Stop
                self._thread = threading.get_ident()
            outcome = (True, fn(*args))
        except _Stop:
            outcome = (False, stopped)
        except BaseException as exc:  # re-raised below, once unregistered
            outcome = (False, exc)
        while True:
            try:
                with self._lock:
                    self._thread = None
                    _raise_in(threading.get_ident(), None)
                break
            except _Stop:
                outcome = (False, stopped)
        ok, value = outcome
        if ok:
            return value
        raise value
