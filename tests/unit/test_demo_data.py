"""The demo database builder: deterministic, realistic shapes, fake people."""
import importlib.util
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("build_demo", ROOT / "examples" / "build_demo.py")
build_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_demo)

FINGERPRINT = {
    "customers": "SELECT md5(string_agg(c::VARCHAR, '|' ORDER BY customer_id)) FROM customers c",
    "calls": "SELECT md5(string_agg(c::VARCHAR, '|' ORDER BY call_id)) FROM calls c",
    "cell_towers": "SELECT md5(string_agg(c::VARCHAR, '|' ORDER BY cell_id)) FROM cell_towers c",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    counts = build_demo.build(path)
    con = duckdb.connect(str(path), read_only=True)
    yield path, counts, con
    con.close()


def one(con, sql):
    return con.execute(sql).fetchone()


def test_row_counts(built):
    _, counts, con = built
    assert counts["customers"] == one(con, "SELECT count(*) FROM customers")[0] == 10_000
    assert 180_000 <= counts["calls"] == one(con, "SELECT count(*) FROM calls")[0] <= 220_000
    assert 100 <= counts["cell_towers"] <= 1_000


def test_same_seed_same_rows_other_seed_other_rows(built, tmp_path):
    path, _, con = built
    build_demo.build(tmp_path / "again.duckdb")
    build_demo.build(tmp_path / "other.duckdb", seed=7)
    again = duckdb.connect(str(tmp_path / "again.duckdb"), read_only=True)
    other = duckdb.connect(str(tmp_path / "other.duckdb"), read_only=True)
    for table, sql in FINGERPRINT.items():
        assert one(again, sql) == one(con, sql), table
    assert one(other, FINGERPRINT["customers"]) != one(con, FINGERPRINT["customers"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.duckdb", "other.duckdb"]  # no leftovers


def test_identifiers_are_unique_and_references_hold(built):
    _, _, con = built
    assert one(con, "SELECT count(DISTINCT email), count(DISTINCT phone) FROM customers") == (10_000, 10_000)
    assert one(con, "SELECT count(*) FROM calls WHERE customer_id NOT IN (SELECT customer_id FROM customers)")[0] == 0
    assert one(con, "SELECT count(*) FROM calls WHERE cell_id NOT IN (SELECT cell_id FROM cell_towers)")[0] == 0


def test_fake_contact_details(built):
    _, _, con = built
    assert one(con, "SELECT bool_and(split_part(email, '@', 2) LIKE '%example.%') FROM customers")[0]
    assert one(con, "SELECT bool_and(regexp_full_match(phone, '\\+1-\\d{3}-555-01\\d{2}')) FROM customers")[0]


def test_realistic_shapes(built):
    _, _, con = built
    top1 = one(con, "SELECT sum(n) FILTER (WHERE r <= 100) / sum(n) FROM (SELECT count(*) n, "
                    "row_number() OVER (ORDER BY count(*) DESC) r FROM calls GROUP BY customer_id)")[0]
    assert top1 > 0.10  # a few heavy callers
    cities, top5 = one(con, "SELECT count(*), sum(n) FILTER (WHERE r <= 5) / 10000 FROM (SELECT count(*) n, "
                            "row_number() OVER (ORDER BY count(*) DESC) r FROM customers GROUP BY city)")
    assert 20 <= cities <= 40 and top5 > 0.40
    assert one(con, "SELECT bool_and(regexp_full_match(zip, '\\d{5}')) FROM customers")[0]
    assert one(con, "SELECT max(k) FROM (SELECT count(DISTINCT left(zip, 3)) k FROM customers GROUP BY city)")[0] == 1
    low, high = one(con, "SELECT min(date_diff('year', birth_date, DATE '2025-01-01')), "
                         "max(date_diff('year', birth_date, DATE '2025-01-01')) FROM customers")
    assert 18 <= low and high <= 91
    assert 40_000 <= one(con, "SELECT median(annual_income) FROM customers")[0] <= 70_000
    assert one(con, "SELECT count(*) FROM calls WHERE started_at < TIMESTAMP '2024-01-01' "
                    "OR started_at >= TIMESTAMP '2025-01-01'")[0] == 0
