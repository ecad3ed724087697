"""The privacy-budget ledger on a real PostgreSQL server, as several proxies share it:
repeats served uncharged, overspending refused, concurrent releases (threads, and
two ledgers on one database) never jointly overspend."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from proxy.dp.ledger import BudgetExceeded, BudgetPeriod, PostgresLedger, open_ledger
from tests.at_once import at_once

UTC = timezone.utc
NOV = BudgetPeriod("month").current(datetime(2026, 11, 23, tzinfo=UTC))


@pytest.fixture(scope="module")
def dsn(pg_demo):
    """A database of its own for the ledger, on the suite's throwaway server."""
    import psycopg
    with psycopg.connect(pg_demo.dsn(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ledger")
        conn.execute("CREATE DATABASE ledger")
    return pg_demo.dsn(dbname="ledger")


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
    assert {"anonproxy_charges", "anonproxy_answers", "anonproxy_spent"} <= tables
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
    results = at_once(20, lambda i: release(ledger, "threads", f"fp{i}", epsilon=1.0).charged, BudgetExceeded)
    assert results.count(True) == 10
    assert sum(isinstance(r, BudgetExceeded) for r in results) == 10
    assert ledger.spent("threads", NOV.key) == 10.0


def test_two_proxies_share_one_budget(dsn):
    """Two ledgers (as two proxies would hold) releasing at once, twins included."""
    ledgers = [open_ledger(dsn), open_ledger(dsn)]
    # pairs of threads ask the same statement through different proxies
    results = at_once(16, lambda i: release(ledgers[i % 2], "shared", f"fp{i // 2}", epsilon=1.5,
                                            answer=f'{{"i": {i}}}'), BudgetExceeded)
    charged = [r for r in results if not isinstance(r, BudgetExceeded) and r.charged]
    assert len(charged) == 6  # 6 x 1.5 == 9 fits in 10, a seventh would not
    assert ledgers[0].spent("shared", NOV.key) == 9.0
    for r in results:  # a twin served from the store sends exactly the charged answer
        if not isinstance(r, BudgetExceeded):
            assert r.answer in {c.answer for c in charged}
    for ledger in ledgers:
        ledger.close()
