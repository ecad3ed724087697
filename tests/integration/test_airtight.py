"""Issue 7's seven classes, each example and its variants, for every restricted login
(analyst: masked, k=5; reporter: aggregate, k=10; partner: raw, cell_towers only) on
both backends (DuckDB and a real PostgreSQL), judged by the raw-data oracle (tests/oracle.py).

Every statement must end in one of two ways:
  * a clear refusal: a SQLSTATE in `REFUSALS` with a non-empty message, the session
    still answering `SELECT 1` afterwards; or
  * a policy-compliant answer: no protected value, internal name or backend text in
    any value, column name, error field or notice (judge 1), and no numeric result equal
    to the income of the person the statement singles out (judge 2).
Never an internal error (XX000), a dropped connection or an unusable session.
One known exception, pinned as an expected failure: the reporter's differencing cases
(aggregate mode's stated limit, DESIGN.md section 3, principle 4).

Where a statement's outcome could carry one hidden bit, the test runs it as a pair that
differs only in the hidden thing and requires both outcomes to be identical:
  * "person": the predicate names a real person by raw values vs. a (signup_date, city)
    nobody has; for the analyst the person is one outside its k-filter (who must look
    absent; it sees signup years only, so the exact date matches no row it receives), for
    the reporter and the partner any person;
  * "income": `annual_income >= X` with X just below vs. just above the person's raw
    income (for the analyst both inside the person's 10,000 bin, which it may see);
  * "top": X just below vs. just above the highest income.
Identical means the same SQLSTATE, or the same column names and the same rows (as a
multiset). Time-prone pairs must also take about the same time.

Class 7 (limits) and the reporter's ordinary reports close the file: the reports must
keep answering, exactly as the raw data computed directly in DuckDB with groups of fewer
than 10 distinct customers removed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Callable

import psycopg
import pytest

from tests.oracle import REFUSALS, Answer, Client, Oracle, Person, normalize, pair_predicate, raw_data


BACKENDS = ("proxy", "pg_proxy")
ROLES = ("analyst", "reporter", "partner")
TIME_SLACK = 2.0  # seconds: a pair's durations may differ by less (issue 7: 5 s against 8 ms)


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def raw(demo_db):
    return raw_data(str(demo_db))


@pytest.fixture(scope="module")
def oracles(demo_db) -> dict[str, Oracle]:
    return {role: Oracle(demo_db, role) for role in ROLES}


@pytest.fixture(scope="module")
def clients():
    cache: dict[tuple[str, str], Client] = {}
    yield cache
    for client in cache.values():
        client.close()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    request.getfixturevalue(request.param)  # starts (or skips without) that backend
    return request.param


@pytest.fixture
def ask(request, backend, clients) -> Callable[[str, str], Answer]:
    """ask(role, sql) -> Answer, on one reused connection per (backend, role)."""
    server = request.getfixturevalue(backend)

    def run(role: str, sql: str, watchdog: float = 90) -> Answer:
        key = (backend, role)
        if key not in clients:
            clients[key] = Client(server.dsn(role))
        return clients[key].run(sql, watchdog=watchdog)
    return run


@dataclass(frozen=True)
class People:
    visible: Person      # alone with its raw (signup_date, city), inside the analyst's k-filter
    suppressed: Person   # alone with its raw (signup_date, city), outside the analyst's k-filter
    top: Person          # the highest income (unique)
    city_max: tuple[Person, ...]  # each city's highest earner, where that income is unique


@pytest.fixture(scope="module")
def people(raw) -> People:
    visible = raw.unique_pair_people(visible=True)[0]
    suppressed = raw.unique_pair_people(visible=False)[0]
    top = raw.top_earners(1)[0]
    assert raw.income_count[top.annual_income] == 1
    best: dict[str, Person] = {}
    for p in raw.people:
        if p.city not in best or p.annual_income > best[p.city].annual_income:
            best[p.city] = p
    city_max = tuple(p for p in best.values() if raw.income_count[p.annual_income] == 1)
    # the premises of the pair checks, from the raw data
    for p in (visible, suppressed):
        assert raw.matching(pair_predicate(p.signup_date, p.city)) == [p.customer_id]
        assert raw.matching(pair_predicate(*raw.absent_pair(p))) == []
    assert visible.customer_id in raw.analyst_visible and suppressed.customer_id not in raw.analyst_visible
    return People(visible, suppressed, top, city_max)


# ---------------------------------------------------------------------------------------------- judging

def problems_of(answer: Answer, oracle: Oracle, targets=(), *, any_error: bool = False) -> list[str]:
    """Judge 1 and 2, internal problems, and, unless `any_error` (a pair whose two outcomes are
    compared instead), an error must be a clear refusal."""
    found = answer.internal_problems()
    found += oracle.judge(answer)
    found += oracle.singled_out(answer, targets)
    if not answer.ok:
        if answer.sqlstate not in REFUSALS and not any_error:
            found.append(f"neither an answer nor a clear refusal: {answer.error}")
        if not answer.message.strip():
            found.append("a refusal without a message")
    return found


def describe(answer: Answer) -> str:
    if answer.ok:
        return f"rows {answer.names} x {len(answer.rows)}: {str(answer.rows[:3])[:300]}"
    return f"error {answer.error[:300]}"


def verdict(role: str, backend: str, answers: list[Answer], problems: list[str]) -> None:
    assert not problems, (f"{role} on {backend}:\n" + "\n".join(f"  {a.sql!r}\n    -> {describe(a)}" for a in answers)
                          + "\n  findings:\n    " + "\n    ".join(dict.fromkeys(problems)))


# ---------------------------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    id: str
    sql: str                   # a template: {p} {cp} (the person's predicate, bare / on alias c), {x}, {city}
    pair: str | None = None    # None, "person", "income", "top"
    targets: str = ""          # extra people judge 2 looks for: "top", "city_max"
    timing: bool = False
    expect: Callable[[Answer, str], list[str]] | None = None  # extra checks on an answer, per role


def render(case: Case, person: Person, *, pair: tuple | None = None, x: int | None = None,
           token: int | None = None) -> str:
    """`token`: name the person by the analyst's token of them instead of by raw values."""
    date, city = pair or (person.signup_date, person.city)
    p, cp = ((f"customer_id = {token}", f"c.customer_id = {token}") if token is not None
             else (pair_predicate(date, city), pair_predicate(date, city, "c.")))
    return case.sql.format(p=p, cp=cp, x=x if x is not None else 0, city=person.city)


def pair_sides(case: Case, role: str, people: People, raw) -> tuple[list[str], list[Person]]:
    """The statements to run (one, or a pair) and the people judge 2 looks for."""
    extra = {"top": [people.top], "city_max": list(people.city_max), "": []}[case.targets]
    if case.pair is None:
        return [render(case, people.visible)], extra
    if case.pair == "person":
        who = people.suppressed if role == "analyst" else people.visible
        return [render(case, who), render(case, who, pair=raw.absent_pair(who))], [who, *extra]
    if case.pair == "income":
        who = people.visible
        income = who.annual_income
        return [render(case, who, x=income - 100), render(case, who, x=income + 100)], [who, *extra]
    if case.pair == "top":
        income = people.top.annual_income
        return [render(case, people.visible, x=income - 100), render(case, people.visible, x=income + 100)], \
            [people.top, *extra]
    raise ValueError(case.pair)


def check_case(case: Case, role: str, backend: str, ask, oracles, people, raw) -> None:
    statements, targets = pair_sides(case, role, people, raw)
    answers = [ask(role, sql) for sql in statements]
    # In a pair, any error is acceptable if both sides end in the same one (issue 7, class 5: the
    # outcome must not depend on the hidden value); alone, a statement answers or is refused.
    found = [p for a in answers for p in problems_of(a, oracles[role], targets, any_error=len(answers) == 2)]
    if case.expect:
        found += [p for a in answers for p in case.expect(a, role)]
    if len(answers) == 2:
        first, second = answers
        if first.outcome() != second.outcome():
            found.append(f"the outcome depends on the hidden {case.pair}: {describe(first)[:200]} "
                         f"<> {describe(second)[:200]}")
        if case.timing and abs(first.elapsed - second.elapsed) > TIME_SLACK:
            found.append(f"the time depends on the hidden {case.pair}: {first.elapsed:.2f} s <> {second.elapsed:.2f} s")
    verdict(role, backend, answers, found)


def ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def same_as_raw(sql: str) -> Callable[[Answer, str], list[str]]:
    """A statement that reads no table: if answered, the answer is DuckDB's own for it on the raw data."""
    def check(answer: Answer, role: str) -> list[str]:
        if not answer.ok:
            return []
        import duckdb
        with duckdb.connect() as con:
            expected = con.execute(sql).fetchall()
        got = sorted(map(normalize, answer.rows), key=repr)
        want = sorted(map(normalize, expected), key=repr)
        return [] if got == want else [f"answered {got[:5]}, but the statement means {want[:5]}"]
    return check


def names_are_not(*bad: list[str]) -> Callable[[Answer, str], list[str]]:
    def check(answer: Answer, role: str) -> list[str]:
        return [f"resolved to the CTE, not the table: columns {answer.names}"] if answer.ok and answer.names in bad else []
    return check


# ---- class 1: CTE self-reference, CTEs named like tables or like backend relations
CLASS1 = [
    Case("recursive-self-star", "WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT * FROM customers"),
    Case("recursive-self-count", "WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT count(*), sum(annual_income) FROM customers"),
    Case("recursive-self-calls", "WITH RECURSIVE calls AS (SELECT * FROM calls) SELECT customer_id, started_at FROM calls LIMIT 20"),
    Case("recursive-self-upper", 'WITH RECURSIVE CUSTOMERS AS (SELECT * FROM Customers) SELECT * FROM "customers"'),
    Case("recursive-self-quoted", 'WITH RECURSIVE "customers" AS (SELECT email, full_name FROM customers) SELECT * FROM customers'),
    Case("recursive-qualified-inner", "WITH RECURSIVE customers AS (SELECT * FROM public.customers) SELECT * FROM customers LIMIT 20"),
    Case("recursive-union-self-first", "WITH RECURSIVE customers AS (SELECT * FROM customers UNION ALL SELECT * FROM customers) SELECT * FROM customers LIMIT 5"),
    Case("recursive-second-cte", "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3), customers AS (SELECT * FROM customers) SELECT * FROM customers, r LIMIT 20"),
    Case("nonrecursive-self", "WITH customers AS (SELECT * FROM customers) SELECT * FROM customers LIMIT 20"),
    Case("nonrecursive-self-income", "WITH customers AS (SELECT annual_income, signup_date, city FROM customers) SELECT * FROM customers LIMIT 20"),
    Case("nested-with", "WITH a AS (WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT * FROM customers) SELECT * FROM a LIMIT 20"),
    Case("in-derived-table", "SELECT * FROM (WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT * FROM customers) s LIMIT 20"),
    Case("in-where-subquery", "SELECT count(*) FROM cell_towers WHERE city IN (WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT city FROM customers WHERE email LIKE '%@%')"),
    Case("pure-self", "WITH RECURSIVE x AS (SELECT * FROM x) SELECT * FROM x"),
    Case("legit-recursion", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r",
         expect=same_as_raw("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r")),
    Case("legit-recursion-named-customers",
         "WITH RECURSIVE customers(customer_id) AS (SELECT 1 UNION ALL SELECT customer_id + 1 FROM customers WHERE customer_id < 3) SELECT customer_id FROM customers",
         expect=same_as_raw("WITH RECURSIVE customers(customer_id) AS (SELECT 1 UNION ALL SELECT customer_id + 1 FROM customers WHERE customer_id < 3) SELECT customer_id FROM customers")),
    Case("shadow-table", "WITH customers AS (SELECT 1 AS x) SELECT * FROM customers",
         expect=same_as_raw("SELECT 1 AS x")),
    Case("duckdb-databases", "WITH RECURSIVE duckdb_databases AS (SELECT * FROM duckdb_databases) SELECT * FROM duckdb_databases"),
    Case("duckdb-databases-plain", "WITH duckdb_databases AS (SELECT * FROM duckdb_databases) SELECT * FROM duckdb_databases"),
    Case("duckdb-databases-fn", "WITH RECURSIVE d AS (SELECT * FROM duckdb_databases()) SELECT * FROM d"),
    Case("duckdb-settings", "WITH RECURSIVE duckdb_settings AS (SELECT * FROM duckdb_settings) SELECT * FROM duckdb_settings"),
    Case("duckdb-tables", "WITH RECURSIVE duckdb_tables AS (SELECT * FROM duckdb_tables) SELECT * FROM duckdb_tables"),
    Case("duckdb-columns", "WITH RECURSIVE duckdb_columns AS (SELECT * FROM duckdb_columns) SELECT * FROM duckdb_columns"),
    Case("sqlite-master", "WITH RECURSIVE sqlite_master AS (SELECT * FROM sqlite_master) SELECT * FROM sqlite_master"),
    Case("sqlite-schema", "WITH RECURSIVE sqlite_schema AS (SELECT * FROM sqlite_schema) SELECT sql FROM sqlite_schema"),
    Case("pragma-database-list", "WITH RECURSIVE pragma_database_list AS (SELECT * FROM pragma_database_list) SELECT * FROM pragma_database_list"),
    Case("pg-class", "WITH RECURSIVE pg_class AS (SELECT * FROM pg_class) SELECT relname FROM pg_class"),
    Case("pg-class-qualified", "WITH pg_class AS (SELECT * FROM pg_catalog.pg_class) SELECT relname FROM pg_class"),
    Case("pg-tables", "WITH RECURSIVE pg_tables AS (SELECT * FROM pg_tables) SELECT * FROM pg_tables"),
    Case("pg-settings", "WITH RECURSIVE pg_settings AS (SELECT * FROM pg_settings) SELECT name, setting FROM pg_settings"),
    Case("information-schema", "WITH RECURSIVE tables AS (SELECT * FROM information_schema.tables) SELECT * FROM tables"),
    Case("information-schema-columns", "WITH RECURSIVE columns AS (SELECT * FROM information_schema.columns) SELECT table_name, column_name FROM columns"),
    Case("cte-named-information-schema", 'WITH "information_schema.tables" AS (SELECT 1 AS x) SELECT * FROM information_schema.tables'),
]


# ---- class 2: identifiers, aliases, literals, comments holding the proxy's internal names
VIEW = "__anonproxy_view_customers"
CLASS2 = [
    Case("column-suffix", f"SELECT exists{VIEW}"),
    Case("column-suffix-from", f"SELECT exists{VIEW} FROM customers"),
    Case("alias", f"SELECT 1 AS exists{VIEW}", expect=same_as_raw(f"SELECT 1 AS exists{VIEW}")),
    Case("upper-cte", f"WITH LATERAL{VIEW.upper()} AS (SELECT 1 AS x) SELECT * FROM lateral{VIEW}",
         expect=same_as_raw("SELECT 1 AS x")),
    Case("upper-cte-over-table", f"WITH LATERAL{VIEW.upper()} AS (SELECT * FROM customers) SELECT * FROM lateral{VIEW} LIMIT 20"),
    Case("quoted-cte", f'WITH "{VIEW}" AS (SELECT 1 AS x) SELECT * FROM "{VIEW}"', expect=same_as_raw("SELECT 1 AS x")),
    Case("cte-exact-marker-over-table", f"WITH {VIEW} AS (SELECT * FROM customers) SELECT * FROM {VIEW} LIMIT 20"),
    Case("literal", f"SELECT '{VIEW}'", expect=same_as_raw(f"SELECT '{VIEW}'")),
    Case("literal-over-table", f"SELECT '{VIEW}' AS s, count(*) FROM customers"),
    Case("literal-dollar", f"SELECT $${VIEW}$$", expect=same_as_raw(f"SELECT '{VIEW}'")),
    Case("literal-computed", f"SELECT lower('{VIEW.upper()}') AS s", expect=same_as_raw(f"SELECT '{VIEW}' AS s")),
    Case("literal-in-where", f"SELECT count(*) FROM cell_towers WHERE city <> '{VIEW}'"),
    Case("comment-block", f"SELECT count(*) FROM cell_towers /* {VIEW} */"),
    Case("comment-line", f"SELECT count(*) FROM cell_towers -- {VIEW}\n"),
    Case("comment-in-customers", f"SELECT count(*) /* {VIEW} */ FROM customers"),
    Case("table-alias", f"SELECT {VIEW}.* FROM cell_towers AS {VIEW} LIMIT 5"),
    Case("table-alias-customers", f"SELECT {VIEW}.city FROM customers AS {VIEW} LIMIT 5"),
    Case("from-marker", f"SELECT * FROM {VIEW}"),
    Case("from-marker-upper-quoted", f'SELECT * FROM "{VIEW.upper()}"'),
    Case("from-marker-calls", "SELECT * FROM __anonproxy_view_calls"),
    Case("quoted-column-alias", 'SELECT city AS "x__anonproxy_view_customers_y" FROM cell_towers LIMIT 3'),
    Case("two-cased-aliases", f'SELECT 1 AS "{VIEW}", 2 AS "{VIEW.upper()}"'),
    Case("person-column", "SELECT __anonproxy_pu FROM customers"),
    Case("person-column-count", "SELECT count(DISTINCT __anonproxy_pu) FROM customers"),
    Case("person-column-alias", "SELECT c.__anonproxy_pu, c.annual_income FROM customers c"),
    Case("src-alias", "SELECT * FROM customers AS __anonproxy_src LIMIT 5"),
    Case("k-alias", "SELECT count(*) FROM customers AS __anonproxy_k"),
    Case("kin-cte", "WITH __anonproxy_kin AS (SELECT 1 AS x) SELECT * FROM __anonproxy_kin", expect=same_as_raw("SELECT 1 AS x")),
    Case("generated-cte-name", "WITH __anonproxy_cte_1 AS (SELECT 1 AS x) SELECT * FROM __anonproxy_cte_1",
         expect=same_as_raw("SELECT 1 AS x")),
    Case("generated-cte-collision",
         "WITH a AS (SELECT 1 AS x), __anonproxy_cte_1 AS (SELECT 2 AS x) SELECT a.x, __anonproxy_cte_1.x FROM a, __anonproxy_cte_1",
         expect=same_as_raw("SELECT 1 AS x, 2 AS x")),
    Case("upper-cte-shadows-table", "WITH CUSTOMERS AS (SELECT 1 AS x) SELECT * FROM customers", expect=same_as_raw("SELECT 1 AS x")),
    Case("quoted-upper-cte-does-not-shadow", 'WITH "CUSTOMERS" AS (SELECT 1 AS x) SELECT * FROM customers LIMIT 5',
         expect=names_are_not(["x"])),
    Case("mixed-case-quoted-table", 'SELECT * FROM "Customers" LIMIT 5'),
    # the proxy's own columns must not surface when a client's star expands a derived table
    Case("star-over-derived", "SELECT count(*) FROM (SELECT * FROM (SELECT city FROM customers) AS i) AS o"),
    Case("star-and-column-over-derived", "SELECT count(*) FROM (SELECT 1 AS v, * FROM (SELECT city FROM customers) AS i) AS o"),
    Case("qualified-star-over-derived", "SELECT count(*) FROM (SELECT i.*, 1 AS v FROM (SELECT city FROM customers) AS i) AS o"),
]


# ---- class 3: output column names are computed by the proxy, never the backend's text
NAMES = {
    "analyst": [
        "SELECT customer_id FROM customers LIMIT 3",
        "SELECT customer_id, email, phone, birth_date, zip, annual_income FROM customers LIMIT 3",
        "SELECT upper(email), lower(phone), length(zip) FROM customers LIMIT 3",
        "SELECT customer_id + 0, annual_income * 1, -annual_income FROM customers LIMIT 3",
        "SELECT customer_id::text, CAST(email AS varchar(5)), birth_date::timestamp FROM customers LIMIT 3",
        "SELECT (customer_id), ((email)) FROM customers LIMIT 3",
        "SELECT c.customer_id, c.email FROM customers c LIMIT 3",
        "SELECT coalesce(email, phone), nullif(zip, '000'), greatest(annual_income, 0) FROM customers LIMIT 3",
        "SELECT CASE WHEN zip > '1' THEN email END FROM customers LIMIT 3",
        "SELECT email || phone, zip || '' FROM customers LIMIT 3",
        "SELECT (SELECT email FROM customers ORDER BY 1 LIMIT 1)",
        "SELECT ARRAY[email, phone] FROM customers LIMIT 3",
        "SELECT count(customer_id), max(email), min(birth_date) FROM customers",
        "SELECT c.customer_id, d.email FROM customers c JOIN customers d USING (customer_id) LIMIT 3",
        "SELECT date_trunc('year', birth_date), EXTRACT(year FROM birth_date) FROM customers LIMIT 3",
        "SELECT customer_id IS NULL, email LIKE 'a%' FROM customers LIMIT 3",
        "SELECT md5(email), substr(phone, 1, 3) FROM customers LIMIT 3",
        "SELECT x.customer_id FROM (SELECT customer_id FROM customers) x LIMIT 3",
        "WITH t AS (SELECT email FROM customers) SELECT email FROM t LIMIT 3",
        "SELECT customer_id FROM customers UNION ALL SELECT customer_id FROM calls LIMIT 3",
        "SELECT row_number() OVER (ORDER BY customer_id), customer_id FROM customers LIMIT 3",
        "SELECT c FROM customers c LIMIT 3",
    ],
    "reporter": [
        "SELECT count(*) FROM customers",
        "SELECT count(*), sum(annual_income), avg(annual_income), count(DISTINCT customer_id) FROM customers",
        "SELECT zip, count(*) FROM customers GROUP BY zip",
        "SELECT birth_date, gender, count(*) FROM customers GROUP BY birth_date, gender",
        "SELECT date_trunc('month', started_at), count(*) FROM calls GROUP BY 1",
        "SELECT count(customer_id), sum(duration_s) + 0, sum(cost) * 1 FROM calls",
        "SELECT count(*)::text, CAST(sum(annual_income) AS bigint) FROM customers",
        "SELECT c.region, count(k.call_id) FROM calls k JOIN customers c ON c.customer_id = k.customer_id GROUP BY c.region",
        "SELECT region, count(*) FILTER (WHERE gender = 'F') FROM customers GROUP BY region",
        "SELECT t.region, count(*) FROM calls k JOIN cell_towers t ON t.cell_id = k.cell_id GROUP BY t.region",
        "SELECT segment, round(avg(annual_income)) FROM customers GROUP BY segment",
        "WITH t AS (SELECT city, count(*) AS n FROM customers GROUP BY city) SELECT avg(n) FROM t",
        "SELECT city, count(*) FROM customers GROUP BY city HAVING count(*) > 100 ORDER BY 2 DESC LIMIT 5",
        "SELECT (customers.region), count(customers.customer_id) FROM customers GROUP BY customers.region",
    ],
    "partner": [
        "SELECT * FROM cell_towers LIMIT 3",
        "SELECT upper(city), lat + lon, cell_id::text FROM cell_towers LIMIT 3",
        "SELECT t.city, count(*) FROM cell_towers t GROUP BY t.city",
        "SELECT (cell_id), -lat, CASE WHEN lat > 0 THEN city END FROM cell_towers LIMIT 3",
        "SELECT coalesce(city, region), ARRAY[city] FROM cell_towers LIMIT 3",
        "SELECT cell_towers FROM cell_towers LIMIT 3",
        "SELECT max(lat), min(lon), avg(lat) FROM cell_towers",
        "SELECT 1, 'x', NULL",
    ],
}
NAME_CASES = [(role, sql) for role, statements in NAMES.items() for sql in statements]
BACKEND_TEXT = ("sha256", "unhex", "decode(", "encode(", "convert_to", "(", "__anonproxy", "::", " ")


@pytest.fixture(scope="module")
def pg_names(request):
    """PostgreSQL's own output names for a statement, from the raw PostgreSQL copy of the demo data."""
    pg_demo = request.getfixturevalue("pg_demo")
    conn = psycopg.connect(pg_demo.dsn(dbname="demo"), autocommit=True)
    cache: dict[str, list[str] | None] = {}

    def names(sql: str) -> list[str] | None:
        if sql not in cache:
            try:
                cur = conn.execute(sql, prepare=False)
                cache[sql] = [d.name for d in cur.description]
            except psycopg.Error:
                cache[sql] = None
        return cache[sql]
    yield names
    conn.close()


@pytest.mark.parametrize("role,sql", NAME_CASES, ids=[f"{r}-{i:02d}" for i, (r, _) in enumerate(NAME_CASES)])
def test_class3_output_names_follow_postgres(role, sql, backend, ask, oracles, pg_names):
    answer = ask(role, sql)
    found = problems_of(answer, oracles[role])
    if answer.ok:
        for name in answer.names:
            if len(name.encode()) > 63:
                found.append(f"a name longer than PostgreSQL's 63 bytes: {name[:80]!r}...")
            lowered = name.lower()
            found += [f"backend text {bit!r} in the name {name[:80]!r}" for bit in BACKEND_TEXT
                      if bit in lowered and name != "?column?"]
        expected = pg_names(sql)
        if expected is not None and answer.names != expected:
            found.append(f"names {answer.names} where PostgreSQL names them {expected}")
    verdict(role, backend, [answer], found)


@pytest.mark.parametrize("role,table", [("analyst", "customers"), ("analyst", "calls"), ("partner", "cell_towers")])
def test_class3_star_names_are_the_views_columns(role, table, backend, ask, oracles, raw):
    answer = ask(role, f"SELECT * FROM {table} LIMIT 3")
    found = problems_of(answer, oracles[role])
    stored = [r[0] for r in raw.sql(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' "
                                     f"ORDER BY ordinal_position")]
    hidden = {"full_name"} if table == "customers" else set()
    if not answer.ok:
        found.append(f"{role} may read {table}: {answer.error}")
    elif answer.names != [c for c in stored if c not in hidden]:
        found.append(f"names {answer.names}, expected the view's columns {[c for c in stored if c not in hidden]}")
    verdict(role, backend, [answer], found)


# ---- class 4: aggregate mode (the reporter's), run for every role
CLASS4 = [
    # row-level private subqueries under public or source-less outer queries
    Case("in-series", "SELECT x FROM generate_series(0, 600000, 100) AS t(x) WHERE x IN (SELECT annual_income FROM customers WHERE {p})", "person"),
    Case("in-unnest-series", "SELECT x FROM unnest(generate_series(0, 600000, 100)) AS t(x) WHERE x IN (SELECT annual_income FROM customers WHERE {p})", "person"),
    Case("any-max", "SELECT count(*) FROM cell_towers WHERE {x} < ANY (SELECT annual_income FROM customers)", "top"),
    Case("all-max", "SELECT count(*) FROM cell_towers WHERE {x} >= ALL (SELECT annual_income FROM customers)", "top"),
    Case("exists", "SELECT count(*) FROM cell_towers WHERE EXISTS (SELECT 1 FROM customers WHERE {p})", "person"),
    Case("exists-income", "SELECT count(*) FROM cell_towers WHERE EXISTS (SELECT 1 FROM customers WHERE {p} AND annual_income >= {x})", "income"),
    Case("in-city", "SELECT city, count(*) FROM cell_towers WHERE city IN (SELECT city FROM customers WHERE {p}) GROUP BY city", "person"),
    Case("scalar", "SELECT (SELECT annual_income FROM customers WHERE {p})", "person"),
    Case("scalar-arith", "SELECT (SELECT annual_income FROM customers WHERE {p}) + 0 AS v", "person"),
    Case("on-public", "SELECT count(*) FROM cell_towers t JOIN customers c ON c.city = t.city AND {cp}", "person"),
    Case("on-public-income", "SELECT count(*) FROM cell_towers t JOIN customers c ON c.city = t.city AND {cp} AND c.annual_income >= {x}", "income"),
    Case("having-exists", "SELECT region, count(*) FROM cell_towers GROUP BY region HAVING EXISTS (SELECT 1 FROM customers WHERE {p} AND annual_income >= {x})", "income"),
    Case("having-scalar", "SELECT region, count(*) FROM cell_towers GROUP BY region HAVING count(*) * 10000 < (SELECT annual_income FROM customers WHERE {p})", "person"),
    Case("rank-of-income", "SELECT count(*) FROM customers WHERE annual_income < (SELECT annual_income FROM customers WHERE {p})", "person"),
    Case("rank-in-calls", "SELECT count(*) FROM calls WHERE duration_s * 100 < (SELECT annual_income FROM customers WHERE {p})", "person"),
    Case("sourceless-where", "SELECT 1 AS one WHERE (SELECT annual_income FROM customers WHERE {p}) >= {x}", "income"),
    Case("row-encodes-income", "SELECT cell_id FROM cell_towers WHERE cell_id = 1000 + (SELECT annual_income FROM customers WHERE {p}) / 100 % 246", "person"),
    Case("lateral-public", "SELECT t.city, s.n FROM cell_towers t, LATERAL (SELECT count(*) AS n FROM customers c WHERE c.city = t.city AND {cp}) s", "person"),
    Case("cte-cross-public", "WITH s AS (SELECT annual_income FROM customers WHERE {p}) SELECT count(*) FROM cell_towers, s WHERE s.annual_income >= {x}", "income"),
    Case("union-row", "SELECT count(*) FROM cell_towers UNION ALL SELECT annual_income FROM customers WHERE {p}", "person"),
    # conditional aggregates
    Case("filter-sum", "SELECT sum(annual_income) FILTER (WHERE {p}) FROM customers", "person"),
    Case("filter-avg", "SELECT avg(annual_income) FILTER (WHERE {p}), count(*) FROM customers", "person"),
    Case("filter-count", "SELECT count(*) FILTER (WHERE {p}) FROM customers", "person"),
    Case("filter-count-income", "SELECT count(*) FILTER (WHERE {p} AND annual_income >= {x}) FROM customers", "income"),
    Case("filter-grouped", "SELECT region, sum(annual_income) FILTER (WHERE {p}) FROM customers GROUP BY region", "person"),
    Case("filter-distinct", "SELECT count(DISTINCT customer_id) FILTER (WHERE {p}) FROM customers", "person"),
    Case("filter-join", "SELECT sum(k.duration_s) FILTER (WHERE {cp}) FROM calls k JOIN customers c ON c.customer_id = k.customer_id", "person"),
    Case("filter-join-income", "SELECT count(*) FILTER (WHERE {cp} AND c.annual_income >= {x}) FROM calls k JOIN customers c ON c.customer_id = k.customer_id", "income"),
    Case("case-sum", "SELECT sum(CASE WHEN {p} THEN annual_income ELSE 0 END) FROM customers", "person"),
    Case("case-count", "SELECT sum(CASE WHEN {p} THEN 1 ELSE 0 END) FROM customers", "person"),
    Case("case-max", "SELECT max(CASE WHEN {p} THEN annual_income END) FROM customers", "person"),
    Case("case-times", "SELECT sum(annual_income * CASE WHEN {p} THEN 1 ELSE 0 END) FROM customers", "person"),
    Case("case-income", "SELECT sum(CASE WHEN {p} AND annual_income >= {x} THEN 1 ELSE 0 END) FROM customers", "income"),
    Case("bool-or", "SELECT bool_or({p}) FROM customers", "person"),
    # one statement's own differencing: the total less everyone else is the person
    Case("difference-filter", "SELECT sum(annual_income) - sum(annual_income) FILTER (WHERE NOT ({p})) FROM customers", "person"),
    Case("difference-count", "SELECT count(*) - count(*) FILTER (WHERE NOT ({p})) FROM customers", "person"),
    Case("difference-grouped", "SELECT region, sum(annual_income) - sum(annual_income) FILTER (WHERE NOT ({p})) FROM customers GROUP BY region", "person"),
    Case("difference-or", "SELECT sum(annual_income) FILTER (WHERE ({p}) OR city <> '{city}') - sum(annual_income) FILTER (WHERE city <> '{city}') FROM customers", "person"),
    Case("difference-subqueries", "SELECT (SELECT sum(annual_income) FROM customers) - (SELECT sum(annual_income) FROM customers WHERE NOT ({p}))", "person"),
    # a set-returning function whose size depends on one person's row multiplies a k-compliant count
    Case("srf-multiplies-count", "SELECT count(*) FROM customers c, generate_series(1, CASE WHEN {cp} THEN 1000 ELSE 1 END) AS g(i)", "person"),
    Case("srf-income", "SELECT count(*) FROM customers c, generate_series(1, CASE WHEN {cp} AND c.annual_income >= {x} THEN 1000 ELSE 1 END) AS g(i)", "income"),
    Case("srf-unnest", "SELECT count(*) FROM customers c, unnest(CASE WHEN {cp} THEN ARRAY[1, 2, 3] ELSE ARRAY[1] END) AS u(v)", "person"),
    Case("srf-select-list", "SELECT count(*) FROM (SELECT generate_series(1, CASE WHEN {p} THEN 1000 ELSE 1 END) AS i FROM customers) s", "person"),
    Case("srf-lateral", "SELECT count(*) FROM customers c, LATERAL (SELECT i FROM generate_series(1, CASE WHEN {cp} THEN 1000 ELSE 1 END) AS g(i)) s", "person"),
    Case("bit-or-filter", "SELECT bit_or(annual_income) FILTER (WHERE {p}) FROM customers", "person"),
    Case("any-value-filter", "SELECT any_value(annual_income) FILTER (WHERE {p}) FROM customers", "person"),
    # window functions inside derived tables, CTEs and subqueries
    Case("window-max-derived", "SELECT avg(m) FROM (SELECT max(annual_income) OVER () AS m FROM customers) t", targets="top"),
    Case("window-first-value", "SELECT avg(m) FROM (SELECT first_value(annual_income) OVER (ORDER BY annual_income DESC) AS m FROM customers) t", targets="top"),
    Case("window-filter", "SELECT avg(m) FROM (SELECT sum(annual_income) FILTER (WHERE {p}) OVER () AS m FROM customers) t", "person"),
    Case("window-row-number", "SELECT count(*) FROM (SELECT row_number() OVER (ORDER BY annual_income DESC) AS rn, annual_income FROM customers) t WHERE rn = 1 AND annual_income >= {x}", "top"),
    Case("window-city-max-cte", "WITH w AS (SELECT city, max(annual_income) OVER (PARTITION BY city) AS m FROM customers) SELECT city, avg(m) FROM w GROUP BY city", targets="city_max"),
    Case("window-nth-value", "SELECT city, avg(m) FROM (SELECT city, nth_value(annual_income, 1) OVER (PARTITION BY city ORDER BY annual_income DESC) AS m FROM customers) t GROUP BY city", targets="city_max"),
    Case("window-in-where", "SELECT count(*) FROM cell_towers WHERE {x} < (SELECT max(m) FROM (SELECT max(annual_income) OVER () AS m FROM customers) t)", "top"),
    Case("window-rank-cte", "WITH r AS (SELECT annual_income, rank() OVER (ORDER BY annual_income DESC) AS rk FROM customers) SELECT sum(annual_income) FROM r WHERE rk = 1", targets="top"),
    # aggregates nobody listed
    Case("json-object-agg", "SELECT json_object_agg(customer_id, annual_income) FROM customers", targets="top"),
    Case("jsonb-object-agg-city", "SELECT jsonb_object_agg(city, annual_income) FROM customers"),
    Case("json-agg", "SELECT json_agg(annual_income) FROM customers", targets="top"),
    Case("array-agg", "SELECT array_agg(annual_income) FROM customers", targets="top"),
    Case("array-agg-distinct-group", "SELECT city, array_agg(DISTINCT annual_income) FROM customers GROUP BY city"),
    Case("string-agg", "SELECT string_agg(CAST(annual_income AS text), ',') FROM customers", targets="top"),
    Case("list", "SELECT list(annual_income) FROM customers", targets="top"),
    Case("array-unique-agg", "SELECT array_unique_agg(annual_income) FROM customers", targets="top"),
    Case("approx-top-k", "SELECT approx_top_k(annual_income, 5) FROM customers WHERE annual_income > 400000", targets="top"),
    Case("approx-quantile", "SELECT approx_quantile(annual_income, 1.0) FROM customers", targets="top"),
    Case("quantile-disc", "SELECT quantile_disc(annual_income, 1.0) FROM customers", targets="top"),
    Case("percentile-disc", "SELECT percentile_disc(1.0) WITHIN GROUP (ORDER BY annual_income) FROM customers", targets="top"),
    Case("histogram", "SELECT histogram(annual_income) FROM customers", targets="top"),
    Case("arg-max", "SELECT arg_max(annual_income, annual_income) FROM customers", targets="top"),
    Case("max-by-token", "SELECT max_by(customer_id, annual_income) FROM customers"),
    Case("first-ordered", "SELECT first(annual_income ORDER BY annual_income DESC) FROM customers", targets="top"),
    Case("max", "SELECT max(annual_income) FROM customers", targets="top"),
    Case("greatest-agg", "SELECT max(greatest(annual_income, 0)) FROM customers", targets="top"),
]


# ---- class 5: errors and time conditioned on one person's hidden value (X just below / above it)
CLASS5 = [
    Case("cast-int", "SELECT count(*) FROM customers WHERE CAST(CASE WHEN {p} AND annual_income >= {x} THEN 'x' ELSE '1' END AS int) = 1", "income"),
    Case("division", "SELECT count(*) FROM customers WHERE 1 / (CASE WHEN {p} AND annual_income >= {x} THEN 0 ELSE 1 END) = 1", "income"),
    Case("sqrt", "SELECT count(*) FROM customers WHERE sqrt(CASE WHEN {p} AND annual_income >= {x} THEN -1 ELSE 1 END) > 0", "income"),
    Case("ln", "SELECT count(*) FROM customers WHERE ln(CASE WHEN {p} AND annual_income >= {x} THEN 0 ELSE 1 END) >= 0", "income"),
    Case("cast-date", "SELECT count(*) FROM customers WHERE CAST(CASE WHEN {p} AND annual_income >= {x} THEN 'not a date' ELSE '2020-01-01' END AS date) IS NOT NULL", "income"),
    Case("overflow", "SELECT count(*) FROM customers WHERE CAST(CASE WHEN {p} AND annual_income >= {x} THEN 99999999999 ELSE 1 END AS int) = 1", "income"),
    Case("cast-city", "SELECT count(*) FROM customers WHERE CAST(CASE WHEN {p} AND annual_income >= {x} THEN city ELSE '1' END AS int) = 1", "income"),
    Case("similar-to", "SELECT count(*) FROM customers WHERE city SIMILAR TO (CASE WHEN {p} AND annual_income >= {x} THEN '(' ELSE '%' END)", "income"),
    Case("select-list", "SELECT count(*), sum(1 / (CASE WHEN {p} AND annual_income >= {x} THEN 0 ELSE 1 END)) FROM customers", "income"),
    Case("filter", "SELECT count(*) FILTER (WHERE 1 / (CASE WHEN {p} AND annual_income >= {x} THEN 0 ELSE 1 END) = 1) FROM customers", "income"),
    Case("join-on", "SELECT count(*) FROM calls k JOIN customers c ON c.customer_id = k.customer_id AND 1 / (CASE WHEN {cp} AND c.annual_income >= {x} THEN 0 ELSE 1 END) = 1", "income"),
    Case("subquery-count", "SELECT count(*) FROM cell_towers WHERE 1 / (SELECT count(*) FROM customers WHERE {p} AND annual_income >= {x}) = 1", "income"),
    Case("having", "SELECT region, count(*) FROM customers GROUP BY region HAVING sum(1 / (CASE WHEN {p} AND annual_income >= {x} THEN 0 ELSE 1 END)) > 0", "income"),
    Case("group-by", "SELECT count(*) FROM customers GROUP BY 1 / (CASE WHEN {p} AND annual_income >= {x} THEN 0 ELSE 1 END)", "income"),
    Case("order-by", "SELECT region, count(*) FROM customers GROUP BY region ORDER BY sum(CAST(CASE WHEN {p} AND annual_income >= {x} THEN 'x' ELSE '1' END AS int))", "income"),
    Case("cte", "WITH s AS (SELECT 1 / (CASE WHEN {p} AND annual_income >= {x} THEN 0 ELSE 1 END) AS v FROM customers) SELECT count(*) FROM s", "income"),
    Case("exists", "SELECT count(*) FROM cell_towers WHERE EXISTS (SELECT 1 FROM customers WHERE {p} AND CAST(CASE WHEN annual_income >= {x} THEN 'x' ELSE '1' END AS int) = 1)", "income"),
    Case("repeat-time", "SELECT count(*) FROM customers WHERE length(repeat(city, CASE WHEN {p} AND annual_income >= {x} THEN 5000000 ELSE 1 END)) > 0", "income", timing=True),
    Case("lpad-time", "SELECT count(*) FROM customers WHERE length(lpad(city, CASE WHEN {p} AND annual_income >= {x} THEN 20000000 ELSE 1 END, 'x')) > 0", "income", timing=True),
    Case("srf-time", "SELECT count(*) FROM customers c, generate_series(1, CASE WHEN {cp} AND c.annual_income >= {x} THEN 3000000 ELSE 1 END) AS g(i)", "income", timing=True),
    Case("repeat-in-select", "SELECT sum(length(repeat(city, CASE WHEN {p} AND annual_income >= {x} THEN 5000000 ELSE 1 END))) FROM customers", "income", timing=True),
]


# ---- class 6: a row outside the analyst's k-filter behaves exactly as a row that does not exist
CLASS6 = [
    Case("division", "SELECT count(*) FROM customers WHERE 1 / (CASE WHEN {p} THEN 0 ELSE 1 END) = 1", "person"),
    Case("cast", "SELECT count(*) FROM customers WHERE CAST(CASE WHEN {p} THEN 'x' ELSE '1' END AS int) = 1", "person"),
    Case("cast-join", "SELECT count(*) FROM calls k JOIN customers c ON c.customer_id = k.customer_id WHERE CAST(CASE WHEN {cp} THEN 'x' ELSE '1' END AS int) = 1", "person"),
    Case("cast-having", "SELECT city, count(*) FROM customers GROUP BY city HAVING sum(CAST(CASE WHEN {p} THEN 'x' ELSE '1' END AS int)) > 0", "person"),
    Case("cast-cte", "WITH s AS (SELECT * FROM customers WHERE CAST(CASE WHEN {p} THEN 'x' ELSE '1' END AS int) = 1) SELECT count(*) FROM s", "person"),
    Case("cast-select", "SELECT segment, CAST(CASE WHEN {p} THEN 'x' ELSE '1' END AS int) AS v FROM customers WHERE city = '{city}'", "person"),
    Case("select-list", "SELECT segment, 1 / (CASE WHEN {p} THEN 0 ELSE 1 END) AS v FROM customers WHERE city = '{city}'", "person"),
    Case("join-where", "SELECT count(*) FROM calls k JOIN customers c ON c.customer_id = k.customer_id WHERE 1 / (CASE WHEN {cp} THEN 0 ELSE 1 END) = 1", "person"),
    Case("join-on", "SELECT count(*) FROM calls k JOIN customers c ON c.customer_id = k.customer_id AND 1 / (CASE WHEN {cp} THEN 0 ELSE 1 END) = 1", "person"),
    Case("in-subquery", "SELECT count(*) FROM cell_towers WHERE city IN (SELECT city FROM customers WHERE 1 / (CASE WHEN {p} THEN 0 ELSE 1 END) = 1)", "person"),
    Case("exists", "SELECT count(*) FROM cell_towers WHERE EXISTS (SELECT 1 FROM customers WHERE {p})", "person"),
    Case("count", "SELECT count(*) FROM customers WHERE {p}", "person"),
    Case("row", "SELECT customer_id, email, birth_date, zip, annual_income FROM customers WHERE {p}", "person"),
    Case("having", "SELECT city, count(*) FROM customers GROUP BY city HAVING sum(1 / (CASE WHEN {p} THEN 0 ELSE 1 END)) > 0", "person"),
    Case("order-by", "SELECT segment FROM customers WHERE city = '{city}' ORDER BY 1 / (CASE WHEN {p} THEN 0 ELSE 1 END), segment LIMIT 3", "person"),
    Case("cte", "WITH s AS (SELECT * FROM customers WHERE 1 / (CASE WHEN {p} THEN 0 ELSE 1 END) = 1) SELECT count(*) FROM s", "person"),
    Case("lateral", "SELECT count(*) FROM cell_towers t, LATERAL (SELECT 1 AS one FROM customers c WHERE c.city = t.city AND 1 / (CASE WHEN {cp} THEN 0 ELSE 1 END) = 1 LIMIT 1) s", "person"),
    Case("window", "SELECT count(*) FROM (SELECT sum(1 / (CASE WHEN {p} THEN 0 ELSE 1 END)) OVER () AS s FROM customers) t", "person"),
    Case("calls-of", "SELECT count(*) FROM calls WHERE customer_id IN (SELECT customer_id FROM customers WHERE {p})", "person"),
    Case("time", "SELECT count(*) FROM customers WHERE length(repeat(city, CASE WHEN {p} THEN 5000000 ELSE 1 END)) > 0", "person", timing=True),
]


@pytest.mark.parametrize("case", [c for c in CLASS6 if c.id.startswith(("cast", "division"))], ids=lambda c: c.id)
def test_class6_the_probe_fires_on_a_row_the_analyst_sees(case, backend, ask, people, raw):
    """The pair check is not blind: the same probe on a customer inside the k-filter, named
    by the token the analyst sees, does raise, wherever the absent one answers.
    (A division by zero is an error on DuckDB too: the proxy divides as PostgreSQL does.)"""
    absent = ask("analyst", render(case, people.visible, pair=raw.absent_pair(people.visible)))
    seen = ask("analyst", render(case, people.visible, token=raw.token_of(people.visible)))
    if absent.ok:
        assert seen.sqlstate is not None and seen.sqlstate.startswith("22"), \
            f"{seen.sql!r} -> {describe(seen)}: the probe did not fire on a visible row"
    assert seen.usable and absent.usable


# ---- classes 1, 2, 4, 5, 6: every case for every role on both backends
LEAK_CASES = [pytest.param(case, id=f"class{n}-{case.id}")
              for n, cases in ((1, CLASS1), (2, CLASS2), (4, CLASS4), (5, CLASS5), (6, CLASS6)) for case in cases]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", LEAK_CASES)
def test_no_statement_reaches_what_the_policy_hides(case, role, backend, ask, oracles, people, raw, request):
    if role == "reporter" and case.id.startswith("difference-"):
        # Aggregate mode does not stop differencing (DESIGN.md section 3, principle 4; README):
        # two aggregates of k people each, subtracted, leave one person. Pinned as failing, so
        # the README's warning stays true, and a change that closes it is noticed.
        request.applymarker(pytest.mark.xfail(strict=True, reason="differencing: aggregate mode's stated limit; use dp"))
    check_case(case, role, backend, ask, oracles, people, raw)


# ---- class 7: limits
def nested(depth: int, open_: str, close: str, core: str = "1") -> str:
    return open_ * depth + core + close * depth


CLASS7_REFUSED = [
    ("parentheses", "SELECT " + nested(3000, "(", ")")),
    ("parentheses-where", "SELECT count(*) FROM cell_towers WHERE " + nested(3000, "(", ")", "true")),
    ("parentheses-customers", "SELECT count(*) FROM customers WHERE " + nested(3000, "(", ")", "annual_income > 0")),
    ("function-calls", "SELECT " + nested(3000, "abs(", ")")),
    ("not-chain", "SELECT " + "NOT " * 3000 + "true"),
    ("case-chain", "SELECT " + "CASE WHEN true THEN " * 3000 + "1" + " END" * 3000),
    ("scalar-subqueries", "SELECT " + nested(1500, "(SELECT ", ")")),
    ("arrays", "SELECT " + nested(3000, "ARRAY[", "]")),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name,sql", CLASS7_REFUSED, ids=[n for n, _ in CLASS7_REFUSED])
def test_class7_deep_nesting_is_refused_with_54001(name, sql, role, backend, ask, oracles):
    answer = ask(role, sql)
    found = problems_of(answer, oracles[role])
    if answer.sqlstate != "54001":
        found.append(f"expected 54001 (statement too complex), got {describe(answer)[:200]}")
    verdict(role, backend, [dataclasses.replace(answer, sql=sql[:120] + "...")], found)


@pytest.mark.parametrize("role", ROLES)
def test_class7_a_long_flat_statement_answers_or_is_refused_cleanly(role, backend, ask, oracles):
    """3,000 terms side by side (a flat list, not a nesting) and a 200,000-item IN list:
    answered correctly or refused with 54000/54001; never a dropped session."""
    for sql, expected in [("SELECT " + " + ".join(["1"] * 3000), [(3000,)]),
                          ("SELECT count(*) FROM cell_towers WHERE cell_id IN (" + ", ".join(map(str, range(200_000))) + ")",
                           None)]:
        answer = ask(role, sql)
        found = answer.internal_problems() + oracles[role].judge(answer)
        if answer.ok and expected is not None and answer.rows != expected:
            found.append(f"answered {answer.rows}, expected {expected}")
        if not answer.ok and answer.sqlstate not in REFUSALS | {"54000"}:
            found.append(f"neither an answer nor a clear refusal: {answer.error[:200]}")
        verdict(role, backend, [dataclasses.replace(answer, sql=sql[:100] + "...")], found)


# ---------------------------------------------------------------------------------------------- ordinary reports

K = 10
# (the reporter's statement, the same report computed on the raw tables with groups of fewer than K distinct
# customers removed, whether the order of the rows is part of the answer)
REPORTS = [
    ("SELECT city, count(*), count(DISTINCT customer_id), sum(annual_income), avg(annual_income) FROM customers GROUP BY city",
     f"SELECT city, count(*), count(DISTINCT customer_id), sum(annual_income), avg(annual_income) FROM customers "
     f"GROUP BY city HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT birth_date, zip, count(*), sum(annual_income) FROM customers GROUP BY birth_date, zip",
     f"SELECT CAST(date_trunc('year', birth_date) AS DATE), left(zip, 3), count(*), sum(annual_income) FROM customers "
     f"GROUP BY 1, 2 HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT city, segment, gender, count(*) FROM customers GROUP BY 1, 2, 3",
     f"SELECT city, segment, gender, count(*) FROM customers GROUP BY 1, 2, 3 HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT c.region, count(*), count(DISTINCT k.customer_id), sum(k.duration_s) FROM calls k "
     "JOIN customers c ON c.customer_id = k.customer_id GROUP BY c.region",
     f"SELECT c.region, count(*), count(DISTINCT k.customer_id), sum(k.duration_s) FROM calls k "
     f"JOIN customers c ON c.customer_id = k.customer_id GROUP BY c.region HAVING count(DISTINCT k.customer_id) >= {K}", False),
    ("SELECT t.city, count(*), sum(k.cost) FROM calls k JOIN cell_towers t ON t.cell_id = k.cell_id GROUP BY t.city",
     f"SELECT t.city, count(*), sum(k.cost) FROM calls k JOIN cell_towers t ON t.cell_id = k.cell_id GROUP BY t.city "
     f"HAVING count(DISTINCT k.customer_id) >= {K}", False),
    ("SELECT c.segment, t.region, count(*), avg(k.duration_s) FROM calls k JOIN customers c ON c.customer_id = k.customer_id "
     "JOIN cell_towers t ON t.cell_id = k.cell_id GROUP BY c.segment, t.region",
     f"SELECT c.segment, t.region, count(*), avg(k.duration_s) FROM calls k JOIN customers c ON c.customer_id = k.customer_id "
     f"JOIN cell_towers t ON t.cell_id = k.cell_id GROUP BY c.segment, t.region HAVING count(DISTINCT k.customer_id) >= {K}", False),
    ("SELECT date_trunc('month', started_at) AS month, count(*), count(DISTINCT customer_id) FROM calls GROUP BY 1",
     f"SELECT date_trunc('month', started_at) AS month, count(*), count(DISTINCT customer_id) FROM calls GROUP BY 1 "
     f"HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT date_trunc('year', signup_date) AS y, segment, count(*) FROM customers GROUP BY 1, 2",
     f"SELECT date_trunc('year', signup_date) AS y, segment, count(*) FROM customers GROUP BY 1, 2 "
     f"HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT city, count(*) FROM customers GROUP BY city HAVING count(*) > 200",
     f"SELECT city, count(*) FROM customers GROUP BY city HAVING count(*) > 200 AND count(DISTINCT customer_id) >= {K}", False),
    ("SELECT segment, gender, avg(annual_income) FROM customers GROUP BY 1, 2 HAVING avg(annual_income) > 50000",
     f"SELECT segment, gender, avg(annual_income) FROM customers GROUP BY 1, 2 "
     f"HAVING avg(annual_income) > 50000 AND count(DISTINCT customer_id) >= {K}", False),
    ("SELECT city, count(*) AS n FROM customers GROUP BY city ORDER BY n DESC, city LIMIT 5",
     f"SELECT city, count(*) AS n FROM customers GROUP BY city HAVING count(DISTINCT customer_id) >= {K} "
     f"ORDER BY n DESC, city LIMIT 5", True),
    ("SELECT c.city, sum(k.duration_s) AS total FROM calls k JOIN customers c ON c.customer_id = k.customer_id "
     "GROUP BY c.city ORDER BY total DESC LIMIT 3",
     f"SELECT c.city, sum(k.duration_s) AS total FROM calls k JOIN customers c ON c.customer_id = k.customer_id "
     f"GROUP BY c.city HAVING count(DISTINCT k.customer_id) >= {K} ORDER BY total DESC LIMIT 3", True),
    ("WITH t AS (SELECT city, count(*) n FROM customers GROUP BY city) SELECT avg(n) FROM t",
     f"WITH t AS (SELECT city, count(*) n FROM customers GROUP BY city HAVING count(DISTINCT customer_id) >= {K}) "
     f"SELECT avg(n) FROM t", False),
    ("SELECT sum(n), count(*) FROM (SELECT region, count(*) AS n FROM customers GROUP BY region) s",
     f"SELECT sum(n), count(*) FROM (SELECT region, count(*) AS n FROM customers GROUP BY region "
     f"HAVING count(DISTINCT customer_id) >= {K}) s", False),
    ("SELECT region, count(*), sum(annual_income) FROM customers WHERE gender = 'F' AND annual_income BETWEEN 20000 AND 90000 GROUP BY region",
     f"SELECT region, count(*), sum(annual_income) FROM customers WHERE gender = 'F' AND annual_income BETWEEN 20000 AND 90000 "
     f"GROUP BY region HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT count(*), count(DISTINCT customer_id), sum(annual_income), avg(annual_income) FROM customers",
     "SELECT count(*), count(DISTINCT customer_id), sum(annual_income), avg(annual_income) FROM customers", False),
    ("SELECT direction, count(*), avg(duration_s) FROM calls WHERE started_at >= '2024-03-01' AND started_at < '2024-04-01' GROUP BY direction",
     f"SELECT direction, count(*), avg(duration_s) FROM calls WHERE started_at >= '2024-03-01' AND started_at < '2024-04-01' "
     f"GROUP BY direction HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT zip, count(*) FROM customers WHERE city IN ('Riverton', 'Lakeside') AND segment LIKE 'c%' GROUP BY zip",
     f"SELECT left(zip, 3), count(*) FROM customers WHERE city IN ('Riverton', 'Lakeside') AND segment LIKE 'c%' "
     f"GROUP BY 1 HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT count(*), sum(duration_s) FROM calls WHERE customer_id IN (SELECT customer_id FROM customers WHERE segment = 'enterprise')",
     f"SELECT count(*), sum(duration_s) FROM calls WHERE customer_id IN (SELECT customer_id FROM customers "
     f"WHERE segment = 'enterprise') HAVING count(DISTINCT customer_id) >= {K}", False),
    ("SELECT region, count(*) FILTER (WHERE gender = 'F'), count(*) FROM customers GROUP BY region",
     f"SELECT region, count(*) FILTER (WHERE gender = 'F'), count(*) FROM customers GROUP BY region "
     f"HAVING count(DISTINCT customer_id) FILTER (WHERE gender = 'F') >= {K} AND count(DISTINCT customer_id) >= {K}", False),
    ("SELECT count(*) FROM (SELECT * FROM (SELECT city, annual_income FROM customers WHERE segment = 'consumer') AS i) AS o",
     "SELECT count(*) FROM customers WHERE segment = 'consumer'", False),
    ("SELECT region, sum(n) FROM (SELECT region, city, count(*) AS n FROM customers GROUP BY region, city) AS s GROUP BY region",
     f"SELECT region, sum(n) FROM (SELECT region, city, count(*) AS n FROM customers GROUP BY region, city "
     f"HAVING count(DISTINCT customer_id) >= {K}) AS s GROUP BY region", False),
    # JOIN ... USING, as BI tools write joins (the merged column unqualified, a RIGHT join, a public table)
    ("SELECT region, count(*), count(DISTINCT customer_id), sum(duration_s) FROM calls JOIN customers USING (customer_id) "
     "WHERE customer_id > 0 GROUP BY region",
     f"SELECT c.region, count(*), count(DISTINCT k.customer_id), sum(k.duration_s) FROM calls k "
     f"JOIN customers c ON c.customer_id = k.customer_id GROUP BY c.region HAVING count(DISTINCT k.customer_id) >= {K}", False),
    ("SELECT c.segment, count(*) FROM customers c RIGHT JOIN calls k USING (customer_id) GROUP BY c.segment",
     f"SELECT c.segment, count(*) FROM calls k JOIN customers c ON c.customer_id = k.customer_id GROUP BY c.segment "
     f"HAVING count(DISTINCT k.customer_id) >= {K}", False),
    ("SELECT t.region, direction, count(*), avg(duration_s) FROM calls JOIN cell_towers t USING (cell_id) "
     "GROUP BY t.region, direction",
     f"SELECT t.region, k.direction, count(*), avg(k.duration_s) FROM calls k JOIN cell_towers t ON t.cell_id = k.cell_id "
     f"GROUP BY 1, 2 HAVING count(DISTINCT k.customer_id) >= {K}", False),
    ("SELECT birth_date, count(*) FROM customers WHERE region = 'East' GROUP BY birth_date ORDER BY birth_date",
     f"SELECT CAST(date_trunc('year', birth_date) AS DATE), count(*) FROM customers WHERE region = 'East' GROUP BY 1 "
     f"HAVING count(DISTINCT customer_id) >= {K} ORDER BY 1", True),
]


@pytest.mark.parametrize("sql,raw_sql,ordered", REPORTS, ids=[f"report-{i:02d}" for i in range(len(REPORTS))])
def test_ordinary_reports_keep_answering_exactly(sql, raw_sql, ordered, backend, ask, oracles, raw):
    answer = ask("reporter", sql)
    found = answer.internal_problems() + oracles["reporter"].judge(answer)
    expected = raw.sql(raw_sql)
    assert expected, f"the premise: the raw data has rows for {raw_sql!r}"
    if not answer.ok:
        found.append(f"an ordinary report was refused: {answer.error}")
    else:
        got = [normalize(r) for r in answer.rows]
        want = [normalize(r) for r in expected]
        if not ordered:
            got, want = sorted(got, key=repr), sorted(want, key=repr)
        if got != want:
            missing = [r for r in want if r not in got][:3]
            extra = [r for r in got if r not in want][:3]
            found.append(f"{len(got)} rows where the raw data gives {len(want)}; missing {missing}, unexpected {extra}")
    verdict("reporter", backend, [answer], found)


KEPT = ("(SELECT * FROM customers WHERE (year(birth_date) // 10, left(zip, 3), gender, year(signup_date)) IN "
        "(SELECT (year(birth_date) // 10, left(zip, 3), gender, year(signup_date)) FROM customers GROUP BY ALL "
        "HAVING count(DISTINCT customer_id) >= 5))")
ANALYST_JOIN_FILTERS = ["c.segment = 'enterprise'", "length(c.city) > 0",
                        "CASE WHEN c.city = 'Riverton' THEN 0 ELSE 1 END = 1", "c.segment = 'consumer' AND c.gender = 'F'"]
# (Selective filters on both sides of this self-join make PostgreSQL pick a nested loop that
# re-runs the k-filter window per outer row, past the 60 s timeout: a performance issue of
# its own, noted in issue 10's closing note.)


@pytest.mark.parametrize("where", ANALYST_JOIN_FILTERS)
def test_analyst_joins_on_tokens_keep_answering(where, backend, ask, oracles, raw):
    """The fences around policy views must not cost the analyst its joins: two (k-filtered)
    views of customers joined on the tokenized id, filtered, answer as the raw data does.
    (Calls no longer join customers: their tokens change every week, policies/demo.yaml.)"""
    answer = ask("analyst", f"SELECT c.region, count(*) FROM customers c JOIN customers s ON s.customer_id = c.customer_id "
                            f"WHERE {where} GROUP BY c.region")
    found = answer.internal_problems() + oracles["analyst"].judge(answer)
    expected = raw.sql(f"SELECT c.region, count(*) FROM {KEPT} c JOIN {KEPT} s USING (customer_id) WHERE {where} "
                       "GROUP BY 1")
    if not answer.ok:
        found.append(f"an ordinary masked join failed: {answer.error} after {answer.elapsed:.1f} s")
    elif sorted(answer.rows) != sorted(expected):
        found.append(f"answered {sorted(answer.rows)}, the raw data gives {sorted(expected)}")
    verdict("analyst", backend, [answer], found)


def test_reports_drop_small_groups(raw):
    """The premise that makes the report checks bite: some of these groupings have groups below K."""
    small = raw.sql("SELECT count(*) FROM (SELECT city, segment, gender FROM customers GROUP BY ALL "
                    f"HAVING count(DISTINCT customer_id) < {K})")[0][0]
    assert small > 0


# ---------------------------------------------------------------------------------------------- the oracle itself

def test_the_oracle_flags_what_the_issue_saw(demo_db, raw):
    """Judge 1 and 2 are not blind: the raw answers of issue 7's attacks trip them."""
    reporter, analyst, partner = (Oracle(demo_db, r) for r in ("reporter", "analyst", "partner"))
    top = raw.top_earners(1)[0]
    pads_hex = reporter.secret_hex[1]
    cases = [
        (reporter, Answer("q", names=[f"sha256(unhex('{pads_hex[:70]}"], rows=[(1,)], results=[([f"x{pads_hex[:40]}"], [(1,)])]),
         "tokenization key"),
        (reporter, Answer("q", rows=[({str(t): 1 for t in list(raw.tokens)[:5]},)], names=["j"],
                          results=[(["j"], [({str(t): 1 for t in list(raw.tokens)[:5]},)])]), "token"),
        (reporter, Answer("q", rows=[([p.annual_income for p in raw.people[:50]],)], names=["a"],
                          results=[(["a"], [([p.annual_income for p in raw.people[:50]],)])]), "individual incomes"),
        (analyst, Answer("q", sqlstate="42804", error_fields={"message": 'Circular reference to CTE "__anonproxy_cte_1"'}),
         "internal name"),
        (analyst, Answer("q", rows=[("/x", str(raw.path.resolve()), "duckdb")], names=["a", "b", "c"],
                         results=[(["a", "b", "c"], [("/x", str(raw.path.resolve()), "duckdb")])]), "path"),
        (partner, Answer("q", rows=[("CREATE TABLE customers(full_name VARCHAR)",)], names=["sql"],
                           results=[(["sql"], [("CREATE TABLE customers(full_name VARCHAR)",)])]), "backend text"),
    ]
    sup = raw.unique_pair_people(visible=False)[0]
    cases.append((analyst, Answer("q", rows=[(sup.signup_date, sup.city)], names=["signup_date", "city"],
                                  results=[(["signup_date", "city"], [(sup.signup_date, sup.city)])]),
                  "signup date"))
    for oracle, answer, kind in cases:
        found = oracle.judge(answer)
        assert any(kind in f for f in found), (kind, found)
    echo = Answer("SELECT '__anonproxy_view_customers'", rows=[("__anonproxy_view_customers",)], names=["?column?"],
                  results=[(["?column?"], [("__anonproxy_view_customers",)])])
    assert analyst.judge(echo) == []
    # a series or a row number meets incomes by chance; released incomes are flagged
    series = [(x,) for x in range(0, 600000, 100)]
    assert analyst.judge(Answer("q", rows=series, names=["x"], results=[(["x"], series)])) == []
    released = [(p.annual_income,) for p in raw.people[:200] if p.annual_income % 10000]
    assert analyst.judge(Answer("q", rows=released, names=["x"], results=[(["x"], released)]))
    top_answer = Answer("q", rows=[(float(top.annual_income),)], names=["avg"], results=[(["avg"], [(float(top.annual_income),)])])
    assert reporter.singled_out(top_answer, [top])
    assert not reporter.singled_out(top_answer, [raw.people[0]]) or raw.people[0].annual_income == top.annual_income


def test_the_pair_premises_hold(raw, people):
    """The people the pair checks use exist as described, in the raw data."""
    assert people.visible.annual_income % 10000 >= 200 and people.visible.annual_income % 10000 <= 9800
    assert raw.income_count[people.visible.annual_income] == 1
    assert dt.date(2015, 1, 1) <= people.suppressed.signup_date
    date, city = raw.absent_pair(people.suppressed)
    assert raw.matching(pair_predicate(date, city)) == []
