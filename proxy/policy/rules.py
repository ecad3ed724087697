"""Parse and check column rules as written in the policy YAML.

    full_name: hide                      # also: raw, null, tokenize
    customer_id: {tokenize: integer}     # tokens stay integers (BIGINT)
    customer_id: {tokenize: integer, scope: day, by: started_at}   # a new token per person and day
    email: {mask: email}                 # j***@example.com
    phone: {mask: phone, keep_last: 2}   # also {mask: card}, {mask: partial, keep_first: 1, keep_last: 1, pad: '*'}
    birth_date: {generalize: year}       # hour, day, week, month, quarter, year
    zip: {generalize: prefix, length: 3}
    cell_id: {generalize: lookup, table: cell_towers, key: cell_id, value: region}   # through a public mapping
    annual_income: {generalize: bins, width: 10000, top: 200000}   # or edges: [...]; bottom: N
    age_band: {generalize: age, bands: [18, 30, 45, 65]}           # on a birth date
    monthly_spend: {perturb: 0.05}       # +-5%, fixed per person and column
"""
from __future__ import annotations

import difflib
from numbers import Real
from typing import Any, Callable

from proxy.policy.model import ColumnRule

TRUNC_UNITS = ("hour", "day", "week", "month", "quarter", "year", "decade")
# rule -> kind -> {option: (check, description)}; kind None = the rule takes no kind
_INT = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a non-negative integer")
_NUM = (lambda v: isinstance(v, Real) and not isinstance(v, bool), "a number")
_CHAR = (lambda v: isinstance(v, str) and len(v) == 1, "one character")
_NAME = (lambda v: isinstance(v, str) and bool(v), "a column or table name")
_UNIT = (lambda v: v in TRUNC_UNITS, f"one of {', '.join(TRUNC_UNITS)}")
_EDGES = (lambda v: isinstance(v, list) and len(v) >= 1 and all(isinstance(x, Real) for x in v)
          and v == sorted(v) and len(set(v)) == len(v), "an increasing list of numbers")
SPECS: dict[str, dict[str | None, dict[str, tuple[Callable[[Any], bool], str]]]] = {
    "raw": {None: {}},
    "hide": {None: {}},
    "null": {None: {}},
    "tokenize": {None: {"scope": _UNIT, "by": _NAME}, "integer": {"scope": _UNIT, "by": _NAME}},
    "mask": {"email": {}, "phone": {"keep_last": _INT}, "card": {},
             "partial": {"keep_first": _INT, "keep_last": _INT, "pad": _CHAR}},
    "generalize": {**{unit: {} for unit in TRUNC_UNITS},
                   "prefix": {"length": _INT},
                   "bins": {"width": _NUM, "edges": _EDGES, "top": _NUM, "bottom": _NUM},
                   "age": {"bands": _EDGES},
                   "lookup": {"table": _NAME, "key": _NAME, "value": _NAME}},
    "perturb": {},  # its value is the relative size, checked below
}
REQUIRED = {("generalize", "prefix"): ("length",), ("generalize", "age"): ("bands",),
            ("generalize", "lookup"): ("table", "key", "value")}
# What column types a rule applies to: "text", "number", "time" (date/timestamp), None = any.
APPLIES_TO = {("mask", k): "text" for k in SPECS["mask"]} | {
    ("generalize", "prefix"): "text", ("generalize", "bins"): "number", ("generalize", "age"): "time",
    ("perturb", None): "number", **{("generalize", u): "time" for u in TRUNC_UNITS}}


def _near(word: str, choices) -> str:
    choices = [c for c in choices if c]
    close = difflib.get_close_matches(word, choices, n=1)
    listing = ", ".join(choices)
    return f"did you mean '{close[0]}'? choices are: {listing}" if close else f"choices are: {listing}"


def parse_rule(spec: Any, path: str, fail: Callable[[str, str], None]) -> ColumnRule | None:
    """One column's rule from YAML, or None after reporting what is wrong with it."""
    if isinstance(spec, str):
        if spec in SPECS and None in SPECS[spec]:
            return ColumnRule(spec)
        fail(path, f"unknown rule {spec!r}; {_near(spec, SPECS)}")
        return None
    if not isinstance(spec, dict):
        fail(path, f"expected a rule name or a mapping, got {spec!r}")
        return None
    if "bounds" in spec or "domain" in spec:
        return _dp_rule(spec, path, fail)
    rules = [k for k in spec if k in SPECS]
    if len(rules) != 1:
        unknown = [str(k) for k in spec if k not in SPECS]
        hint = f"unknown rule '{unknown[0]}'; {_near(unknown[0], SPECS)}" if unknown and not rules \
            else f"exactly one rule of {', '.join(SPECS)}"
        fail(path, f"expected {hint}" if not hint.startswith("unknown") else hint)
        return None
    rule = rules[0]
    value = spec[rule]
    options = {k: v for k, v in spec.items() if k != rule}
    if rule == "perturb":
        ok = isinstance(value, Real) and not isinstance(value, bool) and 0 < value <= 1
        if not ok or options:
            fail(path, f"perturb takes one relative size between 0 and 1 (0.05 = +-5%), got {spec!r}")
            return None
        return ColumnRule("perturb", None, {"relative": float(value)})
    kinds = SPECS[rule]
    if value not in kinds:
        fail(f"{path}.{rule}", f"unknown {rule} kind {value!r}; {_near(str(value), kinds)}")
        return None
    allowed = kinds[value]
    ok = True
    for name, option in options.items():
        if name not in allowed:
            fail(f"{path}.{name}", f"unknown option for {rule} {value}; "
                 + (_near(str(name), allowed) if allowed else "it takes none"))
            ok = False
        elif not allowed[name][0](option):
            fail(f"{path}.{name}", f"expected {allowed[name][1]}, got {option!r}")
            ok = False
    for name in REQUIRED.get((rule, value), ()):
        if name not in options:
            fail(f"{path}.{name}", f"missing: {rule} {value} needs {name}")
            ok = False
    if rule == "tokenize" and ("scope" in options) != ("by" in options):
        fail(path, "a scoped token needs both scope (hour ... year) and by (the time column that sets the period)")
        ok = False
    if (rule, value) == ("generalize", "bins") and ("width" in options) == ("edges" in options):
        fail(path, "generalize bins needs exactly one of width or edges")
        ok = False
    if (rule, value) == ("generalize", "bins") and "width" in options and options["width"] <= 0:
        fail(f"{path}.width", f"expected a positive number, got {options['width']!r}")
        ok = False
    return ColumnRule(rule, value, options) if ok else None


def applies_to(rule: ColumnRule) -> str | None:
    return APPLIES_TO.get((rule.rule, rule.kind))


def _dp_rule(spec: dict, path: str, fail: Callable[[str, str], None]) -> ColumnRule | None:
    """A dp column: `bounds: [lo, hi]` (summed values are clamped to them) and/or
    `domain: [values]` (its public values), beside an optional rule (default raw)."""
    rest = {k: v for k, v in spec.items() if k not in ("bounds", "domain")}
    rule = parse_rule(rest, path, fail) if rest else RAW_RULE
    if rule is None:
        return None
    bounds = spec.get("bounds")
    if bounds is not None and not (isinstance(bounds, list) and len(bounds) == 2
                                   and all(isinstance(b, Real) and not isinstance(b, bool) for b in bounds)
                                   and bounds[0] < bounds[1]):
        fail(f"{path}.bounds", f"expected [lower, upper] with lower < upper, got {bounds!r}")
        return None
    domain = spec.get("domain")
    if domain is not None and not (isinstance(domain, list) and domain and len(set(map(repr, domain))) == len(domain)
                                   and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in domain)):
        fail(f"{path}.domain", f"expected a list of distinct values (text or numbers), got {domain!r}")
        return None
    return ColumnRule(rule.rule, rule.kind, rule.options,
                      (float(bounds[0]), float(bounds[1])) if bounds is not None else None,
                      tuple(domain) if domain is not None else None)


RAW_RULE = ColumnRule("raw")
