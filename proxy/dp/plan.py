"""A DP statement's plan: what the backend computes exactly, what the proxy
then releases with noise, and every privacy cost stated before anything runs.

The backend computes, per group, a few integer *quantities* over the bounded
relation (each person keeps at most `contributions` rows, each summed value is
clamped to its bounds and put on an integer grid). Each quantity has an L1
sensitivity that follows from those two numbers alone. The client's aggregates
are *outputs* computed from released quantities: count and sum from one, avg
from a centred sum over a count. The statement's epsilon is split equally over
the quantities (sequential composition).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

COUNT, SUM = "count", "sum"


@dataclass(frozen=True, slots=True)
class Quantity:
    """One integer the backend computes per group, released with geometric noise."""

    kind: str  # COUNT or SUM
    sensitivity: int  # L1 over all groups, in grid steps: how much one person can move it
    resolution: float = 1.0  # SUM: one step on the grid is this much of the column
    centre: float = 0.0  # SUM: values are summed as (x - centre)
    per_group: int = 1  # COUNT: the most one person adds to one group (a group of one person has at most this)


@dataclass(frozen=True, slots=True)
class Output:
    """An aggregate the client wrote, computed from released quantities."""

    kind: str  # "count", "sum" or "avg"
    label: str  # as the client wrote it, for notices: avg(annual_income)
    quantities: tuple[int, ...]  # count/sum: (q,); avg: (sum q, count q)
    bounds: tuple[float, float] | None = None  # sum/avg: the column's declared bounds
    integer: bool = True  # released as BIGINT (counts, sums of whole numbers on a grid of 1) or DOUBLE


@dataclass(frozen=True, slots=True)
class GroupKey:
    label: str  # as the client wrote it
    domain: tuple[Any, ...] | None  # public values: every one released, zeros included
    domain_sql: str | None = None  # a public table's column: the backend statement listing its values


@dataclass(frozen=True, slots=True)
class DpPlan:
    keys: tuple[GroupKey, ...]
    quantities: tuple[Quantity, ...]
    outputs: tuple[Output, ...]
    threshold_quantity: int | None  # the count a group's release is decided on; None: by domain or global
    contributions: int  # rows one person keeps
    k: int  # the role's k: no group is released by threshold below it
    post_sql: str  # DuckDB SQL over __r(g0.., a0..): the client's projections, HAVING, ORDER BY, LIMIT
    # When post_sql only picks and names columns (no HAVING, ORDER BY, LIMIT or expression): each
    # output's name and its position in (g0.., a0..), so the proxy can pick them itself.
    layout: tuple[tuple[str, int], ...] | None = None
    # Why each person has one row ("customers.customer_id is the primary key", and which public
    # tables are joined on theirs): the backend statement samples nothing (contributions is 1).
    unit_key: str | None = None
    # What the exact statement's result columns (names and types) follow from: every exact
    # statement with the same key has the same shape, whatever its WHERE and ON conditions.
    shape_key: str | None = None

    @property
    def by_domain(self) -> bool:
        return bool(self.keys) and all(k.domain is not None or k.domain_sql is not None for k in self.keys)

    def epsilon_each(self, epsilon: float) -> float:
        return epsilon / len(self.quantities)

    def threshold(self, epsilon: float, delta: float) -> float:
        """The noisy count a group needs to be released (when not released by domain).

        A group only one person makes has a true count of at most `per_group`; geometric
        noise exceeds t with probability at most exp(-eps t / sensitivity); one person
        can make at most `contributions` groups. The union bound keeps the chance that
        any of them appears below delta. Never below k."""
        assert self.threshold_quantity is not None
        q = self.quantities[self.threshold_quantity]
        eps = self.epsilon_each(epsilon)
        groups = max(1, self.contributions)
        tau = q.per_group + (q.sensitivity / eps) * math.log(groups / delta)
        return max(float(self.k), math.ceil(tau))


def geometric_bound(epsilon: float, sensitivity: float, confidence: float = 0.95) -> int:
    """The smallest t with P(|noise| <= t) >= confidence for two-sided geometric noise
    of parameter p = exp(-epsilon / sensitivity): P(|X| > t) = 2 p^(t+1) / (1 + p)."""
    p = math.exp(-epsilon / sensitivity)
    if p <= 0.0:
        return 0
    t = math.log((1 - confidence) * (1 + p) / 2) / math.log(p) - 1
    return max(0, math.ceil(t))


def grid(bounds: tuple[float, float], integer_column: bool) -> float:
    """The resolution summed values are rounded to: 1 for whole-number columns with whole
    bounds; otherwise a power of ten near 1/10,000 of the bounds' width, fine enough that
    rounding is far below the noise, coarse enough to keep sums exact integers."""
    lo, hi = bounds
    if integer_column and float(lo).is_integer() and float(hi).is_integer():
        return 1.0
    return 10.0 ** math.floor(math.log10((hi - lo) / 10_000))


def sum_sensitivity(bounds: tuple[float, float], centre: float, resolution: float, contributions: int) -> int:
    lo, hi = bounds
    return contributions * math.ceil(max(abs(lo - centre), abs(hi - centre)) / resolution - 1e-9)


def describe(plan: DpPlan, epsilon: float, delta: float) -> list[str]:
    """The plan's costs, in words, before anything runs (anonproxy explain)."""
    eps = plan.epsilon_each(epsilon)
    rows = (f"each person has one row ({plan.unit_key}), so none is sampled away"
            if plan.unit_key else
            f"each person keeps at most {plan.contributions} row(s), a random sample drawn per statement")
    lines = [f"dp: {rows}; summed values are clamped to their bounds",
             f"dp: epsilon {epsilon:g} per statement (the role's default; SET anonproxy.epsilon changes it), "
             f"split over {len(plan.quantities)} noisy quantities: {eps:.4g} each (two-sided geometric noise)"]
    for i, q in enumerate(plan.quantities):
        unit = "" if q.kind == COUNT else f" steps of {q.resolution:g}" + (f", centred on {q.centre:g}" if q.centre else "")
        bound = geometric_bound(eps, q.sensitivity) * (q.resolution if q.kind == SUM else 1)
        lines.append(f"dp: quantity {i}: {q.kind}, sensitivity {q.sensitivity:,}{unit}; 95% error "
                     + (f"±{bound:,.0f}" if bound >= 100 else f"±{bound:.3g}"))
    for o in plan.outputs:
        lines.append(f"dp: {o.label} = " + ("noisy sum / noisy count, centred on the bounds' midpoint"
                                            if o.kind == "avg" else f"quantity {o.quantities[0]}")
                     + (f", bounds {list(o.bounds)}" if o.bounds else ""))
    if plan.threshold_quantity is not None:
        lines.append(f"dp: groups released only where quantity {plan.threshold_quantity} reaches "
                     f"{plan.threshold(epsilon, delta):,.0f} (delta {delta:g}, never below k={plan.k})")
    elif plan.keys:
        lines.append("dp: groups: every value of the public domain of " + ", ".join(k.label for k in plan.keys)
                     + ", zeros included")
    return lines
