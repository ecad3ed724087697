"""Shares with their uncertainty: a measured share is exact; a sampled one comes
with a 95% Wilson score interval (sound near 0% and 100%, where unicity lives)."""
from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Share:
    hits: int
    total: int
    sampled: bool  # True: `total` is a sample of a larger population

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        if not self.sampled or not self.total:
            return self.value, self.value
        n, p = self.total, self.value
        centre = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    def describe(self) -> str:
        low, high = self.interval
        if not self.sampled:
            return f"{100 * self.value:.1f}%"
        return f"{100 * self.value:.1f}% (95% CI {100 * low:.1f}-{100 * high:.1f}%, n={self.total:,})"
