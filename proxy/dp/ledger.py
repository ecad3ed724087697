"""The privacy-budget ledger of `dp` roles (DESIGN.md section 4).

What it guarantees:
- A charge is durable before any byte of its answer leaves: `release` writes the charge
  and the answer in one transaction and returns the answer only after the commit
  (SQLite in WAL mode with synchronous=FULL, or PostgreSQL).
- Overspending is impossible under concurrency: `release` reads the spent total and
  writes under one lock, per file in SQLite (BEGIN IMMEDIATE) or per (role, period) in
  PostgreSQL (an advisory transaction lock), across threads, processes and proxies.
- Repeats are free and identical: the released answer is stored under (role, period,
  fingerprint); the same statement in the same period gets it back uncharged, also when
  a concurrent twin released it first. Noise is never re-seeded.
- It never holds a data value or statement text: only fingerprints (the caller's
  hashes), costs, and the stored answers, which are released answers already.
"""
from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc
TOLERANCE = 1e-9  # relative: float sums such as 3 x 0.1 must still fit a total of 0.3


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC: a budget never follows a local clock."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Period:
    key: str  # "2026-11", "2026-W48", "2026-11-23" or "window-2026-11-01+30d#3"
    starts: datetime
    resets: datetime


@dataclass(frozen=True)
class BudgetPeriod:
    """How often a role's budget resets: "day", "week" (ISO, Monday 00:00 UTC), "month"
    (calendar, UTC) or "window" (every `days` days counted from `start`)."""

    kind: str
    start: datetime | None = None
    days: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("day", "week", "month", "window"):
            raise ValueError(f"unknown budget period {self.kind!r}: day, week, month or window")
        if (self.kind == "window") != (self.start is not None) or (self.kind == "window") != (self.days is not None):
            raise ValueError("a window budget period needs start and days, the other kinds take neither")
        if self.kind == "window" and (isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1):
            raise ValueError("a window budget period lasts a whole number of days, at least one")

    def current(self, now: datetime) -> Period:
        now = _utc(now)
        midnight = datetime.combine(now.date(), time(), UTC)
        if self.kind == "day":
            return Period(f"{midnight:%Y-%m-%d}", midnight, midnight + timedelta(days=1))
        if self.kind == "week":
            starts = midnight - timedelta(days=midnight.weekday())
            year, week, _ = starts.isocalendar()
            return Period(f"{year}-W{week:02d}", starts, starts + timedelta(weeks=1))
        if self.kind == "month":
            starts = midnight.replace(day=1)
            resets = starts.replace(year=starts.year + starts.month // 12, month=starts.month % 12 + 1)
            return Period(f"{starts:%Y-%m}", starts, resets)
        return self._window(now)

    def _window(self, now: datetime) -> Period:
        assert self.start is not None and self.days is not None
        start, length = _utc(self.start), timedelta(days=self.days)
        if now < start:
            raise ValueError(f"the budget window starts {start.isoformat()}, after {now.isoformat()}")
        index = (now - start) // length
        starts = start + index * length
        label = f"{start:%Y-%m-%d}" if start.time() == time() else f"{start:%Y-%m-%dT%H:%M:%S}"
        return Period(f"window-{label}+{self.days}d#{index}", starts, starts + length)


class BudgetExceeded(Exception):
    """Refused: the release would take the role past its budget. Nothing was charged."""

    def __init__(self, spent: float, total: float, needed: float, resets: datetime) -> None:
        self.spent, self.total, self.needed, self.resets = spent, total, needed, resets
        super().__init__(f"privacy budget exceeded: {spent:g} of {total:g} spent, this query needs {needed:g}; "
                         f"the budget resets at {resets.isoformat()}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes despite the custom __init__
        return (BudgetExceeded, (self.spent, self.total, self.needed, self.resets))


@dataclass(frozen=True)
class Release:
    answer: str  # the stored answer to send
    charged: bool  # False when served from the store (a repeat, or a concurrent twin won)
    epsilon: float  # what this call charged (0.0 when not charged)
    spent: float  # the role's total spent in the period after this call
    total: float
    resets: datetime


@dataclass(frozen=True)
class Charge:
    at: datetime
    role: str
    login: str
    period: str
    fingerprint: str
    epsilon: float
    delta: float


def _fits(spent: float, needed: float, total: float) -> bool:
    return spent + needed <= total + TOLERANCE * abs(total)


def _validate(epsilon: float, delta: float, total: float) -> None:
    """NaN would slip past every comparison and a negative cost would refund budget."""
    for name, value in (("epsilon", epsilon), ("delta", delta), ("total", total)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


class Ledger(ABC):
    """The SQL both backends share; each supplies connections, its lock and its types."""

    charges, answers, totals, mark = "charges", "answers", "spent", "?"

    @abstractmethod
    def _connection(self) -> AbstractContextManager[Any]: ...  # a connection for reads

    @abstractmethod
    def _transaction(self, role: str, period: str) -> AbstractContextManager[Any]: ...  # locked; commits on exit

    def _stamp(self, moment: datetime) -> Any:
        return moment

    def _moment(self, value: Any) -> datetime:
        return _utc(value)

    def _run(self, conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return conn.execute(sql.format(c=self.charges, a=self.answers, s=self.totals).replace("?", self.mark), params)

    def _stored(self, conn: Any, role: str, period: str, fingerprint: str) -> str | None:
        row = self._run(conn, "SELECT answer FROM {a} WHERE role = ? AND period = ? AND fingerprint = ?",
                        (role, period, fingerprint)).fetchone()
        return None if row is None else row[0]

    def _spent(self, conn: Any, role: str, period: str) -> float:
        """The running total, kept beside the charges: summing them would grow with every
        release of the period (2 ms a read at 20,000 charges, several reads a release)."""
        row = self._run(conn, "SELECT epsilon FROM {s} WHERE role = ? AND period = ?", (role, period)).fetchone()
        return 0.0 if row is None else float(row[0])

    def stored(self, role: str, period: str, fingerprint: str) -> str | None:
        """The answer released earlier in this period for this statement, or None."""
        with self._connection() as conn:
            return self._stored(conn, role, period, fingerprint)

    def spent(self, role: str, period: str) -> float:
        with self._connection() as conn:
            return self._spent(conn, role, period)

    def check(self, role: str, period: Period, needed: float, total: float) -> None:
        """Raises BudgetExceeded when `needed` no longer fits; charges nothing (release re-checks)."""
        _validate(needed, 0.0, total)
        spent = self.spent(role, period.key)
        if not _fits(spent, needed, total):
            raise BudgetExceeded(spent, total, needed, period.resets)

    def release(self, *, role: str, login: str, period: Period, fingerprint: str, epsilon: float, delta: float,
                total: float, answer: str) -> Release:
        """Serve the stored answer, or refuse, or charge and store `answer`: one transaction."""
        _validate(epsilon, delta, total)
        with self._transaction(role, period.key) as conn:
            earlier = self._stored(conn, role, period.key, fingerprint)
            if earlier is not None:
                result = Release(earlier, False, 0.0, self._spent(conn, role, period.key), total, period.resets)
            else:
                spent = self._spent(conn, role, period.key)
                if not _fits(spent, epsilon, total):
                    raise BudgetExceeded(spent, total, epsilon, period.resets)
                at = self._stamp(datetime.now(UTC))
                self._run(conn, "INSERT INTO {c} (at, role, login, period, fingerprint, epsilon, delta) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)", (at, role, login, period.key, fingerprint, epsilon, delta))
                self._run(conn, "INSERT INTO {a} (role, period, fingerprint, answer, at) VALUES (?, ?, ?, ?, ?)",
                          (role, period.key, fingerprint, answer, at))
                self._run(conn, "INSERT INTO {s} (role, period, epsilon) VALUES (?, ?, ?) ON CONFLICT (role, period) "
                          "DO UPDATE SET epsilon = {s}.epsilon + excluded.epsilon", (role, period.key, epsilon))
                result = Release(answer, True, epsilon, self._spent(conn, role, period.key), total, period.resets)
        return result  # only now, after the commit

    def history(self, role: str | None = None, limit: int | None = None) -> list[Charge]:
        """Charges, newest last: never an answer."""
        sql, params = "SELECT at, role, login, period, fingerprint, epsilon, delta FROM {c}", ()
        if role is not None:
            sql, params = sql + " WHERE role = ?", (role,)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", params + (max(0, int(limit)),)
        with self._connection() as conn:
            rows = self._run(conn, sql, params).fetchall()
        return [Charge(self._moment(r[0]), r[1], r[2], r[3], r[4], float(r[5]), float(r[6])) for r in reversed(rows)]

    def roles(self) -> list[str]:
        with self._connection() as conn:
            return [r[0] for r in self._run(conn, "SELECT DISTINCT role FROM {c} ORDER BY role").fetchall()]

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {c} (id {serial} PRIMARY KEY, at {stamp} NOT NULL, role TEXT NOT NULL, "
    "login TEXT NOT NULL, period TEXT NOT NULL, fingerprint TEXT NOT NULL, epsilon {real} NOT NULL, "
    "delta {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {a} (role TEXT NOT NULL, period TEXT NOT NULL, fingerprint TEXT NOT NULL, "
    "answer TEXT NOT NULL, at {stamp} NOT NULL, PRIMARY KEY (role, period, fingerprint))",
    "CREATE INDEX IF NOT EXISTS {c}_role_period ON {c} (role, period)",
    "CREATE TABLE IF NOT EXISTS {s} (role TEXT NOT NULL, period TEXT NOT NULL, epsilon {real} NOT NULL, "
    "PRIMARY KEY (role, period))",
    # A ledger written before the running totals existed: each period's total from its charges, once.
    "INSERT INTO {s} (role, period, epsilon) SELECT role, period, SUM(epsilon) FROM {c} WHERE true "
    "GROUP BY role, period ON CONFLICT (role, period) DO NOTHING",
)


class SqliteLedger(Ledger):
    """One file; a connection per thread; BEGIN IMMEDIATE serializes every release on the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # WAL and shm files inherit the mode
        self._local, self._all, self._lock, self._closed = threading.local(), [], threading.Lock(), False
        with self._transaction("", "") as conn:
            for statement in SCHEMA:
                conn.execute(statement.format(c="charges", a="answers", s="spent", serial="INTEGER", stamp="TEXT",
                                              real="REAL"))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise ValueError("the ledger is closed")
                conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
                self._all.append(conn)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # the WAL is synced at every commit
            self._local.conn = conn
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        yield self._conn()

    @contextmanager
    def _transaction(self, role: str, period: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _stamp(self, moment: datetime) -> str:
        return moment.isoformat()

    def _moment(self, value: Any) -> datetime:
        return _utc(datetime.fromisoformat(value))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()

    def __repr__(self) -> str:
        return f"SqliteLedger({str(self.path)!r})"


class PostgresLedger(Ledger):
    """Tables anonproxy_charges, anonproxy_answers and anonproxy_spent, shared by several proxies; a connection
    per thread, reopened when broken; each release holds an advisory lock on its (role,
    period) until it commits."""

    charges, answers, totals, mark = "anonproxy_charges", "anonproxy_answers", "anonproxy_spent", "%s"
    SCHEMA_LOCK = 0x616E6F6E70726F78  # one bigint key: separate from the (int4, int4) key space

    def __init__(self, dsn: str) -> None:
        import psycopg  # only the PostgreSQL option needs it
        self._psycopg, self._dsn = psycopg, dsn
        self._local = threading.local()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        with self._locked("SELECT pg_advisory_xact_lock(%s)", (self.SCHEMA_LOCK,)) as conn:
            for statement in SCHEMA:  # concurrent CREATE IF NOT EXISTS can still collide, hence the lock
                conn.execute(statement.format(c=self.charges, a=self.answers, s=self.totals, serial="BIGSERIAL",
                                              stamp="TIMESTAMPTZ", real="DOUBLE PRECISION"))

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._psycopg.connect(self._dsn, autocommit=True)
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        yield self._conn()

    @contextmanager
    def _locked(self, lock: str, keys: tuple[int, ...]) -> Iterator[Any]:
        conn = self._conn()
        with conn.transaction():  # commits on a clean exit, rolls back on an exception
            conn.execute(lock, keys)
            yield conn

    def _transaction(self, role: str, period: str) -> AbstractContextManager[Any]:
        digest = hashlib.blake2b(f"{role}\0{period}".encode(), digest_size=8, person=b"anonproxy-ledger").digest()
        return self._locked("SELECT pg_advisory_xact_lock(%s, %s)", struct.unpack(">ii", digest))

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()

    def __repr__(self) -> str:  # never the DSN: it may carry a password
        info = self._psycopg.conninfo.conninfo_to_dict(self._dsn)
        return f"PostgresLedger({info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')})"


def open_ledger(spec: str | Path) -> Ledger:
    """A postgresql:// DSN opens the shared PostgreSQL ledger; anything else is a SQLite file."""
    if isinstance(spec, str) and spec.startswith(("postgresql://", "postgres://")):
        return PostgresLedger(spec)
    return SqliteLedger(spec)
