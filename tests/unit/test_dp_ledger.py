"""The privacy-budget ledger on SQLite: period keys, charging, refusals that write
nothing, free identical repeats, durability across reopening and a crash, and no
overspending under threads or several processes sharing one file."""
from __future__ import annotations

import multiprocessing
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from proxy.dp.ledger import BudgetExceeded, BudgetPeriod, Charge, Ledger, Period, SqliteLedger, open_ledger
from tests.at_once import at_once

UTC = timezone.utc
NOV = BudgetPeriod("month").current(datetime(2026, 11, 23, 15, 30, tzinfo=UTC))
DEC = BudgetPeriod("month").current(datetime(2026, 12, 2, tzinfo=UTC))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def release(ledger: Ledger, fingerprint: str, epsilon: float = 1.0, total: float = 10.0, period: Period = NOV,
            answer: str | None = None, role: str = "analyst"):
    return ledger.release(role=role, login="alice", period=period, fingerprint=fingerprint, epsilon=epsilon,
                          delta=1e-6, total=total, answer=answer if answer is not None else f'{{"q": "{fingerprint}"}}')


@pytest.fixture
def ledger(tmp_path):
    with open_ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


# --- periods -------------------------------------------------------------------

@pytest.mark.parametrize("kind,now,key,starts,resets", [
    ("day", at(2026, 11, 23, 23, 59), "2026-11-23", at(2026, 11, 23), at(2026, 11, 24)),
    ("day", at(2026, 12, 31, 12), "2026-12-31", at(2026, 12, 31), at(2027, 1, 1)),
    ("week", at(2026, 11, 26, 8), "2026-W48", at(2026, 11, 23), at(2026, 11, 30)),
    ("week", at(2026, 11, 23), "2026-W48", at(2026, 11, 23), at(2026, 11, 30)),  # Monday 00:00 starts it
    ("week", at(2026, 11, 22, 23, 59), "2026-W47", at(2026, 11, 16), at(2026, 11, 23)),
    ("week", at(2027, 1, 1), "2026-W53", at(2026, 12, 28), at(2027, 1, 4)),  # ISO year differs from calendar
    ("week", at(2024, 12, 31), "2025-W01", at(2024, 12, 30), at(2025, 1, 6)),
    ("month", at(2026, 11, 23, 15), "2026-11", at(2026, 11, 1), at(2026, 12, 1)),
    ("month", at(2026, 12, 31, 23, 59), "2026-12", at(2026, 12, 1), at(2027, 1, 1)),  # year rollover
    ("month", at(2027, 2, 10), "2027-02", at(2027, 2, 1), at(2027, 3, 1)),
])
def test_calendar_periods(kind, now, key, starts, resets):
    assert BudgetPeriod(kind).current(now) == Period(key, starts, resets)


def test_periods_are_in_utc():
    tokyo = timezone(timedelta(hours=9))
    period = BudgetPeriod("day").current(datetime(2026, 12, 1, 5, tzinfo=tokyo))  # still 30 November in UTC
    assert period == Period("2026-11-30", at(2026, 11, 30), at(2026, 12, 1))
    assert period.starts.tzinfo is not None and period.starts.utcoffset() == timedelta(0)
    assert BudgetPeriod("month").current(datetime(2026, 11, 30, 23)).key == "2026-11"  # naive is taken as UTC


def test_fixed_window():
    window = BudgetPeriod("window", start=at(2026, 11, 1), days=30)
    assert window.current(at(2026, 11, 1)) == Period("window-2026-11-01+30d#0", at(2026, 11, 1), at(2026, 12, 1))
    assert window.current(at(2026, 11, 30, 23, 59)).key == "window-2026-11-01+30d#0"
    assert window.current(at(2026, 12, 1)) == Period("window-2026-11-01+30d#1", at(2026, 12, 1), at(2026, 12, 31))
    third = window.current(at(2027, 2, 1))
    assert third == Period("window-2026-11-01+30d#3", at(2027, 1, 30), at(2027, 3, 1))
    with pytest.raises(ValueError, match="starts"):
        window.current(at(2026, 10, 31, 23, 59))


@pytest.mark.parametrize("kwargs", [
    {"kind": "year"}, {"kind": "window"}, {"kind": "window", "start": at(2026, 1, 1)},
    {"kind": "window", "start": at(2026, 1, 1), "days": 0}, {"kind": "month", "days": 30},
])
def test_bad_periods_are_refused(kwargs):
    with pytest.raises(ValueError):
        BudgetPeriod(**kwargs)


# --- charging --------------------------------------------------------------------

def test_charge_then_spent(ledger):
    assert ledger.spent("analyst", NOV.key) == 0.0
    done = release(ledger, "fp1", epsilon=0.75, answer='{"rows": [[42]]}')
    assert (done.answer, done.charged, done.epsilon, done.spent, done.total, done.resets) == (
        '{"rows": [[42]]}', True, 0.75, 0.75, 10.0, at(2026, 12, 1))
    assert ledger.spent("analyst", NOV.key) == 0.75
    assert ledger.stored("analyst", NOV.key, "fp1") == '{"rows": [[42]]}'
    assert ledger.stored("analyst", NOV.key, "fp2") is None
    assert ledger.spent("reporter", NOV.key) == 0.0  # budgets are per role


def test_overspend_is_refused_and_writes_nothing(ledger):
    release(ledger, "fp1", epsilon=9.5)
    with pytest.raises(BudgetExceeded) as refused:
        release(ledger, "fp2", epsilon=1.0)
    exc = refused.value
    assert (exc.spent, exc.total, exc.needed, exc.resets) == (9.5, 10.0, 1.0, at(2026, 12, 1))
    assert "9.5 of 10" in str(exc)
    assert ledger.spent("analyst", NOV.key) == 9.5
    assert ledger.stored("analyst", NOV.key, "fp2") is None
    assert [c.fingerprint for c in ledger.history()] == ["fp1"]
    with pytest.raises(BudgetExceeded):
        ledger.check("analyst", NOV, 1.0, 10.0)
    ledger.check("analyst", NOV, 0.5, 10.0)  # fits exactly, and check charges nothing
    assert ledger.spent("analyst", NOV.key) == 9.5


def test_twenty_halves_fit_exactly_in_ten(ledger):
    for i in range(20):
        assert release(ledger, f"fp{i}", epsilon=0.5).charged
    assert ledger.spent("analyst", NOV.key) == 10.0
    with pytest.raises(BudgetExceeded):
        release(ledger, "fp20", epsilon=0.5)
    assert len(ledger.history()) == 20


def test_float_sums_fit_within_the_tolerance(ledger):
    # 0.1 + 0.1 + 0.1 == 0.30000000000000004 > 0.3: without the tolerance the third would be refused
    for i in range(3):
        release(ledger, f"fp{i}", epsilon=0.1, total=0.3)
    assert ledger.spent("analyst", NOV.key) == pytest.approx(0.3)
    with pytest.raises(BudgetExceeded):
        release(ledger, "fp3", epsilon=1e-6, total=0.3)


def test_repeat_returns_the_stored_answer_uncharged(ledger):
    first = release(ledger, "fp1", epsilon=2.0, answer='{"n": 101}')
    again = release(ledger, "fp1", epsilon=2.0, answer='{"n": 97}')  # fresh noise, which must not be released
    assert (again.answer, again.charged, again.epsilon, again.spent) == ('{"n": 101}', False, 0.0, 2.0)
    assert first.spent == again.spent == ledger.spent("analyst", NOV.key) == 2.0
    assert len(ledger.history()) == 1
    other = release(ledger, "fp2", epsilon=2.0, answer='{"n": 5}')
    assert (other.charged, other.spent) == (True, 4.0)


def test_repeat_is_served_even_when_the_budget_is_spent(ledger):
    release(ledger, "fp1", epsilon=10.0, answer='{"n": 1}')
    assert release(ledger, "fp1", epsilon=10.0).answer == '{"n": 1}'


def test_next_period_starts_fresh(ledger):
    release(ledger, "fp1", epsilon=10.0, answer='{"n": 1}')
    with pytest.raises(BudgetExceeded):
        release(ledger, "fp2")
    december = release(ledger, "fp1", epsilon=10.0, period=DEC, answer='{"n": 2}')
    assert (december.answer, december.charged, december.spent, december.resets) == (
        '{"n": 2}', True, 10.0, at(2027, 1, 1))
    assert ledger.spent("analyst", NOV.key) == 10.0


def test_history_lists_charges_never_answers(ledger):
    release(ledger, "fp1", epsilon=1.0, answer='{"secret_looking": 12345}')
    release(ledger, "fp2", epsilon=0.5, role="reporter", answer='{"other": 678}')
    release(ledger, "fp3", epsilon=0.25, answer='{"third": 9}')
    history = ledger.history()
    assert [(c.role, c.fingerprint, c.epsilon) for c in history] == [
        ("analyst", "fp1", 1.0), ("reporter", "fp2", 0.5), ("analyst", "fp3", 0.25)]  # newest last
    first = history[0]
    assert isinstance(first, Charge) and (first.login, first.period, first.delta) == ("alice", NOV.key, 1e-6)
    assert first.at.tzinfo is not None and abs(datetime.now(UTC) - first.at) < timedelta(minutes=1)
    assert "12345" not in repr(history) and "answer" not in Charge.__dataclass_fields__
    assert [c.fingerprint for c in ledger.history("analyst")] == ["fp1", "fp3"]
    assert [c.fingerprint for c in ledger.history(limit=2)] == ["fp2", "fp3"]
    assert ledger.roles() == ["analyst", "reporter"]


@pytest.mark.parametrize("epsilon", [float("nan"), float("inf"), -1.0])
def test_bad_costs_are_refused(ledger, epsilon):
    with pytest.raises(ValueError):
        release(ledger, "fp1", epsilon=epsilon)
    assert ledger.history() == []


# --- durability ------------------------------------------------------------------

def test_reopened_ledger_has_the_same_spent(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with open_ledger(path) as ledger:
        assert isinstance(ledger, SqliteLedger)
        for i in range(5):
            release(ledger, f"fp{i}", epsilon=0.3)
        before = ledger.spent("analyst", NOV.key)
    with open_ledger(str(path)) as ledger:
        assert ledger.spent("analyst", NOV.key) == before == pytest.approx(1.5)
        assert ledger.stored("analyst", NOV.key, "fp4") == '{"q": "fp4"}'
        assert len(ledger.history()) == 5


def test_a_ledger_from_before_running_totals_gets_them_from_its_charges(tmp_path):
    """The spent total is kept beside the charges (summing them grew with every release);
    a ledger written without that table gets it from its charges when opened."""
    import sqlite3
    path = tmp_path / "ledger.sqlite"
    with open_ledger(path) as ledger:
        for i in range(4):
            release(ledger, f"fp{i}", epsilon=0.5)
        release(ledger, "dec", epsilon=0.25, period=DEC)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE spent")
    with open_ledger(path) as ledger:
        assert ledger.spent("analyst", NOV.key) == 2.0 and ledger.spent("analyst", DEC.key) == 0.25
        release(ledger, "fp4", epsilon=0.5)
        assert ledger.spent("analyst", NOV.key) == 2.5 == sum(c.epsilon for c in ledger.history() if c.period == NOV.key)
    with open_ledger(path) as ledger:  # opened again: nothing counted twice
        assert ledger.spent("analyst", NOV.key) == 2.5


def _release_then_die(path: str) -> None:
    ledger = open_ledger(path)
    release(ledger, "fp-crash", epsilon=3.0, answer='{"n": 7}')
    os._exit(0)  # no close, no cleanup: what a crash leaves behind


def test_a_charge_survives_a_crash_right_after_release(tmp_path):
    path = tmp_path / "ledger.sqlite"
    child = multiprocessing.get_context("spawn").Process(target=_release_then_die, args=(str(path),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    with open_ledger(path) as ledger:
        assert ledger.spent("analyst", NOV.key) == 3.0
        assert ledger.stored("analyst", NOV.key, "fp-crash") == '{"n": 7}'


def test_file_is_created_private(tmp_path):
    path = tmp_path / "ledger.sqlite"
    old = os.umask(0o022)
    try:
        with open_ledger(path) as ledger:
            release(ledger, "fp1")
            for file in [path, *tmp_path.glob("ledger.sqlite-*")]:  # the WAL and shm files too
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        os.umask(old)


# --- concurrency -----------------------------------------------------------------

def test_threads_never_jointly_overspend(ledger):
    results = at_once(20, lambda i: release(ledger, f"fp{i}", epsilon=1.0).charged, BudgetExceeded)
    assert results.count(True) == 10
    assert sum(isinstance(r, BudgetExceeded) for r in results) == 10
    assert ledger.spent("analyst", NOV.key) == 10.0
    assert len(ledger.history()) == 10


def test_concurrent_twins_release_one_answer(ledger):
    results = at_once(8, lambda i: release(ledger, "same", epsilon=1.0, answer=f'{{"noise": {i}}}'))
    assert [r.charged for r in results].count(True) == 1
    assert len({r.answer for r in results}) == 1  # every twin sends the one answer that was charged
    assert ledger.spent("analyst", NOV.key) == 1.0


def _hammer(path: str, worker: int, start, results) -> None:
    ledger = open_ledger(path)  # every process opens the fresh file at once
    charged = refused = 0
    start.wait()
    for i in range(20):
        try:
            charged += release(ledger, f"w{worker}-{i}", epsilon=0.25).charged
        except BudgetExceeded as exc:
            assert exc.spent <= exc.total
            refused += 1
        assert ledger.spent("analyst", NOV.key) <= 10.0
    ledger.close()
    results.put((charged, refused))


def test_processes_never_jointly_overspend(tmp_path):
    path, spawn = str(tmp_path / "ledger.sqlite"), multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(4), spawn.Queue()
    workers = [spawn.Process(target=_hammer, args=(path, w, start, results)) for w in range(4)]
    for worker in workers:
        worker.start()
    counts = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert sum(c for c, _ in counts) == 40 and sum(r for _, r in counts) == 40  # 40 x 0.25 == 10
    with open_ledger(Path(path)) as ledger:
        assert ledger.spent("analyst", NOV.key) == 10.0 == sum(c.epsilon for c in ledger.history())
        assert len(ledger.history()) == 40
