"""What a role may see. Issue-3 slice: `raw` roles over an allow-list of tables."""
from __future__ import annotations

from dataclasses import dataclass

MODES = ("raw", "masked", "aggregate", "dp")
IMPLEMENTED_MODES = ("raw",)
ALL_TABLES = "*"


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    mode: str
    tables: frozenset[str] | None  # lower-case table names; None = every backend table

    def may_read(self, table: str) -> bool:
        return self.tables is None or table.lower() in self.tables
