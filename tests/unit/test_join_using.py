"""JOIN ... USING for aggregate and dp roles (proxy/rewrite/join_using.py): written as ON
with each merged column read from the side PostgreSQL reads it from, so the modes'
join and scope checks see it; other roles' statements are left as written."""
import pytest
from sqlglot import exp

from proxy.errors import SqlError
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.join_using import expand_join_using
from proxy.rewrite.parse import parse_statement, split_statements
from proxy.rewrite.pipeline import plan
from proxy.rewrite.resolve import resolve_names
from proxy.policy.model import Role
from tests.unit import test_aggregate_mode as aggregate
from tests.unit import test_dp_mode as dp


def expanded(text: str, role: Role = aggregate.ROLE) -> str:
    ctx = RewriteContext(role=role, user="u", database="demo", tables=aggregate.TABLES, dialect="duckdb",
                         setting=lambda n: "")
    [stmt] = split_statements(text)
    return expand_join_using(resolve_names(parse_statement(stmt), ctx), ctx).sql()


def test_using_becomes_on_and_the_merged_column_reads_the_left_side():
    out = expanded("SELECT customer_id, city, count(*) FROM customers JOIN calls USING (customer_id) "
                   "WHERE customer_id > 0 GROUP BY customer_id, city ORDER BY customer_id")
    assert "USING" not in out and 'ON "customers"."customer_id" = "calls"."customer_id"' in out
    assert out.count('"customers".customer_id') == 4, out  # select list, WHERE, GROUP BY, ORDER BY


def test_a_right_join_reads_the_right_side_and_a_chain_reads_the_first():
    right = expanded("SELECT customer_id, count(*) FROM customers RIGHT JOIN calls USING (customer_id) "
                     "GROUP BY customer_id")
    assert 'GROUP BY "calls".customer_id' in right
    chain = expanded("SELECT cell_id, count(*) FROM calls a JOIN calls b USING (call_id, cell_id) "
                     "JOIN cell_towers USING (cell_id) GROUP BY cell_id")
    assert 'ON "a"."call_id" = "b"."call_id" AND "a"."cell_id" = "b"."cell_id"' in chain
    assert 'ON "a"."cell_id" = "cell_towers"."cell_id"' in chain and 'GROUP BY "a".cell_id' in chain


def test_a_condition_before_the_using_join_reads_the_columns_of_its_own_point():
    out = expanded("SELECT count(*) FROM calls a JOIN cell_towers t ON call_id > 3 RIGHT JOIN calls b USING (call_id) "
                   "WHERE call_id > 0")
    assert "ON call_id > 3" in out  # there, call_id is a's: b's is merged in later
    assert 'ON "a"."call_id" = "b"."call_id"' in out and 'WHERE "b".call_id > 0' in out  # RIGHT: read from b


def test_names_that_postgresql_refuses_are_refused_alike():
    with pytest.raises(SqlError) as caught:
        expanded("SELECT count(*) FROM calls a JOIN calls b USING (call_id) JOIN cell_towers USING (cell_id)")
    assert caught.value.sqlstate == "42702" and "appears more than once in left table" in str(caught.value)
    with pytest.raises(SqlError) as caught:
        expanded("SELECT count(*) FROM customers JOIN calls USING (call_id)")
    assert caught.value.sqlstate == "42703" and "does not exist in left table" in str(caught.value)
    with pytest.raises(SqlError) as caught:
        expanded("SELECT count(*) FROM customers JOIN calls USING (customer_id, customer_id)")
    assert caught.value.sqlstate == "42701" and "more than once in USING clause" in str(caught.value)
    with pytest.raises(SqlError) as caught:
        expanded("SELECT count(*) FROM customers JOIN calls USING (full_name)")  # hidden from the role
    assert caught.value.sqlstate == "42703"


def test_an_output_name_in_order_by_stays_the_output():
    out = expanded("SELECT count(*) AS cell_id FROM calls JOIN cell_towers USING (cell_id) ORDER BY cell_id")
    assert "ORDER BY cell_id" in out, out


@pytest.mark.parametrize("text", [
    "SELECT * FROM customers JOIN calls USING (customer_id)",  # * shows the merged column once
    "SELECT count(*) FROM customers FULL JOIN calls USING (customer_id)",  # merged: COALESCE(left, right)
    "SELECT count(*) FROM (SELECT * FROM calls) k JOIN customers USING (customer_id)",  # not a stored table
])
def test_left_as_written_where_on_would_not_mean_the_same(text):
    assert "USING" in expanded(text)


def test_other_roles_send_using_as_written():
    masked = Role("analyst", "masked", aggregate.ROLE.tables, k=5)
    assert "USING (customer_id)" in expanded("SELECT count(*) FROM customers JOIN calls USING (customer_id)", masked)


def test_aggregate_and_dp_roles_now_answer_using_joins():
    ctx = RewriteContext(role=aggregate.ROLE, user="reporter", database="demo", tables=aggregate.TABLES,
                         dialect="duckdb", setting=lambda n: "", token_key=b"k" * 32)
    [q] = plan("SELECT city, count(*) FROM customers JOIN calls USING (customer_id) GROUP BY city", ctx)
    assert "COUNT(DISTINCT" in q.sql  # k-suppressed as with ON
    with pytest.raises(SqlError) as caught:  # the grammar sees the condition: a join on a non-unit column
        dp.planned("SELECT count(*) FROM customers a JOIN customers b USING (city)")
    assert caught.value.sqlstate == "0A000" and "privacy unit" in str(caught.value)
    joined = dp.planned("SELECT c.region, sum(k.duration_s) FROM customers c JOIN calls k USING (customer_id) "
                        "GROUP BY c.region")
    assert joined.dp.contributions == 50 and [k.label for k in joined.dp.keys] == ["c.region"]
    assert isinstance(exp.maybe_parse(joined.sql, dialect="duckdb"), exp.Select)
