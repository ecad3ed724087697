"""The `anonproxy` command as a user runs it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg
import pytest

from proxy.wire.scram import ScramServer, Verifier
from tests.integration.conftest import ROOT, free_port, wait_for_port, write_config

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def anonproxy(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], input=stdin, capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=60)


def test_help_lists_the_commands():
    out = anonproxy("--help")
    assert out.returncode == 0
    for command in ("serve", "check", "passwd"):
        assert command in out.stdout


def test_check_accepts_the_demo_policy_and_names_problems(tmp_path, demo_db):
    good = write_config(tmp_path, demo_db)
    ok = anonproxy("check", str(good))
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("role: analyst,", "role: analysts,"))
    out = anonproxy("check", str(bad))
    assert out.returncode == 2
    assert "users.analyst.role: unknown role 'analysts'; did you mean 'analyst'?" in out.stderr


def test_passwd_prints_a_verifier_that_accepts_only_that_password():
    out = anonproxy("passwd", stdin="correct horse\n")
    assert out.returncode == 0
    verifier = Verifier.parse(out.stdout.strip())
    assert "correct horse" not in out.stdout
    from scramp import ScramClient
    for password, accepted in (("correct horse", True), ("wrong", False)):
        client = ScramClient(["SCRAM-SHA-256"], "u", password)
        server = ScramServer(verifier)
        client.set_server_first(server.handle_client_first(client.get_client_first().encode()).decode())
        try:
            server.handle_client_final(client.get_client_final().encode())
            ok = True
        except Exception:
            ok = False
        assert ok is accepted


def test_serve_listen_flag_overrides_and_ctrl_c_stops_cleanly(tmp_path, demo_db):
    config = write_config(tmp_path, demo_db)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "proxy.cli", "serve", "--config", str(config),
                             "--listen", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, cwd=ROOT)
    try:
        wait_for_port("127.0.0.1", port, proc)
        conn = psycopg.connect(f"postgresql://admin:admin-pw@127.0.0.1:{port}/demo", autocommit=True)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        with pytest.raises(psycopg.OperationalError, match="terminating connection due to administrator command"):
            conn.execute("SELECT 1")
        conn.close()
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert f"listening on 127.0.0.1:{port}" in out
    assert out.rstrip().endswith("anonproxy stopped")
    assert "Traceback" not in err


def test_serve_reports_a_busy_port(tmp_path, demo_db, proxy):
    out = anonproxy("serve", "--config", str(write_config(tmp_path, demo_db)), "--listen", f"127.0.0.1:{proxy.port}")
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{proxy.port}" in out.stderr


def test_explain_shows_decisions_and_never_the_key(tmp_path, demo_db):
    from proxy.policy.tokens import pads
    key = b"explain-key-" + bytes(range(40))
    config = write_config(tmp_path, demo_db, key=key)
    out = anonproxy("explain", "--config", str(config), "--user", "analyst",
                    "SELECT email, count(*) FROM customers GROUP BY 1; DELETE FROM calls; SET x.y = 1")
    assert out.returncode == 0, out.stderr
    assert "customers.email: mask email" in out.stdout
    assert "customers.full_name: hidden" in out.stdout
    assert "shared by >= 5 distinct customer_id" in out.stdout
    assert "refused: 42501 DELETE is not allowed" in out.stdout
    assert "answered by the proxy itself" in out.stdout
    assert "'<secret>'" in out.stdout
    for secret in (*pads(key), key.hex()):
        assert secret not in out.stdout.lower()
    traced = anonproxy("explain", "--config", str(config), "--user", "reporter",
                       "WITH customers AS (SELECT * FROM customers) SELECT city, count(*) FROM customers c "
                       "GROUP BY city; SELECT typeof(city) FROM customers")
    assert traced.returncode == 0, traced.stderr
    assert "names: customers -> stored table customers" in traced.stdout  # the CTE body reads the table
    assert "names: CTE customers -> __anonproxy_cte_1" in traced.stdout
    assert "names: c -> CTE __anonproxy_cte_1" in traced.stdout
    assert "allow-list: every node allowed for mode aggregate; functions: count" in traced.stdout
    assert 'aggregate mode: groups of fewer than 10 people suppressed: "c".__anonproxy_pu_0' in traced.stdout
    assert "refused: 42883 function typeof is not allowed" in traced.stdout
    unknown = anonproxy("explain", "--config", str(config), "--user", "nobody", "SELECT 1")
    assert unknown.returncode == 2 and "no user 'nobody'" in unknown.stderr
