"""Configuration checks that keep secrets secret: key file modes, files that are
not configurations, duplicate keys, weak verifiers, TLS pairs, TLS requirements."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxy import config as config_module
from proxy.config import DEFAULT_AUTH_DELAY_MS, ConfigError, load_config
from proxy.wire.scram import make_verifier
from tests.certs import self_signed

VERIFIER = str(make_verifier("pw", salt=b"0123456789ab"))
KEY_HEX = bytes(range(100, 132)).hex()


def config_text(extra: str = "", users: str = "", roles: str = "") -> str:
    return f"""
backend: {{type: duckdb, path: db.duckdb}}
users:
  alice: {{role: analysts, password: "{VERIFIER}"}}
  bob: {{role: admin, password: "{VERIFIER}"}}
{users}
roles:
  analysts: {{mode: raw, tables: [calls]}}
  admin: {{mode: raw, tables: "*"}}
{roles}
{extra}"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "db.duckdb").write_bytes(b"")
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


# --- files that are not configurations: never echoed --------------------------

PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET\n-----END PRIVATE KEY-----\n"
SHADOW = "root:$6$SECRETSALT$SECRETHASH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


@pytest.mark.parametrize("text", [PRIVATE_KEY, SHADOW, "SECRETSECRET\n", "- SECRET\n- SECRET2\n",
                                  "SECRET: 1\nother: SECRET2\n"])
def test_a_file_that_is_not_a_configuration_is_never_echoed(tmp_path, text):
    [problem] = problems(write(tmp_path, text))
    assert "not an anonproxy configuration" in problem and "SECRET" not in problem


@pytest.mark.parametrize("text, where", [
    ("users: [SECRET\n", "line 2, column 1"),
    ("listen: x\n\tSECRET: 1\n", "line 2, column 1"),
    ("a: 'SECRET\n", "line 2, column 1"),
    ("users: !!python/object:os.system SECRET\n", "line 1, column 8"),
    ("key: *SECRET\n", "line 1, column 6"),
    ("a: b: SECRET\n", "line 1, column 5"),
])
def test_yaml_errors_give_the_place_and_kind_only(tmp_path, text, where):
    [problem] = problems(write(tmp_path, text))
    assert problem.startswith(f"{tmp_path / 'proxy.yaml'}: not valid YAML at {where}")
    assert "SECRET" not in problem and "python/object" not in problem


def test_a_binary_file_is_reported_without_its_bytes(tmp_path):
    path = tmp_path / "proxy.yaml"
    path.write_bytes(b"\x30\x82\x01\xffSECRET")
    [problem] = problems(path)
    assert problem == f"{path}: not a YAML file: not UTF-8 text (byte 1)"


def test_a_value_of_the_wrong_shape_is_not_echoed(tmp_path):
    found = problems(write(tmp_path, config_text(f"tokenization: {KEY_HEX}\n")))
    assert "tokenization: expected a mapping, got str" in found
    assert all(KEY_HEX not in p for p in found)


# --- duplicate keys -------------------------------------------------------------


def test_duplicate_keys_are_refused_with_their_path_and_both_lines(tmp_path):
    text = config_text(users='  alice: {role: admin, password: "' + VERIFIER + '"}',
                       roles="  admin: {mode: raw, tables: [calls]}")
    lines = text.splitlines()
    first_alice, second_alice = [i + 1 for i, line in enumerate(lines) if line.startswith("  alice:")]
    first_admin, second_admin = [i + 1 for i, line in enumerate(lines) if line.startswith("  admin:")]
    assert problems(write(tmp_path, text)) == [
        f"users.alice: declared twice (lines {first_alice} and {second_alice}); keep one",
        f"roles.admin: declared twice (lines {first_admin} and {second_admin}); keep one"]


def test_duplicate_keys_are_found_at_any_depth_and_at_the_top(tmp_path):
    text = "database: a\nroles:\n  r:\n    mode: raw\n    tables: [t]\n    mode: masked\ndatabase: b\n"
    assert problems(write(tmp_path, text)) == ["roles.r.mode: declared twice (lines 4 and 6); keep one",
                                              "database: declared twice (lines 1 and 7); keep one"]


def test_merge_keys_may_be_overridden(tmp_path):
    text = config_text(roles="  base: &base {mode: raw, tables: [calls]}\n  more: {<<: *base, tables: [cell_towers]}")
    cfg = load_config(write(tmp_path, text))
    assert cfg.roles["more"].may_read("cell_towers") and not cfg.roles["more"].may_read("calls")


# --- key files: PostgreSQL's rule for its server key -----------------------------


def key_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "token.key"
    path.write_text(KEY_HEX)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_a_token_key_only_its_owner_reads_is_accepted(tmp_path, mode):
    path = key_file(tmp_path, mode)
    cfg = load_config(write(tmp_path, config_text(f"tokenization: {{key_file: {path}}}")))
    assert cfg.token_key == bytes.fromhex(KEY_HEX)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_token_key_others_may_read_is_refused_with_the_fix(tmp_path, mode):
    path = key_file(tmp_path, mode)
    assert problems(write(tmp_path, config_text(f"tokenization: {{key_file: {path}}}"))) == [
        f"tokenization.key_file: {path} has group or world access (mode {mode:04o}); a key file must be "
        "u=rw (0600) or less, or u=rw,g=r (0640) or less when owned by root; fix: chmod 600 " + str(path)]


def test_a_root_owned_key_may_be_group_readable_by_a_server_not_running_as_root(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs a root-owned file: runs as root")
    monkeypatch.setattr(config_module.os, "geteuid", lambda: 12345)
    path = key_file(tmp_path, 0o640)
    assert load_config(write(tmp_path, config_text(f"tokenization: {{key_file: {path}}}"))).token_key
    path.chmod(0o644)
    [problem] = problems(write(tmp_path, config_text(f"tokenization: {{key_file: {path}}}")))
    assert problem.endswith(f"fix: chmod 640 {path}")


def test_a_key_owned_by_someone_else_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs to give a file away: runs as root")
    path = key_file(tmp_path, 0o600)
    os.chown(path, 4321, -1)
    [problem] = problems(write(tmp_path, config_text(f"tokenization: {{key_file: {path}}}")))
    assert problem == (f"tokenization.key_file: {path} must be owned by the user running anonproxy or by root "
                       "(its owner is uid 4321)")


def test_a_weak_token_key_is_refused_by_check(tmp_path):
    path = tmp_path / "token.key"
    path.write_text("a" * 64)
    path.chmod(0o600)
    [problem] = problems(write(tmp_path, config_text(f"tokenization: {{key_file: {path}}}")))
    assert problem.startswith("tokenization.key_file: the key in") and "too weak" in problem
    assert "a" * 16 not in problem


# --- verifiers -----------------------------------------------------------------


@pytest.mark.parametrize("iterations", [1, 4095])
def test_verifiers_with_fewer_than_4096_iterations_are_refused(tmp_path, iterations):
    weak = str(make_verifier("pw", iterations=iterations))
    [problem] = problems(write(tmp_path, config_text().replace(VERIFIER, weak, 1)))
    assert problem.startswith(f"users.alice.password: the verifier has {iterations} iterations; at least 4096")
    assert weak.split("$")[2] not in problem  # no key material


# --- TLS -------------------------------------------------------------------------


def tls_text(cert: Path, key: Path, require: str = "") -> str:
    return f"tls: {{cert: {cert}, key: {key}{', require: ' + require if require else ''}}}\n"


def test_tls_pair_is_loaded_and_require_defaults_to_false(tmp_path):
    cert, key = self_signed(tmp_path)
    cfg = load_config(write(tmp_path, config_text(tls_text(cert, key))))
    assert cfg.tls is not None and cfg.tls.require is False
    assert not any(u.require_tls for u in cfg.users.values())


def test_a_key_that_does_not_match_the_certificate_is_named_at_load(tmp_path):
    cert, _ = self_signed(tmp_path, "one")
    _, other_key = self_signed(tmp_path, "two")
    assert problems(write(tmp_path, config_text(tls_text(cert, other_key)))) == [
        f"tls: the private key {other_key} does not match the certificate {cert}"]


def test_a_tls_key_others_may_read_is_refused(tmp_path):
    cert, key = self_signed(tmp_path)
    key.chmod(0o644)
    [problem] = problems(write(tmp_path, config_text(tls_text(cert, key))))
    assert problem.startswith(f"tls.key: {key} has group or world access (mode 0644)")
    assert "BEGIN" not in problem


def test_tls_files_that_are_not_pem_are_named_without_their_contents(tmp_path):
    cert, key = self_signed(tmp_path)
    cert.write_text("SECRET not a certificate")
    [problem] = problems(write(tmp_path, config_text(tls_text(cert, key))))
    assert problem == f"tls: {cert} is not a PEM certificate (-----BEGIN CERTIFICATE-----)"
    cert, key = self_signed(tmp_path)
    key.write_text("SECRET not a key")
    [problem] = problems(write(tmp_path, config_text(tls_text(cert, key))))
    assert problem == f"tls: {key} is not a PEM private key (-----BEGIN PRIVATE KEY-----)"


def test_require_tls_globally_per_role_and_per_user(tmp_path):
    cert, key = self_signed(tmp_path)
    everyone = load_config(write(tmp_path, config_text(tls_text(cert, key, "true"))))
    assert all(u.require_tls for u in everyone.users.values())
    per_role = load_config(write(tmp_path, config_text(tls_text(cert, key)).replace(
        'admin: {mode: raw, tables: "*"}', 'admin: {mode: raw, tables: "*", require_tls: true}')))
    assert (per_role.users["alice"].require_tls, per_role.users["bob"].require_tls) == (False, True)
    per_user = load_config(write(tmp_path, config_text(tls_text(cert, key)).replace(
        "alice: {role: analysts,", "alice: {require_tls: true, role: analysts,")))
    assert (per_user.users["alice"].require_tls, per_user.users["bob"].require_tls) == (True, False)


def test_require_tls_needs_tls_and_a_boolean(tmp_path):
    text = config_text().replace("alice: {role: analysts,", "alice: {require_tls: yes please, role: analysts,")
    text = text.replace('admin: {mode: raw, tables: "*"}', 'admin: {mode: raw, tables: "*", require_tls: true}')
    assert problems(write(tmp_path, text)) == [
        "roles.admin.require_tls: needs TLS: configure tls: {cert: FILE, key: FILE}",
        "users.alice.require_tls: expected true or false, got 'yes please'"]


def test_tls_needs_both_files(tmp_path):
    assert problems(write(tmp_path, config_text("tls: {require: true}\n"))) == [
        "tls.cert: missing: the server's certificate chain (PEM)", "tls.key: missing: its private key (PEM)"]


# --- auth_delay and the secret for unknown users -------------------------------------


@pytest.mark.parametrize("value, ms", [(None, DEFAULT_AUTH_DELAY_MS), ("0s", 0), ("250ms", 250), ("2s", 2000)])
def test_auth_delay(tmp_path, value, ms):
    extra = f"limits: {{auth_delay: {value}}}\n" if value else ""
    assert load_config(write(tmp_path, config_text(extra))).limits.auth_delay_ms == ms


@pytest.mark.parametrize("value, message", [("20s", "expected at most 10s"), ("soon", "expected a duration")])
def test_auth_delay_out_of_range(tmp_path, value, message):
    [problem] = problems(write(tmp_path, config_text(f"limits: {{auth_delay: {value}}}\n")))
    assert problem.startswith(f"limits.auth_delay: {message}")


def test_the_secret_for_unknown_users_is_stable_and_derived_from_secrets(tmp_path):
    path = key_file(tmp_path, 0o600)
    keyed = write(tmp_path, config_text(f"tokenization: {{key_file: {path}}}"))
    secret = load_config(keyed).auth_secret
    assert secret == load_config(keyed).auth_secret  # a restart
    assert len(secret) == 32 and bytes.fromhex(KEY_HEX) not in secret
    path.write_text(bytes(range(1, 33)).hex())
    assert load_config(keyed).auth_secret != secret  # a secret, not a constant
    unkeyed = load_config(write(tmp_path, config_text()))
    assert unkeyed.auth_secret == load_config(tmp_path / "proxy.yaml").auth_secret
    other_password = config_text().replace(VERIFIER, str(make_verifier("other")), 1)
    assert load_config(write(tmp_path, other_password)).auth_secret != unkeyed.auth_secret
