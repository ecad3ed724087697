"""The per-role catalog rows (proxy/catalog/model.py): PostgreSQL's layout and
built-in rows, filled from the visible schema only."""
from __future__ import annotations

from types import SimpleNamespace

from proxy.catalog.definitions import definitions
from proxy.catalog.model import VisibleColumn, catalog_rows

INT4, INT8, TEXT, VARCHAR, NUMERIC = 23, 20, 25, 1043, 1700
PUBLIC = 2200
# What a masked role sees: customers without full_name, a tokenized int8 id.
VISIBLE = {
    "customers": [VisibleColumn("customer_id", INT8, not_null=True), VisibleColumn("email", TEXT),
                  VisibleColumn("zip", VARCHAR, typmod=9)],
    "calls": [VisibleColumn("call_id", INT4, not_null=True), VisibleColumn("cost", NUMERIC, typmod=(10 << 16 | 2) + 4)],
}
KEYS = {"customers": ["customer_id"], "calls": ["call_id"]}


def rows(tables=VISIBLE, keys=KEYS) -> dict[str, list[dict]]:
    built = catalog_rows(tables, keys, database="demo", user="analyst")
    return {name: [dict(zip(definitions().column_names(name), row)) for row in values]
            for name, values in built.items()}


def test_every_extracted_relation_is_present_in_postgresql_column_order():
    built = catalog_rows(VISIBLE, KEYS, database="demo", user="analyst")
    assert set(built) == set(definitions().relations)
    for name, values in built.items():
        assert all(len(row) == len(definitions().relations[name]) for row in values), name
    assert built["pg_catalog.pg_policy"] == []


def test_pg_type_holds_postgresql_own_oids():
    oids = {r["typname"]: r["oid"] for r in rows()["pg_catalog.pg_type"]}
    assert {n: oids[n] for n in ("bool", "int8", "int4", "text", "oid", "name", "varchar", "_int4")} == {
        "bool": 16, "int8": 20, "int4": 23, "text": 25, "oid": 26, "name": 19, "varchar": 1043, "_int4": 1007}


def test_namespaces_have_postgresql_oids():
    names = {r["nspname"]: r["oid"] for r in rows()["pg_catalog.pg_namespace"]}
    assert names["pg_catalog"] == 11 and names["public"] == 2200
    assert 12000 < names["information_schema"] < 16384


def test_hidden_column_and_table_are_absent():
    everything = repr(catalog_rows(VISIBLE, KEYS, database="demo", user="analyst"))
    assert "full_name" not in everything and "cell_towers" not in everything


def test_primary_key_on_a_hidden_column_is_left_out():
    built = rows(keys={"customers": ["full_name"]})
    assert built["pg_catalog.pg_index"] == [] and built["pg_catalog.pg_constraint"] == []
    assert all(r["relkind"] == "r" for r in built["pg_catalog.pg_class"] if r["relnamespace"] == PUBLIC)


def test_oids_are_stable_and_sorted_by_table_name():
    first, again = rows()["pg_catalog.pg_class"], rows()["pg_catalog.pg_class"]
    assert first == again
    assert [(r["relname"], r["oid"], r["relkind"]) for r in first if r["relnamespace"] == PUBLIC] == [
        ("calls", 16385, "r"), ("customers", 16386, "r"), ("calls_pkey", 16387, "i"), ("customers_pkey", 16389, "i")]
    assert rows()["pg_catalog.pg_database"][0]["oid"] not in {r["oid"] for r in first}


def test_attributes_carry_types_typmods_and_not_null():
    built = rows()
    customers = next(r["oid"] for r in built["pg_catalog.pg_class"] if r["relname"] == "customers")
    attrs = [(a["attname"], a["atttypid"], a["attnum"], a["atttypmod"], a["attnotnull"], a["attlen"])
             for a in built["pg_catalog.pg_attribute"] if a["attrelid"] == customers]
    assert attrs == [("customer_id", INT8, 1, -1, True, 8), ("email", TEXT, 2, -1, False, -1),
                     ("zip", VARCHAR, 3, 9, False, -1)]


def test_primary_key_index_and_constraint_point_at_the_table():
    built = rows()
    classes = {r["relname"]: r for r in built["pg_catalog.pg_class"]}
    index = next(i for i in built["pg_catalog.pg_index"] if i["indrelid"] == classes["customers"]["oid"])
    assert index["indexrelid"] == classes["customers_pkey"]["oid"] and index["indisprimary"]
    assert index["indkey"] == (1,) and classes["customers"]["relhasindex"]
    constraint = next(c for c in built["pg_catalog.pg_constraint"] if c["conname"] == "customers_pkey")
    assert (constraint["contype"], constraint["conrelid"], constraint["conindid"], constraint["conkey"]) == (
        "p", classes["customers"]["oid"], index["indexrelid"], (1,))


def test_database_and_login():
    built = rows()
    assert [r["datname"] for r in built["pg_catalog.pg_database"]] == ["demo"]
    assert [r["usename"] for r in built["pg_catalog.pg_user"]] == ["analyst"]
    login = next(r for r in built["pg_catalog.pg_roles"] if r["rolcanlogin"])
    assert (login["rolname"], login["oid"]) == ("analyst", 10)


def test_information_schema_columns_decode_typmods():
    columns = {(r["table_name"], r["column_name"]): r for r in rows()["information_schema.columns"]}
    zip_ = columns[("customers", "zip")]
    assert (zip_["data_type"], zip_["character_maximum_length"], zip_["udt_name"]) == ("character varying", 5, "varchar")
    cost = columns[("calls", "cost")]
    assert (cost["data_type"], cost["numeric_precision"], cost["numeric_scale"]) == ("numeric", 10, 2)
    assert columns[("customers", "customer_id")]["is_nullable"] == "NO"


def test_a_key_the_role_receives_generalized_or_masked_is_no_longer_a_key():
    from proxy.catalog.visible import visible_key
    from proxy.policy.model import ColumnRule, Role, TablePolicy
    columns = {"id": ColumnRule("generalize", "bins"), "code": ColumnRule("tokenize", "integer"), "n": ColumnRule("raw")}
    ctx = SimpleNamespace(role=Role("r", "masked", {"t": TablePolicy("t", "id", columns=columns)}))
    assert visible_key(ctx, "t", ("id",)) == ()
    assert visible_key(ctx, "t", ("code", "n")) == ("code", "n")
    assert visible_key(ctx, "t", ("hidden",)) == ()  # unlisted in a private table: hidden
    assert visible_key(SimpleNamespace(role=Role("admin", "raw", None)), "t", ("id",)) == ("id",)


def test_result_columns_are_labelled_with_their_table_and_column_number():
    from proxy.backends.base import ResultColumn
    from proxy.catalog.origins import with_origins
    from proxy.rewrite.column_origins import Origin
    tables = {"t": (16385, ("a", "b")), "u": (16386, ("x",))}
    columns = [ResultColumn(n, 23, 4) for n in ("b", "a", "b", "x", "sum")]
    origins = (Origin("t", "b"), Origin("t", None), Origin("u", "x"), None)  # b, *, x, computed
    labelled = [(c.table_oid, c.column_number) for c in with_origins(columns, origins, tables)]
    assert labelled == [(16385, 2), (16385, 1), (16385, 2), (16386, 1), (0, 0)]
    # a star over a table the role does not see: nothing after it can be placed
    assert [c.table_oid for c in with_origins(columns, (Origin("gone", None), Origin("u", "x")), tables)] == [0] * 5


def test_postgresql_own_relations_are_listed_in_their_schemas():
    """pg_catalog and information_schema relations are rows of pg_class with their columns,
    as PostgreSQL lists them; none of them is in public."""
    built = rows()
    by_name = {r["relname"]: r for r in built["pg_catalog.pg_class"]}
    assert (by_name["pg_class"]["relnamespace"], by_name["pg_class"]["relkind"], by_name["pg_class"]["oid"]) == (11, "r", 1259)
    assert by_name["tables"]["relkind"] == "v" and by_name["tables"]["relnamespace"] != PUBLIC
    attnames = [a["attname"] for a in built["pg_catalog.pg_attribute"] if a["attrelid"] == 1259]
    assert attnames[:3] == ["oid", "relname", "relnamespace"]
    assert {"schemaname": "pg_catalog", "tablename": "pg_class"}.items() <= \
        next(r for r in built["pg_catalog.pg_tables"] if r["tablename"] == "pg_class").items()
