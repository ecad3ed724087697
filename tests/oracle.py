"""The raw-data oracle: reads the demo database directly and judges what a role
received through the proxy.

Two judges, one client:

* `Oracle.judge(answer, sql)` (judge 1) scans *everything* that came back for
  a statement: every value of every row (nested lists, dicts and JSON
  included), every column name of the result description, every field of an
  error (message, detail, hint, context, internal query, ...) and every notice.
  It flags, per role:

  - every role: full names, emails, full phone numbers, exact birth dates
    (1 January excepted: that is also what the year generalization returns),
    5-digit zips; the tokenization key, its HMAC pads (`pads(key)`) and any
    16-hex-digit piece of them, in any case; backend internals (the demo
    database's file path, the checkout's path, 'duckdb', 'sqlite_*',
    'CREATE TABLE' / 'CREATE VIEW' text, '__anonproxy' names, the backend's
    login role, the token SQL 'sha256(' / 'unhex(' / 'decode(' / 'encode(' /
    'convert_to('), Python tracebacks, error fields naming the backend's C source
    (PostgreSQL's file and routine); the names of columns and tables hidden from the role.
    Echo: internal markers and hidden names are exempt when the client's own statement
    contains the same word ('SELECT '__anonproxy_view_customers'' gets its literal back);
    in column names, error fields and notices, which may quote the statement, a protected
    value the statement itself contains is exempt too (the client wrote it). In row
    values protected data is never exempt, except numbers inside text.
  - analyst (masked, k=5): exact incomes (integers that are raw incomes and not
    multiples of 10,000, the bin width; in text as bare numbers too; not in a column of
    20 or more integers of which fewer than half are incomes, or which is an unbroken
    arithmetic progression: a row number, a series or a count meets incomes by chance),
    exact call times (the view has weeks), and exact signup dates (the view has years;
    a January 1 is not flagged). Births, signups, zips and incomes are the analyst's
    only values that differ from person to person, so a customer outside the k-filter
    shows through them or through judge 2.
  - reporter (aggregate, k=10): any customer token (a released token is one
    person's row), any single cell (list, dict, JSON or text) holding three or
    more raw incomes (a dump: json_object_agg, array_agg, string_agg, ...),
    exact call timestamps (seconds not zero: no grouping or truncation yields
    them), 'annual_income' etc. are raw for it, so plain income values are
    judge 2's business.
  - partner (raw, cell_towers only): every customer value, incomes, signup
    dates, call timestamps, tokens, and the names of the other tables and their
    private columns.
  - dashboard (dp): names, emails, phones, zips (hidden), tokens, exact birth
    and signup dates and call timestamps (no date or second is shared by enough
    people to clear a noisy threshold), and the hidden columns' names. Its
    numbers are noisy aggregates by design: judge 2 looks for the person's income.

  What judge 1 does not catch: a value the role may see that *combined* with
  the statement reveals more (a count that answers a yes/no question about one
  person, a row that exists only because a hidden condition held); numbers in
  non-integer types for the analyst (an average of bins can land on a raw
  income); values re-encoded by the statement (hex, arithmetic, reversed
  strings). The pair checks of the test suites (`Answer.outcome()` compared for
  two statements that differ only in a hidden fact) and judge 2 cover the first; the others are the reason the construction, not the
  oracle, must be airtight.

* `Oracle.singled_out(answer, sql, targets)` (judge 2, for aggregate mode): the
  test names the people its statement singles out (it built the predicate from
  the raw data, and `RawData.matching` confirms the predicate selects exactly
  them); any numeric result (int, float, Decimal, or a number in text, error
  text included) equal to a target's raw income is a finding. False positives
  need a legitimate aggregate over at least k people to equal the target's
  income exactly; targets are chosen with unique incomes (the singled-out people also
  not multiples of 1,000), which makes that improbable, and such a coincidence would repeat
  identically on every run (fixed data, fixed statements), so it can be looked
  at rather than flake. It does not catch an income released in another form
  (income / 100, income + 1, a bin), a binary search over many statements (the
  pair checks cover that: each step's outcome must not depend on the value),
  or differencing across two answers, which aggregate mode does not claim to
  prevent.

`Client` runs statements on one reused connection and records an `Answer`:
names, rows, the error's SQLSTATE and fields, notices, time, whether the
connection dropped and whether `SELECT 1` still answers afterwards.
"""
from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb
import psycopg

from proxy.policy.tokens import pads, reference_token

ROOT = Path(__file__).resolve().parents[1]
TEST_KEY = b"test-key-0123456789abcdef0123456789abcdef"  # the key tests/integration/conftest.write_config uses
ANALYST_K, REPORTER_K = 5, 10
SEVER_AFTER = 10.0  # seconds after the watchdog's cancel request before the client closes the socket itself

# A clear refusal: what the policy forbids (42501, 0A000), what does not exist for the role
# (42P01, 42703, 42883), what does not parse (42601), what is too deep (54001). Also:
# 42P19, PostgreSQL's own answer to a WITH RECURSIVE whose body refers to itself without a
# UNION (what PostgreSQL scoping makes of the CTEs), and 42602/42939, a name the
# proxy reserves for itself (PostgreSQL words reserved prefixes such as pg_ as 42939).
REFUSALS = frozenset({"42501", "0A000", "42P01", "42703", "42883", "42601", "54001", "42P19", "42602", "42939"})

EMAIL = re.compile(r"[\w.+-]+@[\w.-]+")
PHONE = re.compile(r"\+1-\d{3}-555-01\d{2}")
NAME = re.compile(r"[A-Z][a-z]+ [A-Z][A-Za-z]+")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
HEX_RUN = re.compile(r"[0-9a-fA-F]{16,}")
QUOTED_ZIP = re.compile(r"""(?<![0-9A-Za-z])(\d{5})(?![0-9A-Za-z])""")
NUMBER = re.compile(r"(?<![0-9A-Za-z.])(\d+)(?:\.0+)?(?![0-9A-Za-z])")
# Columns whose integers are not incomes whatever they equal: ids, durations, and counts
# (count(*) of a group of 52,400 rows equalled someone's income in a generated statement).
BENIGN_NUMBERS = frozenset({"call_id", "cell_id", "duration_s", "customer_id", "count"})

# Words that name the backend or the proxy's own machinery; exempt when the client wrote the same word.
MARKERS = ("__anonproxy", "duckdb", "sqlite_", "anonproxy_reader", "pg_temp_", "sqlglot")
PHRASES = ("create table", "create view", "create or replace", "sha256(", "unhex(", "decode(", "encode(",
           "convert_to(", "traceback (most recent call last)", "site-packages", ".py\", line")


@dataclass(frozen=True)
class Person:
    customer_id: int
    full_name: str
    email: str
    phone: str
    birth_date: dt.date
    gender: str
    zip: str
    city: str
    region: str
    segment: str
    annual_income: int
    signup_date: dt.date

    COLUMNS = ("customer_id", "full_name", "email", "phone", "birth_date", "gender", "zip", "city", "region",
               "segment", "annual_income", "signup_date")


def analyst_class(p: Person) -> tuple:
    """The demo analyst's quasi-identifiers as it receives them: (birth decade, zip3, gender, signup year)."""
    return p.birth_date.year // 10, p.zip[:3], p.gender, p.signup_date.year


class RawData:
    """The demo data as stored, read once per process, and facts derived from it."""

    def __init__(self, db_path: Path | str):
        self.path = Path(db_path)
        self.con = duckdb.connect(str(db_path), read_only=True)
        rows = self.con.execute(f"SELECT {', '.join(Person.COLUMNS)} FROM customers ORDER BY customer_id").fetchall()
        self.people = [Person(*r) for r in rows]
        self.by_id = {p.customer_id: p for p in self.people}
        self.call_times = {r[0] for r in self.con.execute("SELECT DISTINCT started_at FROM calls").fetchall()}
        groups = Counter(analyst_class(p) for p in self.people)
        self.analyst_visible = {p.customer_id for p in self.people if groups[analyst_class(p)] >= ANALYST_K}
        self.suppressed = [p for p in self.people if p.customer_id not in self.analyst_visible]
        self.income_count = Counter(p.annual_income for p in self.people)
        self.pair_count = Counter((p.signup_date, p.city) for p in self.people)

    lock = threading.Lock()

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        with self.lock:
            return self.con.execute(query, params or []).fetchall()

    def matching(self, predicate: str, table: str = "customers") -> list[int]:
        """customer_ids of the raw rows a predicate selects (the premise of a singling-out test)."""
        return [r[0] for r in self.sql(f"SELECT customer_id FROM {table} WHERE {predicate} ORDER BY 1")]

    @functools.cached_property
    def tokens(self) -> dict[int, int]:
        """integer token -> customer_id, for TEST_KEY."""
        return {int(reference_token(TEST_KEY, str(p.customer_id), integer=True)): p.customer_id for p in self.people}

    def token_of(self, person: Person) -> int:
        return int(reference_token(TEST_KEY, str(person.customer_id), integer=True))

    # People a statement can single out through columns the restricted roles see raw.
    def unique_pair_people(self, *, visible: bool | None = None) -> list[Person]:
        """People alone with their (signup_date, city), with an income nobody else has and that is not a
        multiple of 1,000 (judge 2 looks for it), and at least 200 from both edges of its 10,000 bin (the
        analyst's pair checks probe income +- 100 inside one bin); not signed up on a January 1, which
        is what the analyst's signup years look like."""
        out = []
        for p in self.people:
            if visible is not None and (p.customer_id in self.analyst_visible) != visible:
                continue
            if self.pair_count[(p.signup_date, p.city)] == 1 and self.income_count[p.annual_income] == 1 \
                    and p.annual_income % 1000 and 200 <= p.annual_income % 10000 <= 9800 \
                    and (p.signup_date.month, p.signup_date.day) != (1, 1):
                out.append(p)
        return out

    def absent_pair(self, near: Person) -> tuple[dt.date, str]:
        """A (signup_date, city) nobody has: `near`'s date in another city that exists."""
        cities = sorted({p.city for p in self.people})
        for city in cities:
            if self.pair_count[(near.signup_date, city)] == 0:
                return near.signup_date, city
        raise AssertionError("every city has a signup on that date")

    def top_earners(self, n: int = 1) -> list[Person]:
        return sorted(self.people, key=lambda p: -p.annual_income)[:n]

    def bottom_earners(self, n: int = 1) -> list[Person]:
        return sorted((p for p in self.people if self.income_count[p.annual_income] == 1),
                      key=lambda p: p.annual_income)[:n]


@functools.lru_cache(maxsize=4)
def raw_data(db_path: str) -> RawData:
    return RawData(db_path)


def pair_predicate(signup_date: dt.date, city: str, prefix: str = "") -> str:
    return f"{prefix}signup_date = DATE '{signup_date.isoformat()}' AND {prefix}city = '{city}'"


# ---------------------------------------------------------------------------------------------- answers

@dataclass
class Answer:
    sql: str
    names: list[str] = field(default_factory=list)
    rows: list[tuple] | None = None
    results: list[tuple[list[str], list[tuple]]] = field(default_factory=list)  # every result set
    sqlstate: str | None = None
    error_fields: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    dropped: bool = False      # the statement ended the connection
    usable: bool = True        # SELECT 1 answered on the same (or, if dropped, a new) connection afterwards
    timed_out: bool = False    # the test cancelled it after the client-side watchdog
    server_alive: bool = True  # a new connection still answers SELECT 1

    @property
    def ok(self) -> bool:
        return self.rows is not None

    @property
    def error(self) -> str | None:
        if self.ok:
            return None
        parts = [self.sqlstate or "(no SQLSTATE)"] + [v for v in self.error_fields.values() if v]
        return " | ".join(parts)

    @property
    def message(self) -> str:
        return self.error_fields.get("message", "") or ""

    def texts(self) -> list[str]:
        return [*self.error_fields.values(), *self.notices]

    def outcome(self, *, exact: bool = True, shape_only: bool = False) -> tuple:
        """What a pair check compares: the error's SQLSTATE, or the names and (normalized, sorted) rows;
        `shape_only` (noisy answers, which differ on every fresh release): the names alone."""
        if not self.ok:
            return ("error", self.sqlstate)
        if shape_only:
            return ("rows", tuple(self.names))
        if not exact:
            return ("rows", tuple(self.names), len(self.rows))
        return ("rows", tuple(self.names), tuple(sorted((normalize(r) for r in self.rows), key=repr)))

    def internal_problems(self) -> list[str]:
        """An internal error, a dropped connection, an unusable session, a runaway statement."""
        found = []
        if self.sqlstate and self.sqlstate.startswith("XX"):
            found.append(f"internal error {self.error}")
        if self.dropped:
            found.append(f"the statement ended the connection ({self.error})")
        if not self.usable:
            found.append("SELECT 1 did not answer on the same connection afterwards")
        if not self.server_alive:
            found.append("the server no longer accepts connections")
        if self.timed_out:
            found.append(f"ran past the test's {self.elapsed:.0f} s watchdog and was cancelled")
        return found


def normalize(value: Any) -> Any:
    """A comparable form: numbers rounded, dates as timestamps, and arrays as sorted multisets
    (array_agg and friends have no order unless asked for one; a pair must not differ by it)."""
    if isinstance(value, list):
        return tuple(sorted((normalize(v) for v in value), key=repr))
    if isinstance(value, tuple):
        return tuple(normalize(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), normalize(v)) for k, v in value.items()))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        f = float(value)
        return round(f, 6) if abs(f) < 1e12 else float(f"{f:.9e}")
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).isoformat()
    return str(value)


DIAG_FIELDS = ("message_primary", "message_detail", "message_hint", "context", "internal_query", "schema_name",
               "table_name", "column_name", "datatype_name", "constraint_name", "source_file", "source_function")


def _diag(exc: psycopg.Error) -> tuple[str | None, dict[str, str]]:
    diag = exc.diag
    fields = {}
    for name in DIAG_FIELDS:
        try:
            value = getattr(diag, name)
        except Exception:  # noqa: BLE001 - a diag field psycopg cannot decode is still not a leak
            value = None
        if value:
            fields["message" if name == "message_primary" else name] = value
    if "message" not in fields:
        fields["message"] = str(exc)
    return diag.sqlstate, fields


class Client:
    """One connection for a (server, login), reused across statements and reopened when a
    statement ends it. Every statement runs in autocommit mode, text format, unprepared."""

    def __init__(self, dsn: str, *, watchdog: float = 60.0):
        self.dsn = dsn
        self.watchdog = watchdog
        self.conn: psycopg.Connection | None = None
        self.notices: list[str] = []

    def _connect(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.close()
            self.conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=20)
            self.conn.add_notice_handler(lambda d: self.notices.append(
                " | ".join(filter(None, [d.sqlstate, d.message_primary, d.message_detail, d.message_hint]))))
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
            self.conn = None

    def run(self, sql: str, *, watchdog: float | None = None) -> Answer:
        answer = Answer(sql)
        conn = self._connect()
        self.notices = []
        fired = threading.Event()

        def cancel() -> None:
            fired.set()
            try:
                conn.cancel_safe(timeout=5)
            except Exception:  # noqa: BLE001
                pass

        def sever() -> None:  # the server did not answer the cancel either: end the socket from this side
            try:
                with socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except Exception:  # noqa: BLE001
                pass

        limit = watchdog or self.watchdog
        timer = threading.Timer(limit, cancel)
        timer.daemon = True
        severer = threading.Timer(limit + SEVER_AFTER, sever)
        severer.daemon = True
        started = time.monotonic()
        timer.start()
        severer.start()
        try:
            cur = conn.execute(sql, prepare=False)
            while True:  # every result of a multi-statement query; names and rows are the last one's
                answer.names = [d.name for d in cur.description or ()]
                answer.rows = cur.fetchall() if cur.description else []
                answer.results.append((answer.names, answer.rows))
                if not cur.nextset():
                    break
        except psycopg.Error as exc:
            answer.sqlstate, answer.error_fields = _diag(exc)
            answer.dropped = conn.closed or conn.broken
        finally:
            timer.cancel()
            severer.cancel()
            answer.elapsed = time.monotonic() - started
        answer.timed_out = fired.is_set()
        answer.notices = list(self.notices)
        answer.usable = self.probe()
        answer.server_alive = self.server_alive
        return answer

    def probe(self) -> bool:
        """SELECT 1 on the same connection. If the statement ended it, the session is not usable;
        the server must still accept a new connection (checked, and reported by `alive`)."""
        try:
            conn = self.conn
            if conn is None or conn.closed or conn.broken:
                raise psycopg.OperationalError("closed")
            return conn.execute("SELECT 1", prepare=False).fetchone() == (1,)
        except Exception:  # noqa: BLE001
            self.close()
            try:
                self.server_alive = self._connect().execute("SELECT 1", prepare=False).fetchone() == (1,)
            except Exception:  # noqa: BLE001
                self.close()
                self.server_alive = False
            return False

    server_alive = True


def run_described(dsn: str, sql: str) -> tuple[list[str], list[tuple] | None, str | None]:
    """(column names, rows, None) or ([], None, the error with its fields), on a fresh connection."""
    client = Client(dsn)
    try:
        answer = client.run(sql)
    finally:
        client.close()
    return (answer.names, answer.rows, None) if answer.ok else ([], None, answer.error)


def run(dsn: str, sql: str) -> tuple[list[tuple] | None, str | None]:
    """(rows, None) or (None, the error text with its hint and detail)."""
    _, rows, error = run_described(dsn, sql)
    return rows, error


# ---------------------------------------------------------------------------------------------- the oracle

def flatten(value: Any) -> Iterator[Any]:
    """Every scalar inside a value: list items, dict keys and values, JSON text decoded too."""
    if isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from flatten(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from flatten(k)
            yield from flatten(v)
    else:
        yield value
        if isinstance(value, str) and value[:1] in "[{" and len(value) < 5_000_000:
            try:
                decoded = json.loads(value)
            except ValueError:
                return
            if isinstance(decoded, (list, dict)):
                yield from flatten(decoded)


@functools.lru_cache(maxsize=None)
def _word_pattern(word: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(word)}\b")


def _words(text: str, marker: str) -> set[str]:
    return {m.group(0).lower() for m in re.finditer(rf"[\w$.]*{re.escape(marker)}[\w$.]*", text, re.IGNORECASE)}


class Oracle:
    """Judge 1 and judge 2 for one role; `Oracle(db)` alone is the analyst's judge of the old suites."""

    def __init__(self, db_path: Path | str, role: str | None = None, *, key: bytes = TEST_KEY,
                 internals: Iterable[str] = ()):
        self.raw = raw_data(str(db_path))
        self.role = role or "analyst"
        people = self.raw.people
        self.names = {p.full_name for p in people}
        self.emails = {p.email for p in people}
        self.phones = {p.phone for p in people}
        # Generalized values that coincide with raw ones are not leaks: Jan 1 births, incomes on a 10k edge.
        self.birth_dates = {p.birth_date for p in people if (p.birth_date.month, p.birth_date.day) != (1, 1)}
        self.zips = {p.zip for p in people}
        self.incomes = {p.annual_income for p in people if p.annual_income % 10000}
        self.tokens: dict[int, int] = {}
        self.call_times: set = set()
        self.signup_dates: set = set()
        self.hidden_words: tuple[str, ...] = ("full_name",)
        self.income_dumps = False
        if self.role == "analyst":
            self.call_times = {t for t in self.raw.call_times if (t.minute, t.second) != (0, 0)}
            # signup years only: a date that is not a January 1 is a customer's own
            self.signup_dates = {p.signup_date for p in people if (p.signup_date.month, p.signup_date.day) != (1, 1)}
        elif self.role == "reporter":
            self.incomes = set()  # raw for the reporter on purpose: exact sums and averages; see judge 2
            self.tokens = self.raw.tokens
            self.call_times = {t for t in self.raw.call_times if t.second != 0}
            self.hidden_words = ("full_name", "email", "phone")
            self.income_dumps = True
        elif self.role == "partner":
            self.incomes = {p.annual_income for p in people}
            self.tokens = self.raw.tokens
            self.call_times = set(self.raw.call_times)
            self.signup_dates = {p.signup_date for p in people}
            self.hidden_words = ("customers", "customer_id", "full_name", "birth_date", "annual_income",
                                 "signup_date", "call_id", "started_at", "duration_s")
        elif self.role == "dashboard":
            self.incomes = set()  # released values are noisy aggregates; an exact income is judge 2's business
            self.tokens = self.raw.tokens
            self.call_times = {t for t in self.raw.call_times if t.second != 0}
            self.signup_dates = {p.signup_date for p in people}
            self.hidden_words = ("full_name", "email", "phone")
        elif self.role != "admin":
            raise ValueError(f"no oracle for role {role!r}")
        ipad, opad = pads(key)
        self.secret_hex = (key.hex().lower(), ipad.lower(), opad.lower())
        self.secret_text = key.decode("latin-1").lower() if key.isascii() and key.decode().isprintable() else None
        self.paths = tuple(str(p).lower() for p in (self.raw.path.resolve(), ROOT, *internals))
        self._memo: dict[tuple[str, str], tuple[str, ...]] = {}

    @property
    def _hidden(self) -> list[tuple[str, re.Pattern]]:
        return [(w, _word_pattern(w)) for w in self.hidden_words]

    # ---- values
    def leaks(self, value: Any, column: str | None = None, sql: str = "") -> list[str]:
        """Protected values inside one value (judge 1, data part)."""
        found: list[str] = []
        for v in flatten(value):
            found += self._scalar(v, column, sql)
        return found

    def _scalar(self, value: Any, column: str | None, sql: str) -> list[str]:
        found = []
        if value is None or isinstance(value, bool):
            return found
        if isinstance(value, dt.datetime):
            if value.replace(tzinfo=None) in self.call_times:
                found.append(f"call time {value}")
            return found
        if isinstance(value, dt.date):
            if value in self.birth_dates:
                found.append(f"birth date {value}")
            if value in self.signup_dates:
                found.append(f"signup date {value}")
            return found
        if isinstance(value, int):
            if value in self.incomes and column not in BENIGN_NUMBERS and column != "(counter)":
                found.append(f"income {value}")
            if value in self.tokens:
                found.append(f"token {value} of customer {self.tokens[value]}")
            return found
        if isinstance(value, (float, decimal.Decimal, bytes, bytearray, memoryview)):
            if isinstance(value, (bytes, bytearray, memoryview)):
                return self.text_leaks(bytes(value).hex(), sql)
            return found
        text = str(value)
        if isinstance(value, str) and text in self.zips:  # zips are text; a 5-digit call id is not one
            found.append(f"zip {text}")
        return found + self.text_leaks(text, sql)

    def text_leaks(self, text: str, sql: str = "", *, echo: bool = False) -> list[str]:
        """Protected values and internals inside text: values, names, error fields, notices.
        With `echo` (column names, error fields, notices: texts that may quote the statement),
        a protected value the statement itself contains is the client's own text coming back."""
        key = (text, sql, echo)
        cached = self._memo.get(key)
        if cached is None:
            if len(self._memo) > 200_000:
                self._memo.clear()
            cached = self._memo[key] = self._text_leaks(text, sql, echo)
        return list(cached)

    def _text_leaks(self, text: str, sql: str, echo: bool) -> tuple[str, ...]:
        found = []
        lowered = text.lower()
        sql_lower = sql.lower()

        def data(kind: str, value: str) -> None:
            if not (echo and value.lower() in sql_lower):
                found.append(f"{kind} {value}")
        for e in EMAIL.findall(text):
            if e in self.emails:
                data("email", e)
        for p in PHONE.findall(text):
            if p in self.phones:
                data("phone", p)
        for n in NAME.findall(text):
            if n in self.names:
                data("name", n)
        for d in DATE.findall(text):
            try:
                day = dt.date.fromisoformat(d)
            except ValueError:
                continue
            if day in self.birth_dates:
                data("birth date", d)
            if day in self.signup_dates:
                data("signup date", d)
        for z in QUOTED_ZIP.findall(text):
            if z in self.zips and z not in sql and text != z:
                found.append(f"zip {z} in text")
        if self.incomes or self.tokens:
            sql_numbers = set(NUMBER.findall(sql))
            for n in NUMBER.findall(text):
                if n in sql_numbers or len(n) > 20:
                    continue
                number = int(n)
                if number in self.incomes and len(n) >= 4:
                    found.append(f"income {n} in text")
                if number in self.tokens:
                    found.append(f"token {n} of customer {self.tokens[number]} in text")
        # secrets: never exempt
        for run_ in HEX_RUN.findall(lowered):
            for secret in self.secret_hex:
                if any(run_[i:i + 16] in secret for i in range(len(run_) - 15)):
                    found.append("tokenization key or HMAC pad " + run_[:24] + "...")
                    break
        if self.secret_text and self.secret_text in lowered:
            found.append("tokenization key text")
        # internals: exempt when the client wrote the same word
        for marker in MARKERS:
            if marker in lowered:
                words = {w for w in _words(text, marker) if w not in sql_lower}
                if words:
                    found.append(f"internal name {sorted(words)[0]!r}")
        for phrase in PHRASES:
            if phrase in lowered and phrase not in sql_lower:
                found.append(f"backend text {phrase!r}")
        for path in self.paths:
            if path in lowered and path not in sql_lower:
                found.append(f"path {path}")
        for word, pattern in self._hidden:
            if word in lowered and pattern.search(lowered) and not pattern.search(sql_lower):
                found.append(f"hidden name {word!r}")
        return tuple(found)

    def row_leaks(self, row: tuple, names: list[str], sql: str, counters: frozenset[int] = frozenset()) -> list[str]:
        """`counters`: indexes of columns that are sequences of numbers (see `counter_columns`)."""
        found = [leak for i, (name, v) in enumerate(zip(names, row))
                 for leak in self.leaks(v, "(counter)" if i in counters else name, sql)]
        if self.income_dumps:
            incomes = self.raw.income_count
            for v in row:
                if isinstance(v, (list, tuple, dict, str)):
                    numbers = {x for x in flatten(v) if isinstance(x, int) and not isinstance(x, bool)}
                    numbers |= {int(n) for x in flatten(v) if isinstance(x, str) for n in NUMBER.findall(x)
                                if len(n) < 20}
                    hits = {n for n in numbers if n in incomes}
                    if len(hits) >= 3:
                        found.append(f"a list of {len(hits)} individual incomes, e.g. {sorted(hits)[:3]}")
        return found

    def counter_columns(self, rows: list[tuple]) -> frozenset[int]:
        """Columns of 20 or more integers of which fewer than half are raw incomes, or which are
        an unbroken arithmetic progression: a row number, a series, a count or an id, where
        equality with some income is chance. (A column that releases incomes holds mostly
        incomes, with gaps; one value singled out is judge 2's business.)"""
        if len(rows) < 20:
            return frozenset()
        incomes = self.raw.income_count
        out = set()
        for i in range(len(rows[0])):
            ints = [r[i] for r in rows if isinstance(r[i], int) and not isinstance(r[i], bool)]
            if len(ints) < 20:
                continue
            distinct = sorted(set(ints))
            steps = {b - a for a, b in zip(distinct, distinct[1:])}
            # mostly not incomes, or every value of an arithmetic progression (a series, a row
            # number): released incomes have gaps, since not every multiple of 100 is someone's
            if sum(v in incomes for v in ints) < len(ints) / 2 or (len(distinct) >= 20 and len(steps) == 1):
                out.add(i)
        return frozenset(out)

    # ---- whole answers
    def judge(self, answer: Answer, sql: str | None = None) -> list[str]:
        """Judge 1: every protected value or internal in the values, the names, the error and the notices."""
        sql = answer.sql if sql is None else sql
        found = []
        for names, rows in answer.results or [(answer.names, answer.rows or [])]:
            for name in names:
                found += [f"column name {name[:80]!r}: {leak}" for leak in self.text_leaks(name, sql, echo=True)]
            counters = self.counter_columns(rows)
            for row in rows:
                found += self.row_leaks(row, names, sql, counters)
        for text in answer.texts():
            found += [f"error/notice: {leak}" for leak in self.text_leaks(text, sql, echo=True)]
        found += [f"error field {name} names the backend's source: {answer.error_fields[name]!r}"
                  for name in ("source_file", "source_function") if name in answer.error_fields]
        return found

    def singled_out(self, answer: Answer, targets: Iterable[Person], sql: str | None = None) -> list[str]:
        """Judge 2: a numeric result equal to the raw income of a person the statement singles out."""
        sql = answer.sql if sql is None else sql
        sql_numbers = set(NUMBER.findall(sql))
        incomes = {p.annual_income: p for p in targets}
        if not incomes:
            return []
        found = []
        values = []
        for _, rows in answer.results:
            counters = self.counter_columns(rows)
            values += [v for row in rows for i, cell in enumerate(row) if i not in counters for v in flatten(cell)]
        values += [n for names, _ in answer.results for n in names] + answer.texts()
        for v in values:
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, (int, float, decimal.Decimal)):
                for income, person in incomes.items():
                    if abs(float(v) - income) < 1e-6:
                        found.append(f"income {income} of singled-out customer {person.customer_id} as {v!r}")
            elif isinstance(v, str):
                for n in NUMBER.findall(v):
                    if n not in sql_numbers and len(n) < 20 and int(n) in incomes:
                        found.append(f"income {n} of singled-out customer {incomes[int(n)].customer_id} in text")
        return found

    def scan(self, dsn: str, sql: str) -> tuple[str | None, list[str]]:
        """Run `sql` on a fresh connection: (the error or None, every finding of judge 1)."""
        client = Client(dsn)
        try:
            answer = client.run(sql)
        finally:
            client.close()
        return answer.error, self.judge(answer) + [p for p in answer.internal_problems()
                                                   if not p.startswith("internal error")]
