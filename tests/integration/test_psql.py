"""The real psql binary against the proxy."""
import os
import shutil
import subprocess

import pytest

PSQL = shutil.which("psql")
pytestmark = pytest.mark.skipif(PSQL is None, reason="psql binary not installed (apt-get install postgresql-client)")


def psql(proxy, *args: str, user: str = "admin", password: str | None = None, stdin: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run([PSQL, proxy.dsn(user, password), "-X", "-v", "ON_ERROR_STOP=0", *args],
                          input=stdin, capture_output=True, text=True, timeout=60, env=env)


def test_count_customers(proxy):
    out = psql(proxy, "-At", "-c", "SELECT count(*) FROM customers")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "10000"


def test_aligned_output_with_header_and_types(proxy):
    out = psql(proxy, "-c", "SELECT cell_id, city FROM cell_towers ORDER BY cell_id LIMIT 2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split("|")[0].strip() == "cell_id" and lines[0].split("|")[1].strip() == "city"
    assert lines[-2:] == ["(2 rows)", ""]


def test_file_with_several_statements_and_transaction(proxy, tmp_path):
    script = tmp_path / "script.sql"
    script.write_text(
        "BEGIN READ ONLY;\n"
        "SELECT count(*) AS n FROM cell_towers;\n"
        "SHOW transaction_isolation;\n"
        "SELECT min(customer_id), max(customer_id) FROM customers; SELECT 'a;b' AS s;\n"
        "COMMIT;\n")
    out = psql(proxy, "-At", "-f", str(script))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "BEGIN"
    assert int(lines[1]) > 0
    assert lines[2] == "read committed"
    assert lines[3] == "1|10000"
    assert lines[4] == "a;b"
    assert lines[5] == "COMMIT"


def test_errors_are_reported_and_the_session_goes_on(proxy):
    out = psql(proxy, "-At", stdin="SELECT nope FROM customers;\nSELECT 41 + 1;\n")
    assert "ERROR:  column \"nope\" does not exist" in out.stderr
    assert out.stdout.strip() == "42"


def test_syntax_error_points_at_the_position(proxy):
    out = psql(proxy, "-At", "-c", "SELECT 1 FRM cell_towers")
    assert out.returncode == 1
    assert 'ERROR:  syntax error at or near "cell_towers"' in out.stderr
    assert "LINE 1: SELECT 1 FRM cell_towers" in out.stderr


def test_restricted_role_does_not_see_other_tables(proxy):
    out = psql(proxy, "-At", "-c", "SELECT count(*) FROM customers", user="partner")
    assert out.returncode == 1
    assert 'ERROR:  relation "customers" does not exist' in out.stderr
    ok = psql(proxy, "-At", "-c", "SELECT count(*) > 0 FROM cell_towers", user="partner")
    assert ok.stdout.strip() == "t", ok.stderr


def test_writes_are_refused(proxy):
    out = psql(proxy, "-At", "-c", "DELETE FROM customers")
    assert out.returncode == 1
    assert "ERROR:  DELETE is not allowed: anonproxy serves read-only queries" in out.stderr


def test_wrong_password(proxy):
    out = psql(proxy, "-At", "-c", "SELECT 1", password="wrong")
    assert out.returncode == 2
    assert 'password authentication failed for user "admin"' in out.stderr


def test_unknown_user_looks_like_wrong_password(proxy):
    out = psql(proxy, "-At", "-c", "SELECT 1", user="admin", password="x")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    nobody = subprocess.run([PSQL, f"postgresql://nobody:x@{proxy.host}:{proxy.port}/demo", "-c", "select 1"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert 'password authentication failed for user "nobody"' in nobody.stderr
    assert out.returncode == nobody.returncode == 2


def test_unknown_database(proxy):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    out = subprocess.run([PSQL, f"postgresql://admin:admin-pw@{proxy.host}:{proxy.port}/other", "-c", "select 1"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert 'database "other" does not exist' in out.stderr


def test_session_functions_answered_as_postgres(proxy):
    out = psql(proxy, "-At", "-c",
               "SELECT current_database(), current_schema(), current_user, version() LIKE 'PostgreSQL 16%'")
    assert out.stdout.strip() == "demo|public|admin|t", out.stderr


def test_example_queries_run_as_written(proxy):
    """examples/queries.sql is PostgreSQL SQL that the README points users to."""
    from tests.integration.conftest import ROOT
    out = psql(proxy, "-v", "ON_ERROR_STOP=1", "-f", str(ROOT / "examples" / "queries.sql"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" rows)") + out.stdout.count("(1 row)") == 4


def test_psycopg_client_example_runs(proxy):
    import sys
    from tests.integration.conftest import ROOT
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "clients" / "psycopg_example.py"), proxy.dsn()],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    regions = [line.split()[0] for line in out.stdout.splitlines()]
    assert len(regions) >= 4 and len(set(regions)) == len(regions)
