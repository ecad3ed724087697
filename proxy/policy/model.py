"""What a role may see: its mode, k, and per table the privacy unit,
quasi-identifiers and one rule per column."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

MODES = ("raw", "masked", "aggregate", "dp")
ALL_TABLES = "*"


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """One column's rule: `rule` is raw, hide, null, tokenize, mask, generalize or
    perturb; `kind` narrows it (mask: email; generalize: prefix); options are checked."""

    rule: str
    kind: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    bounds: tuple[float, float] | None = None  # dp: values are clamped to [lo, hi] before summing
    domain: tuple[Any, ...] | None = None  # dp: the public list of its values, every one released as a group

    @property
    def reveals_raw(self) -> bool:
        return self.rule == "raw"


RAW = ColumnRule("raw")
HIDE = ColumnRule("hide")


@dataclass(frozen=True, slots=True)
class TablePolicy:
    name: str
    privacy_unit: str | None = None  # None: a public dimension
    quasi_identifiers: tuple[str, ...] = ()
    l_diversity: tuple[str, int] | None = None  # (sensitive column, l)
    columns: Mapping[str, ColumnRule] = field(default_factory=dict)
    known: tuple[str, ...] = ()  # what an attacker may know of one record (anonproxy risk); () = the default
    max_contributions: int = 1  # dp: rows one person may add to an answer (more are sampled away)

    @property
    def public(self) -> bool:
        return self.privacy_unit is None

    def rule(self, column: str) -> ColumnRule:
        """Unlisted columns are raw in a public table and hidden in a private one."""
        return self.columns.get(column, RAW if self.public else HIDE)


@dataclass(frozen=True, slots=True)
class Budget:
    """A dp role's privacy budget: `epsilon` in total per period (day, week or month;
    or a window of `days` from `start`), and the epsilon one statement may spend."""

    epsilon: float
    period: str  # "day", "week", "month" or "window"
    default_epsilon: float
    max_epsilon: float
    delta: float
    start: dt.datetime | None = None  # window only
    days: int | None = None  # window only


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    mode: str
    tables: Mapping[str, TablePolicy] | None  # lower-case names; None = every backend table, raw
    k: int = 1
    statement_timeout_ms: int = 60_000  # the cap on SET statement_timeout; 0 = none (full-access raw roles only)
    budget: Budget | None = None  # dp roles only

    def may_read(self, table: str) -> bool:
        return self.tables is None or table.lower() in self.tables

    def table(self, name: str) -> TablePolicy:
        if self.tables is None:
            return TablePolicy(name)
        return self.tables[name.lower()]

    @property
    def transforms(self) -> bool:
        """Whether table references are replaced by policy views."""
        return self.mode != "raw"
