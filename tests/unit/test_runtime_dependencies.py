"""Every third-party module the proxy imports is a runtime dependency in pyproject.toml.

`make test` installs the test extras too, so a module listed only there (cryptography
was, while proxy/tls.py imported it) passes every test and breaks `make demo` on a
fresh machine. This reads the imports themselves, so no listing can miss one.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirement_name(spec: str) -> str:
    return re.split(r"[\[<>=!~;\s]", spec, maxsplit=1)[0].lower().replace("_", "-")


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_import_of_the_proxy_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_requirement_name(spec) for spec in project["dependencies"]}
    distributions = packages_distributions()
    missing = {}
    for path in sorted((ROOT / "proxy").rglob("*.py")):
        for module in _top_level_imports(path):
            if module == "proxy" or module in sys.stdlib_module_names:
                continue
            dists = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
            if not dists & runtime:
                missing.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported by the proxy but not in [project] dependencies: {missing}"


def test_the_check_sees_a_test_only_package() -> None:
    """The check above would catch an import of a package listed only in the test extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_requirement_name(spec) for spec in project["dependencies"]}
    test_only = {_requirement_name(spec) for spec in project["optional-dependencies"]["test"]} - runtime
    assert "pytest" in test_only
    assert not {d.lower() for d in packages_distributions()["_pytest"]} & runtime


def test_every_declared_dependency_has_an_exact_version_in_constraints() -> None:
    """`make install` and `make test` install with `-c constraints.txt`: a dependency added to
    pyproject.toml without a version there would float to whatever is newest."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_requirement_name(spec) for spec in project["dependencies"]}
    declared |= {_requirement_name(spec) for spec in project["optional-dependencies"]["test"]}
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[_requirement_name(name)] = version.strip()
    assert not declared - set(pinned), f"not in constraints.txt: {sorted(declared - set(pinned))}"
    assert all(pinned.values()), "every line of constraints.txt is name==version"
