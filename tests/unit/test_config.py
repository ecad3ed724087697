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


def test_a_dp_role_needs_a_budget(tmp_path):
    [problem] = problems(tmp_path, GOOD.replace("mode: raw, tables: [Calls]", "mode: dp, tables: {calls: {}}"))
    assert problem == "roles.analysts.budget: a dp role needs a budget, e.g. {epsilon: 10, period: month}"


@pytest.mark.parametrize("settings,expected", [
    ("budget: {epsilon: 10, period: year}", "roles.analysts.budget.period: expected one of day, week, month"),
    ("budget: {epsilon: -1}", "roles.analysts.budget.epsilon: expected a positive number, got -1"),
    ("budget: {epsilon: 1}, max_epsilon: 2", "roles.analysts: expected default_epsilon (0.5) <= max_epsilon (2) <= budget epsilon (1)"),
    ("budget: {epsilon: 1}, delta: 0.1", "roles.analysts.delta: expected a small probability below 0.001"),
    ("budget: {epsilon: 1, period: {start: 2026-01-01, days: 0}}", "roles.analysts.budget.period: expected {start: YYYY-MM-DD, days: N}"),
])
def test_dp_budget_settings_are_checked(tmp_path, settings, expected):
    found = problems(tmp_path, GOOD.replace("mode: raw, tables: [Calls]", f"mode: dp, {settings}, tables: {{calls: {{}}}}"))
    assert any(p.startswith(expected) for p in found), found


def test_dp_columns_take_bounds_and_domains(tmp_path):
    text = GOOD.replace("mode: raw, tables: [Calls]", "mode: dp, budget: {epsilon: 10, period: {start: 2026-01-01, days: 30}}, "
                        "tables: {calls: {privacy_unit: customer_id, max_contributions: 5, columns: "
                        "{cost: {bounds: [0, 20]}, direction: {domain: [in, out]}, started_at: {generalize: month, domain: [1]}}}}")
    role = load_config(write(tmp_path, text)).roles["analysts"]
    calls = role.table("calls")
    assert (calls.max_contributions, calls.rule("cost").bounds, calls.rule("direction").domain) == (5, (0, 20), ("in", "out"))
    assert (calls.rule("started_at").rule, calls.rule("started_at").kind) == ("generalize", "month")
    assert (role.budget.period, role.budget.days, str(role.budget.start)) == ("window", 30, "2026-01-01 00:00:00+00:00")
    bad = text.replace("bounds: [0, 20]", "bounds: [20, 0]").replace("max_contributions: 5", "max_contributions: 0")
    found = problems(tmp_path, bad)
    assert any(p.startswith("roles.analysts.tables.calls.columns.cost.bounds: expected [lower, upper]") for p in found), found
    assert any(p.startswith("roles.analysts.tables.calls.max_contributions: expected a whole number") for p in found), found
    raw_budget = GOOD.replace("mode: raw, tables: [Calls]", "mode: raw, max_epsilon: 1, tables: [Calls]")
    assert any(p.startswith("roles.analysts.max_epsilon: budget settings apply to dp roles only")
               for p in problems(tmp_path, raw_budget))


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


def test_demo_dashboard_is_the_dp_contract():
    """Issue 11, item 8: the demo's dashboard login."""
    cfg = load_config(Path(__file__).resolve().parents[2] / "policies" / "demo.yaml")
    assert cfg.users["dashboard"].role == "dashboard"
    role = cfg.roles["dashboard"]
    b = role.budget
    assert (role.mode, role.k, b.epsilon, b.period, b.default_epsilon, b.delta) == ("dp", 5, 10, "month", 0.5, 1e-6)
    customers, calls = role.table("customers"), role.table("calls")
    assert (customers.privacy_unit, customers.max_contributions) == ("customer_id", 1)
    assert customers.rule("annual_income").bounds == (0, 300000)
    assert all(customers.rule(c).domain for c in ("region", "segment", "gender"))
    assert (calls.privacy_unit, calls.max_contributions) == ("customer_id", 50)
    assert calls.rule("duration_s").bounds == (0, 3600) and calls.rule("cost").bounds == (0, 20)
    assert role.table("cell_towers").public


def test_bounds_without_a_privacy_unit_are_a_mistake_not_a_public_table(tmp_path):
    found = problems(tmp_path, GOOD.replace("mode: raw, tables: [Calls]", "mode: dp, budget: {epsilon: 10}, "
                                            "tables: {calls: {columns: {cost: {bounds: [0, 20]}}}}"))
    assert any(p.startswith("roles.analysts.tables.calls: bounds are declared but no privacy_unit") for p in found), found
