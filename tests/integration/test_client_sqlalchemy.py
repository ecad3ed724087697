"""SQLAlchemy 2 (psycopg, psycopg2, pg8000) and pandas, with default settings, browse
each role's schema through the proxy's catalog: exactly the visible tables, the visible
columns with the types the role actually receives, the primary key, table reflection,
and pandas' read_sql / read_sql_table. Data values themselves are test_drivers.py's job.

The reference for "what the role receives" is the data path, not the catalog: psycopg's
cursor.description of `SELECT * FROM t LIMIT 0` (for the aggregate-only role, which may
not read rows of private tables, one grouped probe per column)."""
from __future__ import annotations

import psycopg
import pytest

from tests.integration.visible_schema import TABLES, USERS, visible_columns

sqlalchemy = pytest.importorskip("sqlalchemy")
pd = pytest.importorskip("pandas")
from sqlalchemy.dialects import postgresql as pgtypes  # noqa: E402

DRIVERS = ("psycopg", "psycopg2", "pg8000")
# Type the role receives -> the SQLAlchemy type class the inspector must report.
SA_TYPES = {"int8": pgtypes.BIGINT, "int4": pgtypes.INTEGER, "text": pgtypes.TEXT, "float8": pgtypes.DOUBLE_PRECISION,
            "date": pgtypes.DATE, "timestamp": pgtypes.TIMESTAMP, "numeric": pgtypes.NUMERIC}


@pytest.fixture(params=["proxy", "pg_proxy"])
def server(request):
    return request.getfixturevalue(request.param)


def visible_schema(server, user: str) -> dict[str, list[tuple[str, str]]]:
    """{table: [(column, type name)]} as the role receives them through the proxy."""
    return visible_columns(server, user)


def test_the_reference_is_concrete(proxy):
    """The reference itself: hidden columns are absent, tokenized ids are int8."""
    admin, analyst, reporter = (dict((t, dict(c)) for t, c in visible_schema(proxy, u).items())
                                for u in ("admin", "analyst", "reporter"))
    assert "full_name" in admin["customers"] and admin["customers"]["customer_id"] == "int4"
    assert "full_name" not in analyst["customers"] and analyst["customers"]["customer_id"] == "int8"
    assert not {"full_name", "email", "phone"} & set(reporter["customers"])
    assert "birth_date" in reporter["customers"] and "started_at" in reporter["calls"]
    assert list(visible_schema(proxy, "partner")) == ["cell_towers"]


_engines: list[sqlalchemy.Engine] = []


@pytest.fixture(autouse=True)
def _dispose_engines():
    """Each test gets its own engines: a failure cannot leave a pooled connection behind."""
    yield
    while _engines:
        _engines.pop().dispose()


def engine_for(server, driver: str, user: str) -> sqlalchemy.Engine:
    """create_engine with nothing but the URL: the dialect's defaults."""
    engine = sqlalchemy.create_engine(server.dsn(user).replace("postgresql://", f"postgresql+{driver}://"))
    _engines.append(engine)
    return engine


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE under pandas' and SQLAlchemy's wrappers, whichever driver raised it."""
    while not isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.__cause__ is not None:
        exc = exc.__cause__  # pandas.errors.DatabaseError wraps SQLAlchemy's error
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code is None and orig.args and isinstance(orig.args[0], dict):  # pg8000
        code = orig.args[0].get("C")
    return code


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("driver", DRIVERS)
def test_connects_and_lists_exactly_the_visible_tables(server, driver, user):
    engine = engine_for(server, driver, user)
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT current_user")).scalar() == user
    inspector = sqlalchemy.inspect(engine)
    assert inspector.default_schema_name == "public"
    assert sorted(inspector.get_table_names()) == TABLES[user]
    assert inspector.get_view_names() == []
    assert inspector.get_schema_names() == ["information_schema", "public"]
    assert inspector.has_table("cell_towers")
    assert inspector.has_table("customers") == (user != "partner")


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("driver", DRIVERS)
def test_columns_are_those_the_role_receives(server, driver, user):
    inspector = sqlalchemy.inspect(engine_for(server, driver, user))
    for table, expected in visible_schema(server, user).items():
        columns = inspector.get_columns(table)
        assert [c["name"] for c in columns] == [name for name, _ in expected], table
        for column, (name, oid) in zip(columns, expected):
            assert type(column["type"]) is SA_TYPES[oid], (table, name, column["type"], oid)
    if user != "partner":
        names = [c["name"] for c in inspector.get_columns("customers")]
        assert ("full_name" in names) == (user == "admin")


@pytest.mark.parametrize("user", ["admin", "analyst", "reporter"])
@pytest.mark.parametrize("driver", DRIVERS)
def test_primary_key_of_customers(server, driver, user):
    pk = sqlalchemy.inspect(engine_for(server, driver, user)).get_pk_constraint("customers")
    assert pk["constrained_columns"] == ["customer_id"]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("driver", DRIVERS)
def test_reflected_table_selects(server, driver, user):
    engine = engine_for(server, driver, user)
    towers = sqlalchemy.Table("cell_towers", sqlalchemy.MetaData(), autoload_with=engine)
    assert [c.name for c in towers.columns] == [n for n, _ in visible_schema(server, user)["cell_towers"]]
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.select(towers).order_by(towers.c.cell_id).limit(3)).all()
    with psycopg.connect(server.dsn(user)) as ref:
        expected = ref.execute("SELECT * FROM cell_towers ORDER BY cell_id LIMIT 3").fetchall()
    assert [tuple(r) for r in rows] == expected


def _reference_rows(server, user, sql):
    with psycopg.connect(server.dsn(user)) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("driver", DRIVERS)
def test_pandas_read_sql(server, driver, user):
    """read_sql with a text() clause and with a plain string; the aggregate role gets
    aggregates (row-level reads of private tables are refused to it by design)."""
    engine = engine_for(server, driver, user)
    towers = "SELECT region, count(*) AS n FROM cell_towers GROUP BY region ORDER BY region"
    frame = pd.read_sql(sqlalchemy.text(towers), engine)
    assert list(frame.columns) == ["region", "n"]
    assert [tuple(r) for r in frame.itertuples(index=False)] == _reference_rows(server, user, towers)
    if user == "partner":
        return
    segments = "SELECT segment, count(*) AS n, sum(duration_s) AS talk FROM customers JOIN calls " \
               "ON calls.customer_id = customers.customer_id GROUP BY segment ORDER BY segment"
    frame = pd.read_sql(segments, engine)
    assert list(frame.columns) == ["segment", "n", "talk"]
    assert [tuple(r) for r in frame.itertuples(index=False)] == _reference_rows(server, user, segments)


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("driver", DRIVERS)
def test_pandas_read_sql_table(server, driver, user):
    """cell_towers is public: every role, the aggregate one included, reads it whole."""
    engine = engine_for(server, driver, user)
    frame = pd.read_sql_table("cell_towers", engine)
    assert list(frame.columns) == [n for n, _ in visible_schema(server, user)["cell_towers"]]
    count = _reference_rows(server, user, "SELECT count(*) FROM cell_towers")[0][0]
    assert len(frame) == count and count > 0


@pytest.mark.parametrize("driver", DRIVERS)
def test_pandas_read_sql_table_of_a_private_table_is_refused_for_the_aggregate_role(server, driver):
    """read_sql_table("customers") as the reporter reflects the table, then SELECTs every
    row: the proxy refuses that with 42501, an ordinary error, and the engine goes on.
    (pandas 3 raises pandas.errors.DatabaseError with SQLAlchemy's error as its cause.)"""
    engine = engine_for(server, driver, "reporter")
    with pytest.raises((sqlalchemy.exc.DBAPIError, pd.errors.DatabaseError)) as info:
        pd.read_sql_table("customers", engine)
    if driver == "pg8000":
        # pg8000 refuses pandas' COMMIT after the failed SELECT ("in failed transaction
        # block", as against PostgreSQL), which hides the refusal: ask for it directly.
        customers = sqlalchemy.Table("customers", sqlalchemy.MetaData(), autoload_with=engine)
        with engine.connect() as conn, pytest.raises(sqlalchemy.exc.DBAPIError) as info:
            conn.execute(sqlalchemy.select(customers))
    assert sqlstate(info.value) == "42501", info.value
    assert "aggregated results" in str(info.value)
    assert pd.read_sql("SELECT count(*) AS n FROM customers", engine)["n"][0] > 0


@pytest.mark.parametrize("driver", DRIVERS)
def test_analyst_reflects_customers_without_hidden_columns(server, driver):
    engine = engine_for(server, driver, "analyst")
    customers = sqlalchemy.Table("customers", sqlalchemy.MetaData(), autoload_with=engine)
    assert "full_name" not in customers.c and "email" in customers.c
    assert type(customers.c.customer_id.type) is pgtypes.BIGINT  # tokenized
    with engine.connect() as conn:
        n = conn.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(customers)
                         .where(customers.c.segment == "consumer")).scalar()
    assert n == _reference_rows(server, "analyst", "SELECT count(*) FROM customers WHERE segment = 'consumer'")[0][0]
