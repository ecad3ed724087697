"""Accuracy first: the least epsilon that meets a target error, within the role's limits.

`SET anonproxy.target_error = 0.02` asks that every released count be within 2% of the
truth; `SET anonproxy.target_error_abs = 50` that every released value (count, sum or
average) be within 50 of it; both at 95% for the whole answer (each value is sized at
1 - 0.05 / values, so all of them hold together in 19 answers out of 20).

An absolute target for counts and sums needs no data: their noise does not depend on
it. A relative target, or an average (its error shrinks with its count), needs the
answer's size: the proxy first spends PROBE_EPSILON on a noisy row count per group,
takes a lower confidence bound of it, and sizes the rest from that, never from the
true value. The probe is charged with the answer (or with the refusal, whose best
accuracy figure it informs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from diffprivlib.mechanisms import Geometric

from proxy.dp.plan import COUNT, DpPlan, geometric_bound
from proxy.dp.release import Domains, candidate_keys, exact_groups

PROBE_EPSILON = 0.05
CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Target:
    error: float
    relative: bool

    def describe(self) -> str:
        return f"±{100 * self.error:g}%" if self.relative else f"±{self.error:g}"


@dataclass(frozen=True, slots=True)
class Choice:
    epsilon: float  # for the answer's noise, beside the probe
    probe: float  # spent on the noisy counts that sized it (0 when not needed)

    @property
    def total(self) -> float:
        return self.epsilon + self.probe


class TargetUnreachable(Exception):
    def __init__(self, target: Target, best: float, probe: float) -> None:
        self.target, self.best, self.probe = target, best, probe
        shown = f"±{100 * best:.2g}%" if target.relative else f"±{best:,.4g}"
        super().__init__(f"the accuracy target {target.describe()} needs more than this role's max_epsilon; "
                         f"the best it allows is about {shown}")


def choose(plan: DpPlan, exact: Sequence[Sequence[Any]], target: Target, max_epsilon: float,
           random_state: Any = None, domains: Domains | None = None) -> Choice:
    """The least epsilon that meets `target` for every value of the answer, or TargetUnreachable."""
    if target.relative and any(o.kind != COUNT for o in plan.outputs):
        raise ValueError("a relative target applies to counts; for sums and averages set anonproxy.target_error_abs")
    needs_size = target.relative or any(o.kind == "avg" for o in plan.outputs)
    probe = min(PROBE_EPSILON, max_epsilon / 4) if needs_size else 0.0
    sizes = _sizes(plan, exact, probe, random_state, domains) if needs_size else [1.0]
    values = max(1, len(sizes)) * len(plan.outputs)
    confidence = 1 - (1 - CONFIDENCE) / values

    def worst(epsilon: float) -> float:
        """The largest error, relative to its target's scale, over every value at this epsilon."""
        each = plan.epsilon_each(epsilon)
        return max(_error(plan, o, each, n, confidence) / (target.error * (n if target.relative else 1.0))
                   for o in plan.outputs for n in sizes)
    budget = max_epsilon - probe
    if budget <= 0 or worst(budget) > 1.0:
        best = worst(budget) * target.error if budget > 0 else math.inf
        raise TargetUnreachable(target, best, probe)
    lo, hi = 1e-6, budget
    for _ in range(60):  # the error falls as epsilon grows: bisect to the least epsilon that meets it
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if worst(mid) > 1.0 else (lo, mid)
    return Choice(hi, probe)


def _sizes(plan: DpPlan, exact: Sequence[Sequence[Any]], probe: float, random_state: Any,
           domains: Domains | None) -> list[float]:
    """Per group that may be released, a 95% lower bound of its noisy row count (at least 1)."""
    groups = exact_groups(plan, exact)
    keys = candidate_keys(plan, groups, domains)
    m = plan.contributions
    count = Geometric(epsilon=probe, sensitivity=m, random_state=random_state)
    margin = geometric_bound(probe, m, 1 - (1 - CONFIDENCE) / max(1, len(keys)))
    noisy = [count.randomise(groups[k][-1] if k in groups else 0) for k in keys]
    if plan.threshold_quantity is not None:  # groups that would not clear the threshold are not sized for
        noisy = [n for n in noisy if n >= plan.k] or [float(plan.k)]
    return [max(1.0, n - margin) for n in noisy]


def _error(plan: DpPlan, output, each: float, size: float, confidence: float) -> float:
    q = [plan.quantities[i] for i in output.quantities]
    if output.kind == "avg":
        s, c = q
        half = (output.bounds[1] - output.bounds[0]) / 2 if output.bounds else 0.0
        t_sum = geometric_bound(each, s.sensitivity, confidence) * s.resolution
        return (t_sum + half * geometric_bound(each, c.sensitivity, confidence)) / size
    t = geometric_bound(each, q[0].sensitivity, confidence)
    return t * (q[0].resolution if q[0].kind != COUNT else 1.0)
