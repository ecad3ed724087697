"""Check policies against the backend's real schema: every table, column and
rule must exist and fit, with the likely intended word for a near miss."""
from __future__ import annotations

import difflib

from proxy.policy.model import ColumnRule, Role, TablePolicy
from proxy.policy.rules import applies_to
from proxy.policy.transforms import kind_of


def _near(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _check_lookup(where: str, rule: ColumnRule, schema: dict[str, dict[str, int]]) -> list[str]:
    mapping, key, value = (rule.options[k].lower() for k in ("table", "key", "value"))
    if mapping not in schema:
        return [f"{where}.table: no table '{mapping}' in the backend{_near(mapping, schema)}"]
    return [f"{where}.{option}: table '{mapping}' has no column '{column}'{_near(column, schema[mapping])}"
            for option, column in (("key", key), ("value", value)) if column not in schema[mapping]]


def _check_table(path: str, table: TablePolicy, columns: dict[str, int],
                 schema: dict[str, dict[str, int]]) -> list[str]:
    problems = []

    def column_exists(where: str, name: str) -> bool:
        if name in columns:
            return True
        problems.append(f"{where}: table '{table.name}' has no column '{name}'{_near(name, columns)}")
        return False

    for name in columns:
        if name.lower().startswith("__anonproxy"):  # the proxy's own names inside policy views
            problems.append(f"{path}: column '{name}' of table '{table.name}' uses the prefix '__anonproxy', "
                            "reserved for the proxy's own names; rename it in the backend")
    if table.privacy_unit:
        column_exists(f"{path}.privacy_unit", table.privacy_unit)
    for qi in table.quasi_identifiers:
        column_exists(f"{path}.quasi_identifiers", qi)
    if table.l_diversity:
        column_exists(f"{path}.l_diversity.column", table.l_diversity[0])
    for name in table.known:
        if column_exists(f"{path}.known", name) and table.rule(name).rule == "hide":
            problems.append(f"{path}.known: '{name}' is hidden from the role, so no attacker learns it from the "
                            "role's rows; list only columns the role receives")
    for name, rule in table.columns.items():
        where = f"{path}.columns.{name}"
        if not column_exists(where, name):
            continue
        if rule.rule == "tokenize" and "by" in rule.options:
            by = rule.options["by"].lower()
            if column_exists(f"{where}.by", by) and kind_of(columns[by]) != "time":
                problems.append(f"{where}.by: a token's period comes from a date or timestamp column, "
                                f"but '{by}' is {kind_of(columns[by])}")
        if rule.kind == "lookup":
            problems += _check_lookup(where, rule, schema)
        wanted, actual = applies_to(rule), kind_of(columns[name])
        if wanted and wanted != actual:
            what = f"{rule.rule} {rule.kind}" if rule.kind else rule.rule
            problems.append(f"{where}: {what} applies to {wanted} columns, but '{name}' is {actual}")
        if rule.bounds is not None and (actual != "number" or rule.rule != "raw"):
            problems.append(f"{where}.bounds: bounds clamp the values dp sums and averages, so they apply to raw "
                            f"number columns, but '{name}' is {actual}" + (f" under {rule.rule}" if rule.rule != "raw" else ""))
    return problems


def check_roles(roles: dict[str, Role], schema: dict[str, dict[str, int]]) -> list[str]:
    """Problems, each naming its path in the configuration; empty when all fits."""
    problems = []
    for role in roles.values():
        for name, table in (role.tables or {}).items():
            path = f"roles.{role.name}.tables.{name}"
            if name not in schema:
                problems.append(f"{path}: no table '{name}' in the backend{_near(name, schema)}")
                continue
            problems += _check_table(path, table, schema[name], schema)
    return problems
