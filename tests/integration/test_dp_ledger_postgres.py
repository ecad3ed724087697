"""The privacy-budget ledger on a real PostgreSQL server, as several proxies share it:
repeats served uncharged, overspending refused, concurrent releases (threads, and
two ledgers on one database) never jointly overspend."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from proxy.dp.ledger import BudgetExceeded, BudgetPeriod, PostgresLedger, open_ledger

UTC = timezone.utc
NOV = BudgetPeriod("month").current(datetime(2026, 11, 23, tzinfo=UTC))


@pytest.fixture(scope="module")
def dsn():
    """A throwaway server with a database of its own for the ledger; stopped at the end."""
    from tests import pg_server
    try:
        server = pg_server.start()
    except pg_server.CannotStart as exc:
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    try:
        import psycopg
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE ledger")
        yield server.dsn(dbname="ledger")
    finally:
        server.stop()


@pytest.fixture
def ledger(dsn):
    with open_ledger(dsn) as opened:
        yield opened


def release(ledger, role: str, fingerprint: str, epsilon: float = 1.0, total: float = 10.0, answer: str = "{}"):
    return ledger.release(role=role, login="alice", period=NOV, fingerprint=fingerprint, epsilon=epsilon,
                          delta=0.0, total=total, answer=answer)


def test_tables_are_created_once_and_prefixed(dsn, ledger):
    import psycopg
    assert isinstance(ledger, PostgresLedger)
    with open_ledger(dsn):  # a second proxy: CREATE ... IF NOT EXISTS, nothing lost
        pass
    with psycopg.connect(dsn) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"anonproxy_charges", "anonproxy_answers"} <= tables
    assert "127.0.0.1" in repr(ledger) and "postgresql://" not in repr(ledger)


def test_repeat_is_served_uncharged(ledger):
    first = release(ledger, "repeat", "fp1", epsilon=2.0, answer='{"n": 101}')
    again = release(ledger, "repeat", "fp1", epsilon=2.0, answer='{"n": 97}')
    assert (first.charged, first.spent) == (True, 2.0)
    assert (again.answer, again.charged, again.epsilon, again.spent) == ('{"n": 101}', False, 0.0, 2.0)
    assert ledger.stored("repeat", NOV.key, "fp1") == '{"n": 101}'
    assert ledger.spent("repeat", NOV.key) == 2.0
    assert [(c.fingerprint, c.epsilon) for c in ledger.history("repeat")] == [("fp1", 2.0)]
    assert release(ledger, "repeat", "fp2", epsilon=2.0).spent == 4.0


def test_overspend_is_refused_and_writes_nothing(ledger):
    for i in range(20):
        release(ledger, "over", f"fp{i}", epsilon=0.5)
    with pytest.raises(BudgetExceeded) as refused:
        release(ledger, "over", "fp20", epsilon=0.5)
    exc = refused.value
    assert (exc.spent, exc.total, exc.needed, exc.resets) == (10.0, 10.0, 0.5, datetime(2026, 12, 1, tzinfo=UTC))
    assert ledger.stored("over", NOV.key, "fp20") is None
    assert ledger.spent("over", NOV.key) == 10.0
    assert len(ledger.history("over")) == 20
    with pytest.raises(BudgetExceeded):
        ledger.check("over", NOV, 0.5, 10.0)


def test_threads_never_jointly_overspend(ledger):
    start, results = threading.Barrier(20), []

    def attempt(i: int) -> None:
        start.wait()
        try:
            results.append(release(ledger, "threads", f"fp{i}", epsilon=1.0).charged)
        except BudgetExceeded as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 10
    assert sum(isinstance(r, BudgetExceeded) for r in results) == 10
    assert ledger.spent("threads", NOV.key) == 10.0


def test_two_proxies_share_one_budget(dsn):
    """Two ledgers (as two proxies would hold) releasing at once, twins included."""
    ledgers, start, results = [open_ledger(dsn), open_ledger(dsn)], threading.Barrier(16), []

    def attempt(i: int) -> None:
        start.wait()
        try:  # pairs of threads ask the same statement through different proxies
            results.append(release(ledgers[i % 2], "shared", f"fp{i // 2}", epsilon=1.5, answer=f'{{"i": {i}}}'))
        except BudgetExceeded as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    charged = [r for r in results if not isinstance(r, BudgetExceeded) and r.charged]
    assert len(charged) == 6  # 6 x 1.5 == 9 fits in 10, a seventh would not
    assert ledgers[0].spent("shared", NOV.key) == 9.0
    for r in results:  # a twin served from the store sends exactly the charged answer
        if not isinstance(r, BudgetExceeded):
            assert r.answer in {c.answer for c in charged}
    for ledger in ledgers:
        ledger.close()
