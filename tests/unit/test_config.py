"""Configuration loading: every problem named by its path and value."""
from pathlib import Path

import pytest

from proxy.config import ConfigError, load_config, parse_listen
from proxy.wire.scram import make_verifier

VERIFIER = str(make_verifier("pw", salt=b"0123456789ab"))


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "db.duckdb").write_bytes(b"")
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    return path


GOOD = f"""
listen: 0.0.0.0:7000
database: demo
backend: {{type: duckdb, path: db.duckdb}}
users:
  alice: {{role: analysts, password: "{VERIFIER}"}}
roles:
  analysts: {{mode: raw, tables: [Calls]}}
  admin: {{mode: raw, tables: "*"}}
"""


def test_valid_config_loads_with_paths_relative_to_the_file(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert (cfg.host, cfg.port, cfg.database) == ("0.0.0.0", 7000, "demo")
    assert cfg.backend.path == tmp_path / "db.duckdb"
    assert cfg.users["alice"].role == "analysts"
    assert cfg.roles["analysts"].may_read("calls") and not cfg.roles["analysts"].may_read("customers")
    assert cfg.roles["admin"].tables is None


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


def test_unknown_role_is_named_with_suggestion(tmp_path):
    text = GOOD.replace("role: analysts", "role: analyst")
    assert problems(tmp_path, text) == [
        "users.alice.role: unknown role 'analyst'; did you mean 'analysts'? choices are: admin, analysts"]


def test_plaintext_password_is_refused_without_echoing_it(tmp_path):
    text = GOOD.replace(f'password: "{VERIFIER}"', "password: hunter2hunter2")
    [problem] = problems(tmp_path, text)
    assert problem.startswith("users.alice.password: not a SCRAM-SHA-256 verifier")
    assert "hunter2" not in problem


def test_all_problems_are_reported_at_once(tmp_path):
    text = GOOD.replace("mode: raw, tables: [Calls]", "mode: rwa, tables: 3").replace("0.0.0.0:7000", "nowhere")
    text += "extra_key: 1\n"
    found = problems(tmp_path, text)
    assert "listen: 'nowhere' is not HOST:PORT" in found
    assert any(p.startswith("roles.analysts.mode: unknown mode 'rwa'; did you mean 'raw'?") for p in found)
    assert any(p.startswith("roles.analysts.tables: expected a mapping of table policies, got 3") for p in found)
    assert any(p.startswith("(top).extra_key: unknown key 'extra_key'") for p in found)


def test_missing_database_file_is_reported(tmp_path):
    text = GOOD.replace("path: db.duckdb", "path: nope.duckdb")
    [problem] = problems(tmp_path, text)
    assert problem.startswith("backend.path: file 'nope.duckdb' does not exist")


def test_modes_not_built_yet_are_refused_clearly(tmp_path):
    [problem] = problems(tmp_path, GOOD.replace("mode: raw, tables: [Calls]", "mode: dp, tables: {calls: {}}"))
    assert problem == "roles.analysts.mode: mode 'dp' is not available yet; available: raw, masked, aggregate"


def test_invalid_yaml(tmp_path):
    [problem] = problems(tmp_path, "users: [unclosed")
    assert "not valid YAML" in problem


@pytest.mark.parametrize("text,expected", [("127.0.0.1:6432", ("127.0.0.1", 6432)),
                                           ("[::1]:5", ("::1", 5)), ("localhost:1", ("localhost", 1))])
def test_parse_listen(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["6432", "host:", "host:99999", ":1"])
def test_parse_listen_rejects(text):
    with pytest.raises(ValueError):
        parse_listen(text)


def test_demo_policy_is_valid_and_matches_the_contract():
    demo = Path(__file__).resolve().parents[2] / "policies" / "demo.yaml"
    if not (demo.parent.parent / "examples" / "data" / "demo.duckdb").exists():
        pytest.skip("demo database not built (make demo-data)")
    cfg = load_config(demo)
    assert set(cfg.users) == {"admin", "analyst", "reporter", "dashboard"}
    assert cfg.roles["admin"].mode == "raw" and cfg.roles["admin"].tables is None
    analyst, reporter = cfg.roles["analyst"], cfg.roles["reporter"]
    assert (analyst.mode, analyst.k, reporter.mode, reporter.k) == ("masked", 5, "aggregate", 10)
    customers = analyst.table("customers")
    assert customers.quasi_identifiers == ("birth_date", "zip", "gender", "signup_date")
    assert customers.rule("full_name").rule == "hide"
    assert customers.rule("zip").options == {"length": 3}
    assert reporter.table("customers").rule("annual_income").rule == "raw"
    assert analyst.table("cell_towers").public and reporter.table("cell_towers").public
