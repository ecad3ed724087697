"""Output column names computed by the proxy (proxy/rewrite/output_names.py) against
PostgreSQL's own, statement by statement, on a real PostgreSQL server holding the demo data.
Pure names, no proxy in between: the proxy's side is the pass itself.

Known difference: date_part('year', x) is named "extract" (sqlglot parses it as EXTRACT
and keeps no trace of the spelling); PostgreSQL says "date_part"."""
from __future__ import annotations

import psycopg
import pytest

from proxy.rewrite.output_names import output_name
from proxy.rewrite.parse import parse_statement, split_statements

EXPRESSIONS = [
    "customer_id", "c.customer_id", "(customer_id)", "customer_id AS Who", 'customer_id AS "Who"',
    "substr(email, 1, 3)", "substring(email, 1, 3)", "substring(email from 1 for 3)", "now()", "current_date",
    "current_timestamp", "localtimestamp", "pow(annual_income, 2)", "power(annual_income, 2)",
    "char_length(email)", "character_length(email)", "length(email)", "strpos(email, '@')",
    "position('@' in email)", "ceiling(annual_income / 3.0)", "ceil(annual_income / 3.0)", "floor(1.5)",
    "trim(city)", "trim(leading 'R' from city)", "trim(trailing 'n' from city)", "btrim(city)", "rtrim(city)", "ltrim(city)", "upper(city)", "lower(city)", "initcap(city)", "md5(email)",
    "left(zip, 3)", "right(zip, 2)", "split_part(email, '@', 2)", "replace(city, 'a', 'b')",
    "regexp_replace(city, 'a', 'b')", "concat(city, zip)", "concat_ws('-', city, zip)", "city || zip",
    "mod(annual_income, 7)", "annual_income % 7", "abs(annual_income)", "round(annual_income / 3.0, 2)",
    "trunc(annual_income / 3.0)", "sign(annual_income)", "sqrt(annual_income)", "ln(annual_income + 1)",
    "log(annual_income + 1)", "exp(1)", "random() * 0", "greatest(annual_income, 0)", "least(annual_income, 0)",
    "coalesce(email, phone)", "nullif(zip, '000')", "CASE WHEN zip > '1' THEN 1 END",
    "CASE WHEN zip > '1' THEN 1 END AS c", "extract(year from birth_date)", "date_trunc('year', birth_date)",
"to_char(birth_date, 'YYYY')", "to_date('2020-01-01', 'YYYY-MM-DD')",
    "cast(annual_income AS text)", "annual_income::text", "cast('1' AS int)", "'1'::int", "'1'::bigint",
    "'1'::numeric", "'1'::real", "'1'::double precision", "'x'::varchar", "'x'::char", "'2020-01-01'::date",
    "'1'::boolean", "CAST(NULL AS timestamp)", "ARRAY[1, 2]", "ARRAY(SELECT 1)", "ROW(1, 2)",
    "EXISTS (SELECT 1)", "(SELECT max(city) FROM customers)", "1", "'x'", "NULL", "true", "1 + 1", "-annual_income",
    "NOT true", "email IS NULL", "email LIKE 'a%'", "city IN ('a', 'b')", "annual_income BETWEEN 1 AND 2",
    "count(*)", "count(DISTINCT city)", "sum(annual_income)", "avg(annual_income)", "max(city)", "min(city)",
    "bool_and(true)", "every(true)", "stddev(annual_income)", "variance(annual_income)",
    "string_agg(city, ',')", "array_agg(city)", "count(*) FILTER (WHERE city = 'x')",
    "row_number() OVER ()", "rank() OVER (ORDER BY city)", "pg_catalog.lower(city)", "array_length(ARRAY[1], 1)",
    "to_timestamp(0)", "age(birth_date)", "date '2020-01-01'", "interval '1 day'", "customers.email",
    "'{1,2}'::int[]", "ARRAY[city]::text[]", "cast('{1}' AS bigint[])", "CASE WHEN zip > '1' THEN 1 END::text",
    "NULL::pg_catalog.text", "'1'::pg_catalog.int4",
]
GROUPED = {"count(*)", "count(DISTINCT city)", "sum(annual_income)", "avg(annual_income)", "max(city)", "min(city)",
           "bool_and(true)", "every(true)", "stddev(annual_income)", "variance(annual_income)",
           "string_agg(city, ',')", "array_agg(city)", "count(*) FILTER (WHERE city = 'x')"}


def statement(expression: str) -> str:
    source = "customers" if "c." not in expression else "customers c"
    return f"SELECT {expression} FROM {source}" + ("" if expression in GROUPED else " LIMIT 1")


@pytest.fixture(scope="module")
def postgres(pg_demo):
    with psycopg.connect(pg_demo.dsn(dbname="demo"), autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_proxy_names_columns_as_postgresql_does(expression, postgres):
    sql = statement(expression)
    [stmt] = split_statements(sql)
    ours = [output_name(e) for e in parse_statement(stmt).expressions]
    theirs = [d.name for d in postgres.execute(sql, prepare=False).description]
    assert ours == theirs, f"{sql}: ours {ours}, PostgreSQL's {theirs}"
