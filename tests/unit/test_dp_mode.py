"""dp mode's planner (proxy/rewrite/dp_mode.py): what it accepts, what it refuses and
with which SQLSTATE, and the costs its plans state before anything runs."""
import pytest

from proxy.errors import SqlError
from proxy.policy.model import Budget, ColumnRule, Role, TablePolicy
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.pipeline import plan
from proxy.wire import types as pg

TABLES = {
    "customers": {"customer_id": pg.INT4, "full_name": pg.TEXT, "region": pg.TEXT, "city": pg.TEXT,
                  "annual_income": pg.INT4, "signup_date": pg.DATE, "income_band": pg.INT4},
    "calls": {"call_id": pg.INT8, "customer_id": pg.INT4, "started_at": pg.TIMESTAMP, "duration_s": pg.INT4,
              "cost": pg.NUMERIC, "cell_id": pg.INT4},
    "cell_towers": {"cell_id": pg.INT4, "region": pg.TEXT},
}
RAW = ColumnRule("raw")
CUSTOMERS = TablePolicy("customers", "customer_id", columns={
    "customer_id": ColumnRule("tokenize", "integer"), "full_name": ColumnRule("hide"),
    "region": ColumnRule("raw", domain=("North", "South")), "city": RAW,
    "annual_income": ColumnRule("raw", bounds=(0.0, 300000.0)), "signup_date": RAW,
    "income_band": ColumnRule("generalize", "bins", {"width": 50000, "bottom": 0, "top": 200000})}, max_contributions=1)
CALLS = TablePolicy("calls", "customer_id", columns={
    "customer_id": ColumnRule("tokenize", "integer"), "started_at": RAW, "cell_id": RAW,
    "duration_s": ColumnRule("raw", bounds=(0.0, 3600.0)), "cost": ColumnRule("raw", bounds=(0.0, 20.0))},
    max_contributions=50)
ROLE = Role("dashboard", "dp", {"customers": CUSTOMERS, "calls": CALLS, "cell_towers": TablePolicy("cell_towers")},
            k=5, budget=Budget(10.0, "month", 0.5, 2.0, 1e-6))


def planned(text: str, role: Role = ROLE, fixed_keys: dict | None = None):
    ctx = RewriteContext(role=role, user="dashboard", database="demo", tables=TABLES, dialect="duckdb",
                         setting=lambda n: "", token_key=b"k" * 32, fixed_keys=fixed_keys or {})
    [q] = plan(text, ctx)
    return q


@pytest.mark.parametrize("text,code,words", [
    ("SELECT * FROM customers", "42501", "differentially private aggregates"),
    ("SELECT city FROM customers WHERE annual_income > 5", "42501", "differentially private aggregates"),
    ("SELECT max(annual_income) FROM customers", "0A000", "max()"),
    ("SELECT count(DISTINCT city) FROM customers", "0A000", "COUNT(DISTINCT"),
    ("SELECT sum(annual_income) FILTER (WHERE city = 'x') FROM customers", "0A000", "FILTER"),
    ("SELECT sum(customer_id) FROM customers", "0A000", "no declared bounds"),
    ("SELECT sum(annual_income * 2) FROM customers", "0A000", "sum or average a column"),
    ("SELECT count(*) FROM (SELECT * FROM customers) t", "0A000", "subquery"),
    ("WITH c AS (SELECT * FROM customers) SELECT count(*) FROM c", "0A000", "WITH"),
    ("SELECT count(*) FROM customers WHERE city IN (SELECT region FROM cell_towers)", "0A000", "subquery"),
    ("SELECT count(*) OVER () FROM customers", "0A000", "window"),
    ("SELECT count(*) FROM customers c JOIN customers d ON c.city = d.city", "0A000", "privacy unit"),
    ("SELECT count(*) FROM customers c LEFT JOIN calls k ON k.customer_id = c.customer_id", "0A000", "LEFT JOIN"),
    ("SELECT count(*) FROM customers UNION SELECT count(*) FROM calls", "0A000", "UNION"),
    ("SELECT city, count(*) FROM customers GROUP BY ROLLUP (city)", "42501", "ROLLUP"),  # the allow-list, first
    ("SELECT city, count(*) FROM customers GROUP BY length(city)", "0A000", "GROUP BY"),
    ("SELECT count(*) FROM customers WHERE CAST(city AS int) = 1", "42501", "not allowed"),
    ("SELECT city, count(*) FROM customers", "42803", "GROUP BY"),
])
def test_refused_with_the_construct_and_what_is_supported(text, code, words):
    with pytest.raises(SqlError) as caught:
        planned(text)
    assert caught.value.sqlstate == code and words in str(caught.value), str(caught.value)
    assert caught.value.hint


def test_a_count_costs_what_one_person_can_add():
    q = planned("SELECT count(*) FROM customers")
    [rows] = q.dp.quantities
    assert (rows.kind, rows.sensitivity) == ("count", 1) and q.dp.threshold_quantity is None
    assert "__rn <= 1" in q.sql and "RANDOM()" in q.sql


KEYS = {"customers": ("customer_id",), "calls": ("call_id",), "cell_towers": ("cell_id",)}


def test_a_unit_that_is_the_primary_key_needs_no_sample_and_adds_one_row():
    many = Role("dashboard", "dp", {**ROLE.tables, "customers": TablePolicy(
        "customers", "customer_id", columns=CUSTOMERS.columns, max_contributions=3)}, k=5, budget=ROLE.budget)
    q = planned("SELECT region, sum(annual_income) FROM customers WHERE city <> 'x' GROUP BY region", many, KEYS)
    assert "RANDOM()" not in q.sql and "__rn" not in q.sql and "city <> 'x'" in q.sql
    assert q.dp.unit_key == "customers.customer_id is the primary key" and q.dp.contributions == 1
    assert q.dp.quantities[0].sensitivity == 300_000  # one row each, though the policy allows three
    bounded = planned("SELECT region, sum(annual_income) FROM customers GROUP BY region", many)
    assert "__rn <= 3" in bounded.sql and bounded.dp.quantities[0].sensitivity == 3 * 300_000


def test_public_tables_joined_on_their_whole_key_keep_one_row_per_person():
    q = planned("SELECT t.region, count(*) FROM customers c JOIN cell_towers t ON t.cell_id = c.income_band "
                "GROUP BY t.region", fixed_keys=KEYS)
    assert q.dp.unit_key == "customers.customer_id is the primary key; cell_towers is joined on the primary key"
    assert "RANDOM()" not in q.sql and q.dp.contributions == 1
    where = planned("SELECT count(*) FROM customers c, cell_towers t WHERE c.city = 'x' AND c.income_band = t.cell_id",
                    fixed_keys=KEYS)
    assert where.dp.unit_key is not None  # WHERE and ON alike: the joins are inner
    binned = Role("dashboard", "dp", {**ROLE.tables, "cell_towers": TablePolicy("cell_towers", columns={
        "cell_id": ColumnRule("generalize", "bins", {"width": 10, "bottom": 0, "top": 100})})}, k=5, budget=ROLE.budget)
    q = planned("SELECT t.region, count(*) FROM customers c JOIN cell_towers t ON t.cell_id = c.income_band "
                "GROUP BY t.region", binned, KEYS)
    assert q.dp.unit_key is None and "__rn <= 1" in q.sql  # ten towers share a binned id: rows repeat


@pytest.mark.parametrize("text", [
    "SELECT count(*) FROM calls",  # its key is call_id: a person has many rows
    "SELECT count(*) FROM customers c JOIN calls k ON k.customer_id = c.customer_id",  # a join repeats rows
    "SELECT t.region, count(*) FROM customers c JOIN cell_towers t ON t.region = c.region GROUP BY t.region",
    # on its key, but not only (OR lets more rows through); a cross join; a key equal to a constant
    "SELECT count(*) FROM customers c JOIN cell_towers t ON t.cell_id = c.income_band OR t.region = 'North'",
    "SELECT count(*) FROM customers c CROSS JOIN cell_towers t",
    "SELECT count(*) FROM customers c JOIN cell_towers t ON t.cell_id = 7",
])
def test_other_statements_still_sample_each_persons_rows(text):
    q = planned(text, fixed_keys=KEYS)
    assert q.dp.unit_key is None and "RANDOM()" in q.sql and f"__rn <= {q.dp.contributions}" in q.sql


def test_a_key_that_may_change_under_the_proxy_is_not_relied_on():
    """PostgreSQL's keys are read at start and may be dropped later: the server passes no
    fixed keys for it (Backend.schema_fixed), so the planner samples as before."""
    q = planned("SELECT count(*) FROM customers")
    assert q.dp.unit_key is None and "__rn <= 1" in q.sql


def test_calls_bound_each_person_to_fifty_rows_and_sums_on_a_grid():
    q = planned("SELECT sum(cost), sum(duration_s) FROM calls")
    cost, duration = q.dp.quantities
    assert (cost.resolution, cost.sensitivity) == (0.001, 50 * 20_000)  # cents below noise, exact integer sums
    assert (duration.resolution, duration.sensitivity) == (1.0, 50 * 3600)
    assert "__rn <= 50" in q.sql and "LEAST(GREATEST(CAST(cost AS DOUBLE), 0), 20)" in q.sql


def test_an_average_is_a_centred_sum_over_a_count():
    q = planned("SELECT avg(annual_income) FROM customers")
    [avg] = q.dp.outputs
    s, c = (q.dp.quantities[i] for i in avg.quantities)
    assert (s.kind, s.centre, s.sensitivity) == ("sum", 150_000, 150_000)  # half the width, not the upper bound
    assert (c.kind, c.sensitivity) == ("count", 1)


def test_groups_with_a_public_domain_need_no_threshold_others_do():
    assert planned("SELECT region, count(*) FROM customers GROUP BY region").dp.threshold_quantity is None
    grouped = planned("SELECT city, avg(annual_income) FROM customers GROUP BY city").dp
    assert grouped.threshold_quantity is not None
    assert grouped.threshold(0.5, 1e-6) >= ROLE.k
    persons = planned("SELECT city, count(DISTINCT customer_id) FROM customers GROUP BY city").dp
    assert persons.quantities[persons.threshold_quantity].per_group == 1  # thresholds on people where counted


def test_the_same_quantity_is_computed_once_and_post_processing_keeps_the_clients_shape():
    q = planned("SELECT region AS r, count(*) AS n, count(*) * 2 AS twice FROM customers GROUP BY 1 "
                "HAVING count(*) > 10 ORDER BY n DESC LIMIT 3")
    assert len(q.dp.quantities) == 1 and len(q.dp.outputs) == 1
    post = q.dp.post_sql
    assert "FROM __released AS __r" in post and "WHERE __r.a0 > 10" in post and "LIMIT 3" in post
    assert '"r"' in post or "AS r" in post


def test_joins_on_the_privacy_unit_and_to_public_tables_are_planned():
    q = planned("SELECT c.city, count(*) FROM calls k JOIN cell_towers t ON t.cell_id = k.cell_id "
                "JOIN customers c ON c.customer_id = k.customer_id GROUP BY c.city")
    assert q.dp.contributions == 50 and q.dp.threshold_quantity is not None


def test_a_public_tables_column_is_a_public_domain():
    """Its values are public: every one is released, zeros included, with no threshold."""
    q = planned("SELECT t.region, count(*) FROM calls k JOIN cell_towers t ON t.cell_id = k.cell_id GROUP BY t.region")
    [key] = q.dp.keys
    assert key.domain_sql == 'SELECT DISTINCT "region" FROM "cell_towers" WHERE NOT "region" IS NULL'
    assert q.dp.by_domain and q.dp.threshold_quantity is None


def test_public_tables_alone_run_as_written():
    q = planned("SELECT region, count(*) FROM cell_towers GROUP BY region")
    assert q.dp is None


def test_the_same_question_however_spelled_is_the_same_statement():
    """The ledger serves repeats by the proxy's SQL for a statement: case and spacing do not count."""
    a = planned("SELECT count(*) FROM customers c WHERE c.city = 'Riverton'")
    b = planned("select   COUNT(*)  from Customers C where C.CITY='Riverton'")
    assert a.sql == b.sql and a.dp == b.dp
    assert planned("SELECT count(*) FROM customers WHERE city = 'riverton'").sql != a.sql  # values count


def test_finite_bins_of_a_generalization_are_a_public_domain():
    q = planned("SELECT income_band, count(*) FROM customers GROUP BY income_band")
    [key] = q.dp.keys
    assert key.domain == (0, 50000, 100000, 150000, 200000) and q.dp.threshold_quantity is None



KEY_SAMPLES = {pg.TEXT: ["North", "it's", None], pg.DATE: ["2020-02-29", "1999-12-31", None],
               pg.TIMESTAMP: ["2020-02-01 00:00:00", "2021-07-01 12:30:00.5", None], pg.INT4: ["7", "-3", None]}


@pytest.mark.parametrize("text,key_oids,picked", [
    ("SELECT count(*) FROM customers", [], True),
    ("SELECT region, city AS c, avg(annual_income) AS mean, count(*) FROM customers GROUP BY region, city",
     [pg.TEXT, pg.TEXT], True),
    ("SELECT count(*), signup_date FROM customers GROUP BY signup_date", [pg.DATE], True),
    ("SELECT date_trunc('month', started_at) AS m, sum(duration_s), sum(cost) FROM calls GROUP BY 1",
     [pg.TIMESTAMP], True),
    ("SELECT income_band, count(*) FROM customers GROUP BY income_band", [pg.INT4], True),
    ("SELECT region, count(*) FROM customers GROUP BY region HAVING count(*) > 2", [pg.TEXT], False),
    ("SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY n DESC LIMIT 1", [pg.TEXT], False),
    ("SELECT count(*) + 1 FROM customers", [], False),
])
def test_answers_picked_in_python_are_the_post_processing_statements_byte_for_byte(text, key_oids, picked):
    """Where post-processing only picks and names columns, the proxy does it without a
    statement: the columns (names, types) and every value on the wire, in text and in
    binary, must be exactly what the statement gives."""
    import duckdb

    from proxy.backends.duckdb import DuckDBCursor
    from proxy.dp.cursor import picked_rows, post_sql
    from proxy.session import column_encoders

    plan = planned(text).dp
    assert (plan.layout is not None) is picked
    rows = [[[KEY_SAMPLES[o][i] for o in key_oids],
             [None if i == 2 and not o.integer else (7 + i if o.integer else 12.25 * i - 0.1) for o in plan.outputs]]
            for i in range(3 if key_oids else 1)]
    got = picked_rows(plan, key_oids, rows)
    if not picked:
        assert got is None
        return
    for formats in ([0] * len(plan.layout), [1] * len(plan.layout)):
        cursor = DuckDBCursor(duckdb.connect(":memory:"), {})
        columns = cursor.execute(*post_sql(plan, key_oids, rows), formats)
        expected = [[e(v) if v is not None else None for e, v in zip(column_encoders(columns, formats), r)]
                    for r in cursor.fetch(100)]
        got_columns, got_rows = got
        assert [(c.name, c.type_oid, c.type_size) for c in got_columns] == \
            [(c.name, c.type_oid, c.type_size) for c in columns]
        assert [[e(v) if v is not None else None for e, v in zip(column_encoders(got_columns, formats), r)]
                for r in got_rows] == expected
        assert len(expected) == len(rows)


def test_division_over_released_values_is_postgresqls():
    """HAVING, ORDER BY and projections over released values run in DuckDB, with PostgreSQL's
    `/`: integer division for integers, and an error on zero (22012), never inf."""
    import duckdb

    from proxy.backends.base import BackendError
    from proxy.backends.duckdb import DuckDBCursor
    from proxy.dp.cursor import post_sql

    rows = [[["North"], [7]], [["South"], [9]]]
    half = planned("SELECT region, count(*) / 2 AS half FROM customers GROUP BY region ORDER BY 2").dp
    cursor = DuckDBCursor(duckdb.connect(":memory:"), {})
    cursor.execute(*post_sql(half, [pg.TEXT], rows))
    assert cursor.fetch(10) == [("North", "3"), ("South", "4")]  # text format, rendered by DuckDB
    by_zero = planned("SELECT region, count(*) FROM customers GROUP BY region ORDER BY count(*) / 0").dp
    with pytest.raises(BackendError) as caught:
        cursor.execute(*post_sql(by_zero, [pg.TEXT], rows))
        cursor.fetch(10)
    assert caught.value.sqlstate == "22012"


def test_notices_name_aggregates_as_postgresql_writes_them():
    q = planned("SELECT region, COUNT(*), Sum(annual_income), avg(annual_income), count(DISTINCT customer_id) "
                "FROM customers GROUP BY region")
    assert [o.label for o in q.dp.outputs] == ["count(*)", "sum(annual_income)", "avg(annual_income)",
                                               "count(DISTINCT customer_id)"]
    assert [k.label for k in q.dp.keys] == ["region"]
