"""The memory guard: no statement may grow the proxy past limits.max_memory.

DuckDB's memory_limit bounds its buffer manager, not the strings and lists a
function builds row by row: `repeat(city, 100000000)` over a table grew the
process past 8 GB with memory_limit at 1 GB (measured). So a thread samples the
resident set every 50 ms and, while statements run and it is over the limit:

1. stops every statement in flight (they fail with 53200, as PostgreSQL's
   backends do when an allocation fails; which one allocated cannot be told);
2. if it still grows by an eighth of the limit, caps the address space
   (RLIMIT_AS) just above what is mapped, so the next large allocation fails
   inside DuckDB, which reports it as out of memory. An interrupt is only seen
   between vectors of 2048 rows, and one vector of such strings is gigabytes;
   the cap is what bounds that case. Python's own allocations may fail while it
   holds, so it is lifted within a second, or as soon as nothing runs.

Freed memory is not always given back to the system; when idle the guard asks
malloc to return it, and measures the limit from what is left (at most half
the limit above it), so memory the process merely keeps does not fail every
later statement.
"""
from __future__ import annotations

import ctypes
import logging
import os
import resource
import threading
import time
from pathlib import Path

from proxy.running import MEMORY, Registry

log = logging.getLogger("anonproxy.limits")

_PAGE = os.sysconf("SC_PAGE_SIZE")
INTERVAL = 0.05  # seconds between samples
HEADROOM = 256 << 20  # room above the mapped size while the address space is capped
MAX_CAP_SECONDS = 1.0


def system_memory() -> int:
    """Physical memory, or the cgroup's limit when that is lower (containers)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_duckdb_memory_limit(ram: int) -> int:
    """DuckDB's buffer manager: a quarter of memory, at most 4 GiB."""
    return min(4 << 30, ram // 4)


def default_max_memory(ram: int, backend_limit: int) -> int:
    """The whole process: the backend's buffers plus 2 GiB for everything else,
    at most 90% of memory, so the proxy fails statements before the kernel kills it."""
    return min(backend_limit + (2 << 30), ram * 9 // 10)


_LIBC = ctypes.CDLL(None)


def _trim() -> None:
    trim = getattr(_LIBC, "malloc_trim", None)  # glibc: return freed heap pages to the system
    if trim is not None:
        trim(0)


class MemoryWatchdog:
    def __init__(self, limit: int, registry: Registry, interval: float = INTERVAL) -> None:
        self.limit = limit
        self.slack = limit // 8
        self.registry = registry
        self.interval = interval
        self._stop = threading.Event()
        self._fd = -1  # /proc/self/statm, opened once: sampling must allocate next to nothing
        self._capped: tuple[int, int] | None = None  # the limits to restore
        self._thread = threading.Thread(target=self._loop, name="anonproxy-memory", daemon=True)

    def start(self) -> None:
        self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._uncap()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def sample(self) -> tuple[int, int]:
        """(mapped, resident) bytes."""
        size, resident = os.pread(self._fd, 128, 0).split()[:2]
        return int(size) * _PAGE, int(resident) * _PAGE

    def trigger(self, idle: int) -> int:
        """The resident size at which statements are stopped, given the size when last idle."""
        return min(max(self.limit, idle + self.slack), self.limit + 4 * self.slack)

    def _loop(self) -> None:
        idle = 0  # resident size when nothing last ran, after trimming
        capped_at = 0.0
        warned = trimmed = False
        while not self._stop.wait(self.interval):
            try:
                mapped, resident = self.sample()
                if not len(self.registry):
                    self._uncap()
                    if resident > self.limit and not trimmed:
                        _trim()
                        trimmed = True
                        mapped, resident = self.sample()
                    idle, warned = resident, False
                    continue
                trimmed = False
                trigger = self.trigger(idle)
                if resident > trigger:
                    self.registry.stop_all(MEMORY)
                    if resident > trigger + self.slack and self._capped is None:
                        self._cap(mapped)
                        capped_at = time.monotonic()
                    if not warned:
                        warned = True
                        log.warning("memory %d MB is over limits.max_memory (%d MB): stopping statements",
                                    resident >> 20, self.limit >> 20)
                elif self._capped is not None:
                    self._uncap()
                if self._capped is not None and time.monotonic() - capped_at > MAX_CAP_SECONDS:
                    self._uncap()
            except MemoryError:
                continue  # the address-space cap holds; the next sample retries
            except Exception:  # the guard must outlive any one sample
                log.exception("memory guard: sample failed")

    def _cap(self, mapped: int) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = mapped + HEADROOM
        if soft != resource.RLIM_INFINITY:  # never loosen an operator's own ulimit -v
            limit = min(limit, soft)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        self._capped = (soft, hard)

    def _uncap(self) -> None:
        if self._capped is not None:
            resource.setrlimit(resource.RLIMIT_AS, self._capped)
            self._capped = None
