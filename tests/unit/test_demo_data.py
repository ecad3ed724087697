"""The demo database builder: deterministic, atomic, realistic shapes, fake people."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "build_demo.py"
_spec = importlib.util.spec_from_file_location("build_demo", SCRIPT)
build_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_demo)

PRIMARY_KEYS = {"customers": "customer_id", "calls": "call_id", "cell_towers": "cell_id"}
AGE = "date_part('year', age(DATE '2025-01-01', birth_date))"  # completed years on 2025-01-01


def fingerprints(path: Path) -> dict[str, str]:
    """An md5 of every table's rows in primary-key order."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {table: con.execute(f"SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY {pk})) FROM {table} t")
                .fetchall()[0][0] for table, pk in PRIMARY_KEYS.items()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "nested" / "demo.duckdb"  # parent directories are created
    counts = build_demo.build(path)
    con = duckdb.connect(str(path), read_only=True)
    yield path, counts, con
    con.close()


def one(con, sql):
    rows = con.execute(sql).fetchall()
    assert len(rows) == 1, sql
    return rows[0]


def test_row_counts(built):
    _, counts, con = built
    assert set(counts) == set(PRIMARY_KEYS)
    for table, n in counts.items():
        assert one(con, f"SELECT count(*) FROM {table}")[0] == n, table
    assert counts["customers"] == 10_000
    assert 180_000 <= counts["calls"] <= 220_000
    assert 100 <= counts["cell_towers"] <= 1_000


def test_schema(built):
    _, _, con = built
    for table, columns in build_demo.SCHEMA.items():
        got = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                          [table]).fetchall()
        assert got == [(name, kind.replace(" PRIMARY KEY", "")) for name, kind in columns], table
    assert one(con, "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'customers' AND column_name = 'annual_income'") == ("INTEGER",)


def test_same_seed_same_rows_other_seed_other_rows(built, tmp_path):
    path, _, _ = built
    first = fingerprints(path)
    build_demo.build(tmp_path / "again.duckdb")
    assert fingerprints(tmp_path / "again.duckdb") == first
    build_demo.build(tmp_path / "other.duckdb", seed=7)
    other = fingerprints(tmp_path / "other.duckdb")
    assert all(other[table] != first[table] for table in PRIMARY_KEYS), (other, first)


def test_build_leaves_only_the_final_file(built):
    path, _, _ = built
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no scratch directory, no .wal


def test_failed_build_keeps_the_old_file_and_leaves_no_scratch(tmp_path, monkeypatch):
    target = tmp_path / "demo.duckdb"
    target.write_bytes(b"the previous database")
    real_load = build_demo._load

    def load(con, table, data):
        if table == "calls":  # customers and towers are already written to the scratch database
            raise KeyboardInterrupt("interrupted mid-build")
        return real_load(con, table, data)

    monkeypatch.setattr(build_demo, "_load", load)
    with pytest.raises(KeyboardInterrupt):
        build_demo.build(target)
    assert target.read_bytes() == b"the previous database"
    assert [p.name for p in tmp_path.iterdir()] == ["demo.duckdb"]


def test_identifiers_are_unique_and_references_hold(built):
    _, _, con = built
    assert one(con, "SELECT count(DISTINCT customer_id), min(customer_id), max(customer_id), "
                    "count(DISTINCT email), count(DISTINCT phone) FROM customers") == (10_000, 1, 10_000, 10_000, 10_000)
    assert one(con, "SELECT count(DISTINCT call_id) = count(*) FROM calls")[0]
    assert one(con, "SELECT count(DISTINCT cell_id) = count(*) FROM cell_towers")[0]
    assert one(con, "SELECT count(*) FROM calls WHERE customer_id NOT IN (SELECT customer_id FROM customers)")[0] == 0
    assert one(con, "SELECT count(*) FROM calls WHERE cell_id NOT IN (SELECT cell_id FROM cell_towers)")[0] == 0
    for table in PRIMARY_KEYS:  # no NULLs anywhere
        columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        nulls = " + ".join(f"count(*) - count({c})" for c in columns)
        assert one(con, f"SELECT {nulls} FROM {table}")[0] == 0, table


def test_fake_contact_details(built):
    _, _, con = built
    assert one(con, "SELECT bool_and(email = lower(email)) FROM customers")[0]
    assert one(con, "SELECT bool_and(regexp_full_match(split_part(email, '@', 2), "
                    "'([a-z]+\\.)?example\\.(com|org|net)')) FROM customers")[0]
    assert one(con, "SELECT count(DISTINCT split_part(email, '@', 2)) FROM customers")[0] >= 3
    # the surname is in the address (the first name, or its initial, too)
    assert one(con, "SELECT bool_and(contains(split_part(email, '@', 1), lower(split_part(full_name, ' ', 2)))) "
                    "FROM customers")[0]
    # fictional numbers: 555-0100 .. 555-0199 in any area code, 10 digits after +1
    assert one(con, "SELECT bool_and(regexp_full_match(phone, '\\+1-[2-9]\\d{2}-555-01\\d{2}')) FROM customers")[0]
    assert one(con, "SELECT count(*) FROM customers WHERE NOT regexp_full_match(full_name, '[A-Z][a-zA-Z]+ [A-Z][a-zA-Z]+')")[0] == 0


def test_categories(built):
    _, _, con = built
    shares = dict(con.execute("SELECT gender, count(*) / 10000 FROM customers GROUP BY 1").fetchall())
    assert set(shares) == {"F", "M", "X"} and 0.003 < shares["X"] < 0.05 and shares["F"] > 0.4 and shares["M"] > 0.4
    shares = dict(con.execute("SELECT segment, count(*) / 10000 FROM customers GROUP BY 1").fetchall())
    assert set(shares) == {"consumer", "small_business", "enterprise"}
    assert shares["consumer"] > 0.7 and 0.08 < shares["small_business"] < 0.25 and 0.02 < shares["enterprise"] < 0.1
    assert {r[0] for r in con.execute("SELECT DISTINCT direction FROM calls").fetchall()} == {"incoming", "outgoing"}
    assert 4 <= one(con, "SELECT count(DISTINCT region) FROM customers")[0] <= 6
    # a city lies in one region, the same for customers and towers
    assert one(con, "SELECT max(n) FROM (SELECT count(DISTINCT region) n FROM "
                    "(SELECT city, region FROM customers UNION ALL SELECT city, region FROM cell_towers) GROUP BY city)")[0] == 1


def test_heavy_callers(built):
    _, _, con = built
    top1, median = one(con, "SELECT sum(n) FILTER (WHERE r <= 100) / sum(n), median(n) FROM (SELECT count(*) n, "
                            "row_number() OVER (ORDER BY count(*) DESC, customer_id) r FROM calls GROUP BY customer_id)")
    assert top1 > 0.10 and 3 <= median <= 40
    assert one(con, "SELECT max(n) FROM (SELECT count(*) n FROM calls GROUP BY customer_id)")[0] >= 1_000


def test_geography(built):
    _, _, con = built
    cities, top5 = one(con, "SELECT count(*), sum(n) FILTER (WHERE r <= 5) / 10000 FROM (SELECT count(*) n, "
                            "row_number() OVER (ORDER BY count(*) DESC, city) r FROM customers GROUP BY city)")
    assert 20 <= cities <= 40 and top5 > 0.40
    assert one(con, "SELECT bool_and(regexp_full_match(zip, '\\d{5}')) FROM customers")[0]
    # every city has its own 3-digit prefix, and a handful of zips under it
    assert one(con, "SELECT max(k) FROM (SELECT count(DISTINCT left(zip, 3)) k FROM customers GROUP BY city)")[0] == 1
    assert one(con, "SELECT max(k) FROM (SELECT count(DISTINCT city) k FROM customers GROUP BY left(zip, 3))")[0] == 1
    assert one(con, "SELECT count(DISTINCT zip) FROM customers")[0] >= 2 * cities
    assert one(con, "SELECT count(DISTINCT city) FROM cell_towers")[0] == cities
    # towers sit near their city's centre: all of one city within ~1 degree of each other
    assert one(con, "SELECT max(greatest(dlat, dlon)) FROM (SELECT max(lat) - min(lat) dlat, "
                    "max(lon) - min(lon) dlon FROM cell_towers GROUP BY city)")[0] < 1.5
    assert one(con, "SELECT bool_and(lat BETWEEN 20 AND 50 AND lon BETWEEN -130 AND -65) FROM cell_towers")[0]
    home = one(con, "SELECT avg((t.city = c.city)::INT) FROM calls k JOIN customers c USING (customer_id) "
                    "JOIN cell_towers t USING (cell_id)")[0]
    assert home > 0.7


def test_people(built):
    _, _, con = built
    low, high, middle = one(con, f"SELECT min({AGE}), max({AGE}), avg(({AGE} BETWEEN 25 AND 60)::INT) FROM customers")
    assert low >= 18 and high <= 90 and middle > 0.55
    assert 40_000 <= one(con, "SELECT median(annual_income) FROM customers")[0] <= 70_000
    p99, top = one(con, "SELECT quantile_disc(annual_income, 0.99), max(annual_income) FROM customers")
    assert p99 > 150_000 and top < 1_000_000
    enterprise, consumer = one(con, "SELECT median(annual_income) FILTER (WHERE segment = 'enterprise'), "
                                    "median(annual_income) FILTER (WHERE segment = 'consumer') FROM customers")
    assert enterprise > consumer
    assert one(con, "SELECT count(*) FROM (SELECT full_name, birth_date FROM customers "
                    "GROUP BY ALL HAVING count(*) > 1)")[0] <= 5
    assert one(con, "SELECT bool_and(signup_date BETWEEN DATE '2015-01-01' AND DATE '2024-12-31') FROM customers")[0]
    assert one(con, "SELECT count(*) FROM customers WHERE signup_date < birth_date + INTERVAL 18 YEAR")[0] == 0


def test_calls(built):
    _, _, con = built
    assert one(con, "SELECT count(*) FROM calls WHERE started_at < TIMESTAMP '2024-01-01' "
                    "OR started_at >= TIMESTAMP '2025-01-01'")[0] == 0
    assert one(con, "SELECT count(*) FROM calls JOIN customers USING (customer_id) "
                    "WHERE started_at < signup_date")[0] == 0
    night, day = one(con, "SELECT count(*) FILTER (WHERE hour(started_at) BETWEEN 1 AND 5), "
                          "count(*) FILTER (WHERE hour(started_at) BETWEEN 10 AND 14) FROM calls")
    assert day > 5 * night
    missed, median, longest = one(con, "SELECT avg((duration_s = 0)::INT), median(duration_s), max(duration_s) FROM calls")
    assert 0.01 < missed < 0.2 and median < 180 and 3_600 < longest <= 4 * 3_600
    assert one(con, "SELECT bool_and(duration_s >= 0 AND cost >= 0) FROM calls")[0]
    incoming, outgoing = one(con, "SELECT avg(cost) FILTER (WHERE direction = 'incoming'), "
                                  "avg(cost) FILTER (WHERE direction = 'outgoing') FROM calls")
    assert incoming < outgoing
    assert one(con, "SELECT count(*) FROM calls WHERE direction = 'outgoing' AND duration_s > 600 "
                    "AND cost <= (SELECT max(cost) FROM calls WHERE direction = 'outgoing' AND duration_s < 60)")[0] == 0
    assert one(con, "SELECT bool_and(call_id = rn) FROM (SELECT call_id, row_number() OVER (ORDER BY started_at, "
                    "customer_id, call_id) rn FROM calls)")[0]  # ids follow time


def test_command_line(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    assert "--seed" in out.stdout and "output" in out.stdout
    assert build_demo.DEFAULT_OUTPUT == ROOT / "examples" / "data" / "demo.duckdb"
    target = tmp_path / "cli" / "demo.duckdb"
    out = subprocess.run([sys.executable, str(SCRIPT), str(target), "--seed", "3"],
                         capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and "customers: 10,000" in lines[0] and "calls: " in lines[0] and "cell_towers: " in lines[0]
    assert [p.name for p in target.parent.iterdir()] == ["demo.duckdb"]
