"""dp mode through the wire, on both backends: the demo's dashboard login gets noisy
answers with a notice, pays for each fresh answer once, is refused (53400, free) past
its budget, and no concurrency or SIGKILL pushes the ledger past it or loses a charge."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import psycopg
import pytest

from proxy.config import load_config
from proxy.dp.cursor import period_of
from proxy.dp.ledger import open_ledger
from proxy.dp.plan import geometric_bound
from tests.integration.conftest import start_proxy, stop_proxy, write_config

REGIONS = ["Central", "Coast", "East", "Mountain", "North", "South"]


def with_budget(config: Path, epsilon: float) -> Path:
    text = config.read_text()
    assert "budget: {epsilon: 10, period: month}" in text
    text = text.replace("budget: {epsilon: 10, period: month}", f"budget: {{epsilon: {epsilon}, period: month}}")
    if epsilon < 2:  # max_epsilon may not exceed the budget
        assert "max_epsilon: 2\n" in text
        text = text.replace("max_epsilon: 2\n", "max_epsilon: 0.5\n")
    config.write_text(text)
    return config


def spent(config: Path) -> float:
    cfg = load_config(config)
    import datetime as dt
    budget = cfg.roles["dashboard"].budget
    ledger = open_ledger(cfg.ledger)
    try:
        return ledger.spent("dashboard", period_of(budget).current(dt.datetime.now(dt.timezone.utc)).key)
    finally:
        ledger.close()


class Dashboard:
    """One dashboard session that keeps the notices of its last statement."""

    def __init__(self, port: int) -> None:
        self.conn = psycopg.connect(f"postgresql://dashboard:dashboard-pw@127.0.0.1:{port}/demo", autocommit=True)
        self.notices: list[str] = []
        self.conn.add_notice_handler(lambda n: self.notices.append(n.message_primary))

    def ask(self, sql: str, params=None) -> list[tuple]:
        self.notices.clear()
        cursor = self.conn.execute(sql, params)
        self.names = tuple(c.name for c in cursor.description or ())
        return cursor.fetchall()

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(params=["duckdb", "postgres"])
def served(request, tmp_path, demo_db):
    db = demo_db if request.param == "duckdb" else request.getfixturevalue("pg_demo").dsn("anonproxy_reader", "demo")
    config = write_config(tmp_path, db)
    process, port = start_proxy(config)
    yield config, port
    stop_proxy(process)


def test_noisy_answers_with_a_notice_and_repeats_that_cost_nothing(served, demo_db):
    config, port = served
    d = Dashboard(port)
    try:
        rows = d.ask("SELECT region, count(*) AS n, avg(annual_income) AS income FROM customers GROUP BY region ORDER BY region")
        [notice] = d.notices
        assert notice.startswith("DP: epsilon 0.5 spent; budget 9.5 of 10 left this month"), notice
        assert "95% error: count(*) ±" in notice and "avg(annual_income) ±" in notice
        assert [r[0] for r in rows] == REGIONS  # every value of the public domain
        import duckdb
        truth = dict(duckdb.connect(str(demo_db), read_only=True).execute(
            "SELECT region, count(*) FROM customers GROUP BY 1").fetchall())
        assert all(abs(n - truth[r]) < 60 for r, n, _ in rows)  # the 95% bound is about ±18
        assert all(0 <= income <= 300_000 for _, _, income in rows)
        assert spent(config) == 0.5

        assert d.ask("SELECT region, count(*) AS n, avg(annual_income) AS income FROM customers GROUP BY region "
                     "ORDER BY region") == rows  # identical, from the ledger
        assert "repeated (nothing spent)" in d.notices[0] and "9.5 of 10 left" in d.notices[0]
        assert spent(config) == 0.5

        d.ask("SELECT count(*) FROM customers WHERE segment = 'consumer'")  # a different statement is charged
        assert "epsilon 0.5 spent; budget 9 of 10 left" in d.notices[0]
        assert spent(config) == 1.0
    finally:
        d.close()


def test_epsilon_is_set_per_session_within_the_roles_limit(served):
    config, port = served
    d = Dashboard(port)
    try:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
            d.conn.execute("SET anonproxy.epsilon = 3")
        assert "at most 2" in caught.value.diag.message_hint
        d.conn.execute("SET anonproxy.epsilon = 1.5")
        d.ask("SELECT sum(duration_s) FROM calls")
        assert d.notices[0].startswith("DP: epsilon 1.5 spent; budget 8.5 of 10 left")
        assert spent(config) == 1.5
    finally:
        d.close()


def test_one_row_per_person_is_relied_on_only_where_the_key_cannot_change(served, request, demo_db):
    """customers.customer_id is the primary key on both backends. The DuckDB file is opened
    read-only, so the key holds while the proxy runs and nothing is sampled; on PostgreSQL
    the key could be dropped under the proxy, so each person's rows are still sampled."""
    config, port = served
    out = subprocess.run([sys.executable, "-m", "proxy.cli", "explain", "--config", str(config), "--user",
                          "dashboard", "SELECT count(*) FROM customers"], capture_output=True, text=True,
                         check=True).stdout
    if request.node.callspec.params["served"] == "duckdb":
        assert "each person has one row (customers.customer_id is the primary key)" in out
        assert "ROW_NUMBER" not in out and "RANDOM" not in out
    else:
        assert "each person keeps at most 1 row(s), a random sample" in out and "ROW_NUMBER" in out
    d = Dashboard(port)
    try:
        [(n,)] = d.ask("SELECT count(*) FROM customers")
        with duckdb.connect(str(demo_db), read_only=True) as con:
            [(true,)] = con.execute("SELECT count(*) FROM customers").fetchall()
        assert abs(n - true) <= 30, (n, true)  # the 95% error is ±6; past 30: about 2 in 10 million
    finally:
        d.close()


def test_a_join_written_with_using_is_released_like_one_written_with_on(served):
    config, port = served
    d = Dashboard(port)
    try:
        rows = d.ask("SELECT segment, count(*), sum(duration_s) FROM customers JOIN calls USING (customer_id) "
                     "WHERE customer_id > 0 GROUP BY segment ORDER BY segment")
        on = d.ask("SELECT c.segment, count(*), sum(k.duration_s) FROM customers c JOIN calls k "
                   "ON k.customer_id = c.customer_id GROUP BY c.segment ORDER BY c.segment")
        assert [r[0] for r in rows] == [r[0] for r in on] == ["consumer", "enterprise", "small_business"]  # the public domain
        assert spent(config) == 1.0  # two statements, two charges
        bound = geometric_bound(0.5 / 2, 50)  # the count's 95% error: epsilon 0.5 over two quantities, 50 rows each
        for (_, n, _), (_, m, _) in zip(rows, on):  # the same join, so counts within the noise of each other
            assert abs(n - m) <= 3 * bound, (n, m, bound)
    finally:
        d.close()


def test_prepared_statements_with_parameters_are_released_too(served):
    config, port = served
    d = Dashboard(port)
    try:
        [(n,)] = d.conn.execute("SELECT count(*) FROM customers WHERE annual_income > %s", (50_000,), prepare=True).fetchall()
        assert n > 1000
        [(m,)] = d.conn.execute("SELECT count(*) FROM customers WHERE annual_income > %s", (50_000,), prepare=True).fetchall()
        assert m == n and spent(config) == 0.5  # same statement, same parameters: the stored answer
        d.conn.execute("SELECT count(*) FROM customers WHERE annual_income > %s", (60_000,), prepare=True).fetchall()
        assert spent(config) == 1.0
    finally:
        d.close()


def test_binary_results_carry_the_same_answer_with_its_types(served):
    """A client reading binary results (asyncpg does by default) gets the stored answer
    with its PostgreSQL types: text keys, timestamp keys, bigint counts and sums, float8
    averages; the same values as a text-format client reading the repeat."""
    import asyncio
    import datetime as dt

    import asyncpg

    config, port = served
    statements = ["SELECT region, count(*), sum(annual_income), avg(annual_income) FROM customers GROUP BY region",
                  "SELECT date_trunc('month', started_at) AS m, count(*) FROM calls WHERE started_at < '2024-04-01' "
                  "GROUP BY 1 HAVING count(*) > 0 ORDER BY 1"]

    async def binary() -> list[list[tuple]]:
        conn = await asyncpg.connect(f"postgresql://dashboard:dashboard-pw@127.0.0.1:{port}/demo")
        try:
            return [[tuple(r) for r in await conn.fetch(sql)] for sql in statements]
        finally:
            await conn.close()
    by_region, by_month = asyncio.run(binary())
    assert [r[0] for r in by_region] == REGIONS
    assert all(type(n) is int and type(total) is int and type(mean) is float for _, n, total, mean in by_region)
    assert by_month and all(type(m) is dt.datetime and type(n) is int for m, n in by_month)
    d = Dashboard(port)
    try:
        assert d.ask(statements[0]) == [(r, n, total, pytest.approx(mean)) for r, n, total, mean in by_region]
        assert d.ask(statements[1]) == by_month
    finally:
        d.close()
    assert spent(config) == 1.0  # each released once: the text-format client got the stored answers


def test_past_the_budget_a_statement_is_refused_and_costs_nothing(tmp_path, demo_db):
    config = with_budget(write_config(tmp_path, demo_db), 1.2)
    process, port = start_proxy(config)
    d = Dashboard(port)
    try:
        d.ask("SELECT count(*) FROM customers")
        d.ask("SELECT count(*) FROM calls")
        with pytest.raises(psycopg.errors.ConfigurationLimitExceeded) as caught:  # 53400
            d.ask("SELECT sum(annual_income) FROM customers")
        diag = caught.value.diag
        assert diag.message_primary == "privacy budget exhausted: 1 of 1.2 spent, this statement needs 0.5"
        assert re.match(r"The budget resets at \d{4}-\d{2}-01 00:00 UTC\.", diag.message_detail)
        assert "repeats are free" in diag.message_hint
        assert spent(config) == 1.0
        assert d.ask("SELECT count(*) FROM customers")  # a repeat is still answered, free
        assert d.ask("SELECT 1") == [(1,)]  # the session goes on
    finally:
        d.close()
        stop_proxy(process)


def hammer(ports: list[int], sessions: int, statements: int = 3) -> tuple[list[str], list[str]]:
    """`sessions` connections at once (spread over the proxies' ports), each asking its own
    `statements` distinct statements: every outcome ("answered", "refused", or any other
    error kept as SQLSTATE and text, a finding), and the statements answered."""
    outcomes: list[str] = []
    answered: list[str] = []
    lock = threading.Lock()

    def session(i: int) -> None:
        d = Dashboard(ports[i % len(ports)])
        try:
            for j in range(statements):
                sql = f"SELECT count(*) FROM customers WHERE annual_income > {1000 * i + j}"
                try:
                    d.ask(sql)
                    result = "answered"
                except psycopg.errors.ConfigurationLimitExceeded:
                    result = "refused"
                except psycopg.Error as exc:
                    result = f"{exc.sqlstate}: {exc}"
                with lock:
                    outcomes.append(result)
                    if result == "answered":
                        answered.append(sql)
        finally:
            d.close()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes, answered


def test_concurrent_statements_never_overspend(tmp_path, demo_db):
    """20 connections, each asking its own statements at once: exactly budget / epsilon
    answers, every other statement refused, and the ledger at its total, not past it."""
    config = with_budget(write_config(tmp_path, demo_db), 5)
    process, port = start_proxy(config)
    try:
        outcomes, _ = hammer([port], sessions=20)
        assert outcomes.count("answered") == 10 and outcomes.count("refused") == 50, outcomes
        assert spent(config) == 5.0
    finally:
        stop_proxy(process)


def test_sigkill_between_charge_and_reply_loses_no_charge(tmp_path, demo_db):
    """Kill the proxy while 20 sessions are mid-release. Every answer a client received
    was charged: after a restart each is served again, identical and free, and the
    spent budget is what the ledger held when the proxy died."""
    config = with_budget(write_config(tmp_path, demo_db), 1000)
    process, port = start_proxy(config)
    received: dict[str, list[tuple]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(i: int) -> None:
        try:
            d = Dashboard(port)
            j = 0
            while not stop.is_set():
                sql = f"SELECT segment, count(*) FROM customers WHERE annual_income > {100 * i + j} GROUP BY segment"
                rows = d.ask(sql)
                with lock:
                    received[sql] = rows
                j += 1
        except psycopg.Error:
            pass  # the proxy died under it
    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    while len(received) < 40:
        threading.Event().wait(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stop.set()
    for t in threads:
        t.join(30)
    at_death = spent(config)
    assert at_death >= 0.5 * len(received)  # every received answer was charged
    process, port = start_proxy(config)
    d = Dashboard(port)
    try:
        assert spent(config) == at_death
        for sql, rows in received.items():
            assert d.ask(sql) == rows and "repeated (nothing spent)" in d.notices[0]
        assert spent(config) == at_death
    finally:
        d.close()
        stop_proxy(process)


def test_budget_command_lists_spent_left_and_every_charge(tmp_path, demo_db):
    import subprocess
    import sys
    config = write_config(tmp_path, demo_db)
    process, port = start_proxy(config)
    d = Dashboard(port)
    try:
        d.ask("SELECT count(*) FROM customers WHERE city = 'Riverton'")
    finally:
        d.close()
        stop_proxy(process)
    run = lambda *a: subprocess.run([sys.executable, "-m", "proxy.cli", "budget", "--config", str(config), *a],
                                    capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    out = run().stdout
    assert re.search(r"^dashboard\s+\d{4}-\d{2}\s+0\.5\s+9\.5\s+10\s+\d{4}-\d{2}-01 00:00 UTC$", out, re.M), out
    history = run("--history").stdout
    assert re.search(r"dashboard\s+dashboard\s+\d{4}-\d{2}\s+[0-9a-f]{16}\s+0\.5$", history, re.M), history
    assert "Riverton" not in history and "SELECT" not in history  # never a statement or a value


# Issue 7's classes, asked by the dp login: each statement is refused with a clear code
# or answered with released aggregates only; a pair that differs only in whether the
# predicate names a real person must end the same way (same SQLSTATE, or an answer with
# the same columns: the values are noisy, so they are not compared).
ATTACKS = [
    "SELECT count(*) FROM customers WHERE {p}",
    "SELECT sum(annual_income), avg(annual_income) FROM customers WHERE {p}",
    "SELECT region, count(*) FROM customers WHERE {p} GROUP BY region",
    "SELECT signup_date, count(*) FROM customers WHERE {p} GROUP BY 1",
    "SELECT customer_id, count(*) FROM customers WHERE {p} GROUP BY customer_id",
    "SELECT count(*) FROM customers WHERE 1 / (CASE WHEN {p} THEN 0 ELSE 1 END) = 1",
    "SELECT count(*) FROM customers WHERE CAST(CASE WHEN {p} AND annual_income >= 160000 THEN 'x' ELSE '1' END AS int) = 1",
    "SELECT x FROM unnest(generate_series(0, 600000, 100)) t(x) WHERE x IN (SELECT annual_income FROM customers WHERE {p})",
    "SELECT count(*) FROM cell_towers WHERE 545500 < ANY (SELECT annual_income FROM customers WHERE {p})",
    "SELECT avg(m) FROM (SELECT max(annual_income) OVER () m FROM customers WHERE {p}) t",
    "SELECT json_object_agg(customer_id, annual_income) FROM customers WHERE {p}",
    "SELECT sum(CASE WHEN {p} THEN annual_income ELSE 0 END) FROM customers",
    "SELECT count(*) FILTER (WHERE {p}) FROM customers",
    "WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT * FROM customers WHERE {p}",
    "SELECT count(*) FROM customers c JOIN calls k ON k.customer_id = c.customer_id WHERE {cp}",
    "SELECT count(*) FROM customers WHERE {p} AND length(repeat(city, 5000000)) > 0",
    "SELECT * FROM customers WHERE {p}",
    "SELECT exists__anonproxy_view_customers FROM customers WHERE {p}",
]
INTERNAL = re.compile(r"__anonproxy|__dp|__released|__r\b|__v\d|__q\d|__g\d|__pu|__rn|duckdb|sqlite", re.I)


def test_attacks_are_refused_or_answered_with_releases_only(tmp_path, demo_db):
    from tests.oracle import pair_predicate, raw_data
    raw = raw_data(str(demo_db))
    person = raw.unique_pair_people(visible=True)[0]
    absent = raw.absent_pair(person)
    texts = {p.full_name for p in raw.people} | {p.email for p in raw.people} | {p.phone for p in raw.people}
    config = with_budget(write_config(tmp_path, demo_db), 1000)
    process, port = start_proxy(config)
    d = Dashboard(port)
    problems: list[str] = []
    kinds: list[str] = []
    try:
        for attack in ATTACKS:
            outcomes = []
            for date, city in ((person.signup_date, person.city), absent):
                sql = attack.format(p=pair_predicate(date, city), cp=pair_predicate(date, city, "c."))
                try:
                    rows = d.ask(sql)
                    outcomes.append(("answered", d.names))
                    shown = [str(v) for r in rows for v in r] + list(d.notices)
                except psycopg.Error as exc:
                    outcomes.append((exc.sqlstate, None))
                    shown = [exc.diag.message_primary or "", exc.diag.message_detail or "", exc.diag.message_hint or ""]
                    if exc.sqlstate not in ("42501", "0A000", "42703", "42P01", "42883", "42803", "42P19"):
                        problems.append(f"{sql}: neither an answer nor a clear refusal: {exc.sqlstate} {exc}")
                for text in shown:
                    if INTERNAL.search(text) and not INTERNAL.search(sql):
                        problems.append(f"{sql}: internal name in {text[:120]!r}")
                    if any(t in text for t in texts):
                        problems.append(f"{sql}: a protected value in {text[:120]!r}")
            if outcomes[0] != outcomes[1]:
                problems.append(f"{attack}: the outcome depends on the person: {outcomes}")
            kinds.append(outcomes[0][0])
    finally:
        d.close()
        stop_proxy(process)
    assert not problems, "\n".join(problems)
    assert kinds.count("answered") == 6 and "0A000" in kinds and "42501" in kinds, kinds  # the judge saw both


def test_an_accuracy_target_chooses_the_epsilon_and_charges_what_the_notice_says(served, demo_db):
    config, port = served
    d = Dashboard(port)
    try:
        d.conn.execute("SET anonproxy.target_error = 0.02")
        rows = d.ask("SELECT region, count(*) FROM customers GROUP BY region")
        [notice] = d.notices
        said = float(re.match(r"DP: epsilon ([0-9.]+) spent to meet the target ±2% \(epsilon 0\.05 to size", notice)[1])
        charged = load_config(config)
        ledger = open_ledger(charged.ledger)
        try:
            [charge] = ledger.history("dashboard")
        finally:
            ledger.close()
        assert charge.epsilon == pytest.approx(said, rel=1e-3) and 0.05 < said < 2
        import duckdb
        truth = dict(duckdb.connect(str(demo_db), read_only=True).execute(
            "SELECT region, count(*) FROM customers GROUP BY 1").fetchall())
        assert len(rows) == 6 and all(abs(n - truth[r]) <= 0.05 * truth[r] for r, n in rows)
        d.conn.execute("SET anonproxy.target_error = 0.0001")
        with pytest.raises(psycopg.errors.ConfigurationLimitExceeded) as caught:
            d.ask("SELECT segment, count(*) FROM customers GROUP BY segment")
        assert "the best it allows is about ±" in caught.value.diag.message_primary
        assert caught.value.diag.message_detail == "Sizing the answer from a noisy count spent: epsilon 0.05."
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            d.ask("SELECT avg(annual_income) FROM customers")  # relative targets are for counts
    finally:
        d.close()


def test_two_proxies_share_one_budget_in_a_postgresql_ledger(tmp_path, demo_db, pg_demo):
    """ledger: postgresql://... : several proxies, one budget that none of them overspends."""
    with psycopg.connect(pg_demo.dsn(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS budgets")
        conn.execute("CREATE DATABASE budgets")
    dsn = pg_demo.dsn(dbname="budgets")
    configs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        configs.append(with_budget(write_config(tmp_path / name, demo_db, extra=f'ledger: "{dsn}"'), 5))
    servers = [start_proxy(c) for c in configs]
    try:
        outcomes, answered = hammer([port for _, port in servers], sessions=10)
        assert outcomes.count("answered") == 10 and outcomes.count("refused") == 20, outcomes
        assert spent(configs[0]) == spent(configs[1]) == 5.0
        # a statement answered (through either proxy) is a free repeat through both
        for _, port in servers:
            d = Dashboard(port)
            try:
                d.ask(answered[0])
                assert "repeated (nothing spent)" in d.notices[0]
            finally:
                d.close()
        assert spent(configs[0]) == 5.0
    finally:
        for process, _ in servers:
            stop_proxy(process)


# Statements the dp grammar accepts, with a predicate that names one real person (by raw
# signup date and city) or nobody, drawn by hypothesis with a fixed seed: answered every
# time, the two sides indistinguishable but for noise (same columns; no group released
# by threshold where the filter leaves one person), nothing protected in any text.
DP_EXAMPLES = int(os.environ.get("ANONPROXY_FUZZ_EXAMPLES", "0") or 0) or 60


def test_generated_dp_statements_answer_alike_for_a_person_and_for_nobody(tmp_path, demo_db):
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from tests.oracle import Client, Oracle, pair_predicate, raw_data

    raw = raw_data(str(demo_db))
    people = raw.unique_pair_people(visible=True)[:3] + raw.unique_pair_people(visible=False)[:3]
    oracle = Oracle(demo_db, "dashboard")
    config = with_budget(write_config(tmp_path, demo_db), 1_000_000)
    process, port = start_proxy(config)
    client = Client(f"postgresql://dashboard:dashboard-pw@127.0.0.1:{port}/demo")
    findings: list[str] = []
    answered = [0]

    aggregates = st.sampled_from(["count(*)", "count(DISTINCT c.customer_id)", "sum(c.annual_income)",
                                  "avg(c.annual_income)", "count(c.city)", "sum(k.duration_s)", "avg(k.cost)",
                                  "count(*) * 2 + 1", "round(avg(c.annual_income) / 1000)"])
    keys = st.sampled_from([None, "c.region", "c.segment", "c.gender", "c.city", "date_trunc('year', c.signup_date)",
                            "t.region", "extract(year FROM k.started_at)", "k.direction"])

    @st.composite
    def statements(draw):
        person = draw(st.sampled_from(people))
        chosen = draw(st.lists(aggregates, min_size=1, max_size=3, unique=True))
        key = draw(keys)
        needs_calls = any("k." in a for a in chosen) or (key or "").startswith(("k.", "t.", "extract"))
        source = "customers c"
        if needs_calls:
            source += " JOIN calls k ON k.customer_id = c.customer_id"
        if (key or "").startswith("t."):
            source += " JOIN cell_towers t ON t.cell_id = k.cell_id"
        extra = draw(st.sampled_from(["", " AND c.annual_income > 20000", " OR c.segment = 'enterprise'"]))
        tail = f" GROUP BY {key}" if key else ""
        tail += draw(st.sampled_from(["", " HAVING count(*) > 3" if key else "", " ORDER BY 1 LIMIT 4"]))
        select = ", ".join(([key] if key else []) + chosen)
        sqls = [f"SELECT {select} FROM {source} WHERE ({pair_predicate(d, c, 'c.')}{extra}){tail}"
                for d, c in ((person.signup_date, person.city), raw.absent_pair(person))]
        return sqls, key, extra

    @seed(2026)
    @settings(max_examples=DP_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=statements())
    def run(case) -> None:
        (sql_person, sql_nobody), key, extra = case
        answers = [client.run(sql, watchdog=60) for sql in (sql_person, sql_nobody)]
        for a in answers:
            findings.extend(f"{a.sql}: {f}" for f in a.internal_problems() + oracle.judge(a))
            if not a.ok:
                findings.append(f"{a.sql}: refused {a.sqlstate} {a.error[:200]}")
        first, second = answers
        if first.outcome(shape_only=True) != second.outcome(shape_only=True):
            findings.append(f"{sql_person}: the columns differ from the twin's: {first.names} <> {second.names}")
        domain = key in ("c.region", "c.segment", "c.gender", "t.region", "k.direction")
        if first.ok and key and not domain and not extra.startswith(" OR") and first.rows:
            findings.append(f"{sql_person}: a group of one person was released by threshold: {first.rows[:3]}")
        answered[0] += first.ok

    try:
        run()
    finally:
        client.close()
        stop_proxy(process)
    assert not findings, "\n".join(findings[:30])
    assert answered[0] == DP_EXAMPLES


def test_cursors_and_copy_release_through_the_same_ledger(tmp_path, demo_db):
    """DECLARE/FETCH, psycopg's server-side cursors (portals) and COPY TO STDOUT: each a
    release with its notice and its charge."""
    config = write_config(tmp_path, demo_db)
    process, port = start_proxy(config)
    d = Dashboard(port)
    try:
        d.conn.autocommit = False
        d.notices.clear()
        d.conn.execute("DECLARE c CURSOR FOR SELECT region, count(*) FROM customers GROUP BY region")
        assert d.notices and d.notices[0].startswith("DP: epsilon 0.5 spent")
        rows = d.conn.execute("FETCH 2 FROM c").fetchall() + d.conn.execute("FETCH ALL FROM c").fetchall()
        assert [r[0] for r in rows] == REGIONS
        d.conn.commit()
        with d.conn.cursor().copy("COPY (SELECT segment, count(*) FROM customers GROUP BY segment) TO STDOUT") as cp:
            lines = [bytes(r).decode() for r in cp]
        assert [line.split("\t")[0] for line in lines] == ["consumer", "enterprise", "small_business"]
        with d.conn.cursor(name="portal") as cur:
            cur.execute("SELECT gender, avg(annual_income) FROM customers GROUP BY gender")
            assert [r[0] for r in cur.fetchmany(2) + cur.fetchall()] == ["F", "M", "X"]
        d.conn.commit()
        assert spent(config) == 1.5
    finally:
        d.close()
        stop_proxy(process)
