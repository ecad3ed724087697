"""From a plan's exact per-group quantities to released values: noise, group
release and post-processing that keeps answers plausible.

Every quantity is an integer (counts; sums of clamped values on an integer
grid), released with diffprivlib's two-sided geometric mechanism: integer
noise, so no floating-point attack on Laplace samples applies (DESIGN.md
section 4). Everything after the noise is post-processing of released values.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

from diffprivlib.mechanisms import Geometric

from proxy.dp.plan import COUNT, DpPlan, Output, geometric_bound

Key = tuple[str | None, ...]
Domains = dict[int, list[str | None]]  # key position -> a public table's values, as text


@dataclass(frozen=True, slots=True)
class Released:
    """What one release made public: per released group its keys (as text) and one value per output."""

    rows: list[tuple[Key, tuple[float | int, ...]]]
    noisy: list[list[int]]  # per released group, every noisy quantity (an average's count, for its error)
    epsilon: float
    bounds: tuple[float, ...]  # per output, the 95% error bound of one released value
    threshold: float | None  # the noisy count a group needed, when released by threshold


def key_text(value: Any) -> str | None:
    """Group keys as the text PostgreSQL prints (both backends hand out text-format values)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode()
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def release(plan: DpPlan, exact: Sequence[Sequence[Any]], epsilon: float, delta: float,
            random_state: Any = None, domains: Domains | None = None) -> Released:
    """`exact`: the backend's rows, group keys first, then one integer per quantity
    (and the bounded row count, which only an accuracy target's probe reads)."""
    eps = plan.epsilon_each(epsilon)
    mechanisms = [Geometric(epsilon=eps, sensitivity=q.sensitivity, random_state=random_state)
                  for q in plan.quantities]
    groups = exact_groups(plan, exact)
    candidates = candidate_keys(plan, groups, domains)
    threshold = None if plan.threshold_quantity is None else plan.threshold(epsilon, delta)
    zeros = [0] * len(plan.quantities)
    rows, released = [], []
    for key in candidates:
        noisy = [m.randomise(v) for m, v in zip(mechanisms, groups.get(key, zeros))]  # not the row count
        if threshold is not None and noisy[plan.threshold_quantity] < threshold:
            continue
        rows.append((key, tuple(_value(o, plan, noisy) for o in plan.outputs)))
        released.append(noisy)
    bounds = tuple(_bound(o, plan, eps) for o in plan.outputs)
    return Released(rows, released, epsilon, bounds, threshold)


def exact_groups(plan: DpPlan, exact: Sequence[Sequence[Any]]) -> dict[Key, list[int]]:
    n, q = len(plan.keys), len(plan.quantities)
    return {tuple(key_text(v) for v in row[:n]): [int(v or 0) for v in row[n:n + q + 1]] for row in exact}


def candidate_keys(plan: DpPlan, groups: dict[Key, list[int]], domains: Domains | None = None) -> list[Key]:
    """The groups that may be released: the one global row, every value of the public
    domains (declared, or a public table's, read into `domains` by key position), or the
    groups the data has (then decided by a noisy threshold)."""
    if not plan.keys:
        return [()]
    if plan.by_domain:
        lists = [[key_text(v) for v in k.domain] if k.domain is not None else (domains or {}).get(i, [])
                 for i, k in enumerate(plan.keys)]
        return list(itertools.product(*lists))
    return list(groups)


def _value(output: Output, plan: DpPlan, noisy: list[int]) -> float | int:
    q = plan.quantities
    if output.kind == "count":
        return max(0, noisy[output.quantities[0]])
    if output.kind == "sum":
        i = output.quantities[0]
        value = noisy[i] * q[i].resolution
        lo, _ = output.bounds or (0.0, 0.0)
        value = max(0.0, value) if lo >= 0 else value  # a sum of non-negative values is not negative
        return int(round(value)) if output.integer else value
    s, c = output.quantities
    lo, hi = output.bounds or (0.0, 0.0)
    mean = q[s].centre + noisy[s] * q[s].resolution / max(noisy[c], 1)
    return min(max(mean, lo), hi)


def _bound(output: Output, plan: DpPlan, eps: float) -> float:
    """The 95% error bound of a count or sum (exact for the mechanism); for an average,
    the bound of its centred sum over the smallest count it is divided by (1), a worst
    case that the notice scales by the released count."""
    q = plan.quantities[output.quantities[0]]
    return geometric_bound(eps, q.sensitivity) * (q.resolution if q.kind != COUNT else 1.0)


def average_bound(output: Output, plan: DpPlan, eps: float, count: float, value: float) -> float:
    """An average's 95% error, approximately: its sum's bound and its count's bound
    propagated through the division at the released count."""
    s, c = (plan.quantities[i] for i in output.quantities)
    t_sum = geometric_bound(eps, s.sensitivity) * s.resolution
    t_count = geometric_bound(eps, c.sensitivity)
    return (t_sum + abs(value - s.centre) * t_count) / max(count, 1.0)
