"""Policy rules: parsing with named errors, each transform run on DuckDB, tokens
equal to Python's HMAC, and the schema check."""
import datetime as dt

import duckdb
import pytest
from sqlglot import exp

from proxy.policy import tokens
from proxy.policy.model import ColumnRule, Role, TablePolicy
from proxy.policy.rules import parse_rule
from proxy.policy.schema_check import check_roles
from proxy.policy.transforms import Column, column_expression
from proxy.wire import types as pg

KEY = bytes(range(32))


def parse(spec):
    problems = []
    rule = parse_rule(spec, "roles.r.tables.t.columns.c", lambda path, msg: problems.append(f"{path}: {msg}"))
    return rule, problems


@pytest.mark.parametrize("spec,expected", [
    ("hide", ColumnRule("hide")),
    ({"tokenize": "integer"}, ColumnRule("tokenize", "integer")),
    ({"mask": "phone", "keep_last": 2}, ColumnRule("mask", "phone", {"keep_last": 2})),
    ({"generalize": "bins", "width": 10000, "top": 200000}, ColumnRule("generalize", "bins", {"width": 10000, "top": 200000})),
    ({"perturb": 0.05}, ColumnRule("perturb", None, {"relative": 0.05})),
])
def test_rules_parse(spec, expected):
    assert parse(spec) == (expected, [])


@pytest.mark.parametrize("spec,problem", [
    ("hidde", "roles.r.tables.t.columns.c: unknown rule 'hidde'; did you mean 'hide'?"),
    ({"mask": "emial"}, "roles.r.tables.t.columns.c.mask: unknown mask kind 'emial'; did you mean 'email'?"),
    ({"generalize": "prefix"}, "roles.r.tables.t.columns.c.length: missing: generalize prefix needs length"),
    ({"mask": "phone", "keep_lats": 2}, "roles.r.tables.t.columns.c.keep_lats: unknown option for mask phone; did you mean 'keep_last'?"),
    ({"generalize": "bins", "width": 10, "edges": [1, 2]}, "roles.r.tables.t.columns.c: generalize bins needs exactly one of width or edges"),
    ({"perturb": 3}, "roles.r.tables.t.columns.c: perturb takes one relative size between 0 and 1"),
])
def test_rule_errors_name_the_path_and_near_miss(spec, problem):
    rule, problems = parse(spec)
    assert rule is None
    assert problems[0].startswith(problem)


def run(rule: ColumnRule, value, oid, duck_type, unit=None):
    """Apply the transform to one value on DuckDB."""
    c = Column(exp.column("v", table="t"), "v", oid, exp.column("u", table="t"))
    expr = column_expression(rule, c, KEY, "duckdb")
    con = duckdb.connect()
    return con.execute(f"SELECT {expr.sql(dialect='duckdb')} FROM (SELECT CAST(? AS {duck_type}) AS v, ? AS u) AS t",
                       [value, unit]).fetchone()[0]


@pytest.mark.parametrize("rule,value,oid,duck_type,expected", [
    (ColumnRule("mask", "email"), "jane.doe@example.com", pg.TEXT, "VARCHAR", "j***@example.com"),
    (ColumnRule("mask", "phone", {"keep_last": 2}), "+1-555-0199", pg.TEXT, "VARCHAR", "*********99"),
    (ColumnRule("mask", "card"), "4111111111111111", pg.TEXT, "VARCHAR", "************1111"),
    (ColumnRule("mask", "partial", {"keep_first": 2, "keep_last": 1, "pad": "#"}), "abcdef", pg.TEXT, "VARCHAR", "ab###f"),
    (ColumnRule("mask", "partial", {"keep_first": 2, "keep_last": 2}), "abc", pg.TEXT, "VARCHAR", "***"),
    (ColumnRule("generalize", "prefix", {"length": 3}), "12345", pg.TEXT, "VARCHAR", "123"),
    (ColumnRule("generalize", "bins", {"width": 10000}), 61900, pg.INT4, "INTEGER", 60000),
    (ColumnRule("generalize", "bins", {"width": 10000, "top": 200000}), 650000, pg.INT4, "INTEGER", 200000),
    (ColumnRule("generalize", "bins", {"edges": [0, 18, 65]}), 40, pg.INT4, "INTEGER", 18),
    (ColumnRule("generalize", "bins", {"edges": [10, 20]}), 5, pg.INT4, "INTEGER", None),
    (ColumnRule("generalize", "year"), dt.date(1980, 6, 15), pg.DATE, "DATE", dt.date(1980, 1, 1)),
    (ColumnRule("generalize", "quarter"), dt.date(1980, 6, 15), pg.DATE, "DATE", dt.date(1980, 4, 1)),
    (ColumnRule("generalize", "hour"), dt.datetime(2024, 3, 1, 13, 45, 12), pg.TIMESTAMP, "TIMESTAMP",
     dt.datetime(2024, 3, 1, 13, 0)),
    (ColumnRule("null"), "x", pg.TEXT, "VARCHAR", None),
    (ColumnRule("raw"), "x", pg.TEXT, "VARCHAR", "x"),
])
def test_transforms_on_duckdb(rule, value, oid, duck_type, expected):
    assert run(rule, value, oid, duck_type) == expected


def test_age_bands():
    rule = ColumnRule("generalize", "age", {"bands": [18, 30, 65]})
    today = dt.date.today()
    assert run(rule, today.replace(year=today.year - 40), pg.DATE, "DATE") == "30-64"
    assert run(rule, today.replace(year=today.year - 70), pg.DATE, "DATE") == "65+"
    assert run(rule, today.replace(year=today.year - 10), pg.DATE, "DATE") == "<18"


@pytest.mark.parametrize("value,duck_type", [("42", "INTEGER"), ("héllo wörld", "VARCHAR"), ("2024-01-02", "DATE")])
def test_tokens_in_sql_equal_python_hmac(value, duck_type):
    assert run(ColumnRule("tokenize"), value, pg.TEXT, duck_type) == tokens.reference_token(KEY, value)
    assert run(ColumnRule("tokenize", "integer"), value, pg.INT4, duck_type) == \
        tokens.reference_token(KEY, value, integer=True)


def test_perturbation_is_bounded_and_fixed_per_person():
    rule = ColumnRule("perturb", None, {"relative": 0.1})
    values = {run(rule, 1000, pg.INT4, "INTEGER", unit=str(u)) for u in range(50)}
    assert all(900 <= v <= 1100 for v in values) and len(values) > 10
    assert run(rule, 1000, pg.INT4, "INTEGER", unit="7") == run(rule, 1000, pg.INT4, "INTEGER", unit="7")


def test_keys_are_checked_and_never_echoed(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKEN_KEY", "abcd")
    with pytest.raises(tokens.TokenKeyError) as info:
        tokens.load_key(env="TOKEN_KEY")
    assert "abcd" not in str(info.value) and "too short" in str(info.value)
    key = bytes(range(7, 39))
    monkeypatch.setenv("TOKEN_KEY", key.hex())
    assert tokens.load_key(env="TOKEN_KEY") == key
    with pytest.raises(tokens.TokenKeyError, match="is not set"):
        tokens.load_key(env="NOT_SET_ANYWHERE")


@pytest.mark.parametrize("weak", ["a" * 64, "ab" * 32, "0123456789abcdef" * 4, "x" * 40, "0" * 63 + "1"])
def test_weak_keys_are_refused_without_echoing_them(monkeypatch, weak):
    # 64 times "a" is hex for 32 bytes of 0xaa: long enough, but one byte value.
    monkeypatch.setenv("TOKEN_KEY", weak)
    with pytest.raises(tokens.TokenKeyError, match="too weak") as info:
        tokens.load_key(env="TOKEN_KEY")
    assert weak not in str(info.value) and "openssl rand -hex 32" in str(info.value)


def test_random_keys_pass_the_weak_key_rule(monkeypatch):
    import secrets
    for _ in range(200):
        key = secrets.token_bytes(32)
        monkeypatch.setenv("TOKEN_KEY", key.hex())
        assert tokens.load_key(env="TOKEN_KEY") == key


def test_schema_check_names_tables_columns_and_types():
    schema = {"customers": {"customer_id": pg.INT4, "email": pg.TEXT, "birth_date": pg.DATE}}
    policy = TablePolicy("customers", "customer_id", ("birth_dat",), None, {
        "emial": ColumnRule("mask", "email"), "birth_date": ColumnRule("mask", "email"),
        "customer_id": ColumnRule("generalize", "prefix", {"length": 2})})
    roles = {"r": Role("r", "masked", {"customers": policy, "custmers": TablePolicy("custmers")}, 5)}
    assert check_roles(roles, schema) == [
        "roles.r.tables.customers.quasi_identifiers: table 'customers' has no column 'birth_dat'; did you mean 'birth_date'?",
        "roles.r.tables.customers.columns.emial: table 'customers' has no column 'emial'; did you mean 'email'?",
        "roles.r.tables.customers.columns.birth_date: mask email applies to text columns, but 'birth_date' is time",
        "roles.r.tables.customers.columns.customer_id: generalize prefix applies to text columns, but 'customer_id' is number",
        "roles.r.tables.custmers: no table 'custmers' in the backend; did you mean 'customers'?",
    ]


def test_schema_check_refuses_stored_columns_named_like_the_proxys_own():
    # the k-filter adds __anonproxy_* columns beside the stored ones inside a policy view
    schema = {"people": {"id": pg.INT4, "__anonproxy_units": pg.INT4}}
    roles = {"r": Role("r", "masked", {"people": TablePolicy("people", "id")}, 5)}
    [problem] = check_roles(roles, schema)
    assert problem.startswith("roles.r.tables.people: column '__anonproxy_units' of table 'people' uses the prefix")


def test_schema_check_names_known_columns_that_are_missing_or_hidden():
    """`known` lists what an attacker may know of a record (anonproxy risk): only columns the role receives."""
    schema = {"calls": {"customer_id": pg.INT4, "cell_id": pg.INT4, "started_at": pg.TIMESTAMP}}
    policy = TablePolicy("calls", "customer_id", columns={"cell_id": ColumnRule("raw")},
                         known=("cell_id", "started_at", "cel_id"))
    roles = {"r": Role("r", "masked", {"calls": policy}, 5)}
    assert check_roles(roles, schema) == [
        "roles.r.tables.calls.known: 'started_at' is hidden from the role, so no attacker learns it from the "
        "role's rows; list only columns the role receives",
        "roles.r.tables.calls.known: table 'calls' has no column 'cel_id'; did you mean 'cell_id'?",
    ]


def test_a_scoped_token_needs_its_period_and_time_column():
    problems = []
    assert parse_rule({"tokenize": "integer", "scope": "week"}, "p", lambda where, what: problems.append(what)) is None
    assert problems == ["a scoped token needs both scope (hour ... year) and by (the time column that sets the period)"]
    rule = parse_rule({"tokenize": "integer", "scope": "week", "by": "started_at"}, "p", lambda *a: None)
    assert rule.options == {"scope": "week", "by": "started_at"}
    schema = {"calls": {"customer_id": pg.INT4, "cell_id": pg.INT4, "started_at": pg.TIMESTAMP},
              "cell_towers": {"cell_id": pg.INT4, "region": pg.TEXT}}
    bad = TablePolicy("calls", "customer_id", columns={
        "customer_id": ColumnRule("tokenize", "integer", {"scope": "week", "by": "cell_id"}),
        "cell_id": ColumnRule("generalize", "lookup", {"table": "cell_tower", "key": "cell_id", "value": "region"})})
    assert check_roles({"r": Role("r", "masked", {"calls": bad}, 5)}, schema) == [
        "roles.r.tables.calls.columns.customer_id.by: a token's period comes from a date or timestamp column, "
        "but 'cell_id' is number",
        "roles.r.tables.calls.columns.cell_id.table: no table 'cell_tower' in the backend; did you mean 'cell_towers'?",
    ]


def test_scoped_tokens_differ_across_periods_and_lookup_reads_the_mapping():
    key = bytes(range(32))
    con = duckdb.connect()
    con.execute("CREATE TABLE calls AS SELECT * FROM (VALUES (7, TIMESTAMP '2024-01-01 10:00', 1), "
                "(7, TIMESTAMP '2024-01-02 11:00', 2), (7, TIMESTAMP '2024-01-09 10:00', 1)) t(p, ts, cell)")
    con.execute("CREATE TABLE towers AS SELECT * FROM (VALUES (1, 'North'), (2, 'South')) t(cell_id, region)")
    scoped = ColumnRule("tokenize", "integer", {"scope": "week", "by": "ts"})
    token = column_expression(scoped, Column(exp.column("p", table="c"), "p", pg.INT4, None), key, "duckdb")
    lookup = ColumnRule("generalize", "lookup", {"table": "towers", "key": "cell_id", "value": "region"})
    region = column_expression(lookup, Column(exp.column("cell", table="c"), "cell", pg.INT4, None), key, "duckdb")
    rows = con.execute(f"SELECT {token.sql('duckdb')}, {region.sql('duckdb')} FROM calls c ORDER BY ts").fetchall()
    assert rows[0][0] == rows[1][0] != rows[2][0]  # the same week, then the next
    assert [r[1] for r in rows] == ["North", "South", "North"]


def test_schema_check_wants_bounds_on_raw_number_columns():
    schema = {"customers": {"customer_id": pg.INT4, "city": pg.TEXT, "income": pg.INT4, "birth": pg.DATE}}
    policy = TablePolicy("customers", "customer_id", columns={
        "city": ColumnRule("raw", bounds=(0, 1)), "income": ColumnRule("raw", bounds=(0, 300000)),
        "birth": ColumnRule("generalize", "year", bounds=(0, 1))})
    roles = {"r": Role("r", "dp", {"customers": policy}, 5)}
    assert check_roles(roles, schema) == [
        "roles.r.tables.customers.columns.city.bounds: bounds clamp the values dp sums and averages, so they apply "
        "to raw number columns, but 'city' is text",
        "roles.r.tables.customers.columns.birth.bounds: bounds clamp the values dp sums and averages, so they apply "
        "to raw number columns, but 'birth' is time under generalize",
    ]


@pytest.mark.parametrize("options,oid,values", [
    ({"width": 10000, "bottom": 0, "top": 30000}, pg.INT4, (0, 10000, 20000, 30000)),
    ({"width": 10000, "bottom": 5000, "top": 30000}, pg.INT4, (0, 10000, 20000, 30000)),  # floor(5000/w)*w
    ({"edges": [0, 18, 65]}, pg.INT4, (0, 18, 65)),
    ({"width": 10000}, pg.INT4, None),                       # unbounded: no finite domain
    ({"width": 0.5, "bottom": 0, "top": 2}, pg.FLOAT8, None),  # fractional bins: text forms differ by backend
])
def test_bin_values_of_finite_bins(options, oid, values):
    from proxy.policy.transforms import bin_values
    assert bin_values(ColumnRule("generalize", "bins", options), oid) == values
