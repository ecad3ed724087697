"""The `anonproxy` command as a user runs it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import psycopg
import pytest

from proxy.wire.scram import ScramServer, Verifier
from tests.integration.conftest import ROOT, free_port, wait_for_port, write_config
from tests.integration.test_tls import self_signed

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


def test_serve_reports_a_busy_port(tmp_path, demo_db):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        out = anonproxy("serve", "--config", str(write_config(tmp_path, demo_db)), "--listen", f"127.0.0.1:{port}")
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr


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


# --- check refuses what would weaken the server, and never prints a secret -------------


def check_problems(config) -> str:
    out = anonproxy("check", str(config))
    assert out.returncode == 2 and out.stdout == "", out
    return out.stderr


def test_check_refuses_a_token_key_others_can_read(tmp_path, demo_db):
    config = write_config(tmp_path, demo_db)
    key = tmp_path / "token.key"
    key.chmod(0o644)
    err = check_problems(config)
    assert (f"tokenization.key_file: {key} has group or world access (mode 0644)" in err
            and f"fix: chmod 600 {key}" in err)
    assert key.read_text().strip() not in err


def test_check_never_prints_the_file_it_cannot_parse(tmp_path):
    _, private_key = self_signed(tmp_path)
    secret_lines = [line for line in private_key.read_text().splitlines() if "-----" not in line]
    err = check_problems(private_key)
    assert "not an anonproxy configuration" in err
    assert not any(line in err for line in secret_lines)
    broken = tmp_path / "broken.yaml"
    broken.write_text("users:\n  alice: {password: SECRET-SECRET, role: [admin}\n")
    err = check_problems(broken)
    assert f"{broken}: not valid YAML at line 2, column" in err and "SECRET" not in err


def test_check_refuses_a_user_declared_twice(tmp_path, demo_db):
    config = write_config(tmp_path, demo_db)
    text = config.read_text()
    masked = next(line for line in text.splitlines() if line.startswith("  analyst: {role: analyst,"))
    text = text.replace(masked, masked + "\n" + masked.replace("{role: analyst,", "{role: admin,"))
    config.write_text(text)
    line = text.splitlines().index(masked) + 1
    assert f"users.analyst: declared twice (lines {line} and {line + 1}); keep one" in check_problems(config)


def test_check_refuses_a_weak_token_key(tmp_path, demo_db):
    config = write_config(tmp_path, demo_db, key=b"a" * 32)
    err = check_problems(config)
    assert "tokenization.key_file: the key in" in err and "too weak" in err
    assert (b"a" * 32).hex() not in err


def test_check_loads_the_tls_pair(tmp_path, demo_db):
    self_signed(tmp_path, "one")
    self_signed(tmp_path, "two")
    good = write_config(tmp_path, demo_db, extra="tls: {cert: one.crt, key: one.key, require: true}\n")
    ok = anonproxy("check", str(good))
    assert ok.returncode == 0 and "TLS required" in ok.stdout, ok.stderr
    good.write_text(good.read_text().replace("key: one.key", "key: two.key"))
    err = check_problems(good)
    assert f"tls: the private key {tmp_path / 'two.key'} does not match the certificate {tmp_path / 'one.crt'}" in err
    assert "BEGIN" not in err


def test_check_refuses_weak_verifiers_and_passwd_does_not_make_them(tmp_path, demo_db):
    from proxy.wire.scram import make_verifier
    config = write_config(tmp_path, demo_db)
    text = config.read_text()
    line = next(line for line in text.splitlines() if line.startswith("  admin: {role: admin,"))
    config.write_text(text.replace(line, f'  admin: {{role: admin, password: "{make_verifier("pw", iterations=1)}"}}'))
    assert "users.admin.password: the verifier has 1 iterations; at least 4096" in check_problems(config)
    out = anonproxy("passwd", "--iterations", "1", stdin="pw\n")
    assert out.returncode == 2 and "at least 4096" in out.stderr and out.stdout == ""


def test_check_warns_about_roles_over_the_risk_threshold_and_strict_fails(tmp_path, demo_db):
    """The demo's analyst as it was: birth year and the exact signup date single out 96% of the
    customers it receives (issue 10). Check says so; the demo as shipped passes."""
    config = write_config(tmp_path, demo_db)
    assert anonproxy("check", "--strict", str(config)).returncode == 0
    text = config.read_text()
    analyst = text.index("  analyst:\n")
    for old, new in (("quasi_identifiers: [birth_date, zip, gender, signup_date]", "quasi_identifiers: [birth_date, zip, gender]"),
                     ("birth_date: {generalize: decade}", "birth_date: {generalize: year}"),
                     ("signup_date: {generalize: year}", "signup_date: raw")):
        assert old in text[analyst:]
        text = text[:analyst] + text[analyst:].replace(old, new, 1)
    config.write_text(text)
    warned = anonproxy("check", str(config))
    assert warned.returncode == 0 and "ok" in warned.stdout
    assert "anonproxy: warning: role analyst, table customers: " in warned.stderr
    assert "table calls" not in warned.stderr and "reporter" not in warned.stderr
    assert "of people singled out by 1 known record" in warned.stderr
    strict = anonproxy("check", "--strict", str(config))
    assert strict.returncode == 1 and "anonproxy: error: role analyst, table customers: " in strict.stderr
