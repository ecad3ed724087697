"""The release (proxy/dp/release.py) against the mechanism's own law, with fixed seeds:
unbiased noise whose variance is the two-sided geometric's, a stated 95% bound that
covers the truth about 95% of the time, thresholds that never release a group of one
person, and public domains released whole, zeros included."""
import math

import numpy as np
import pytest

from proxy.dp.plan import COUNT, SUM, DpPlan, GroupKey, Output, Quantity
from proxy.dp.release import release

RELEASES = 4000


def plan(keys=(), quantities=(Quantity(COUNT, 1, per_group=1),), outputs=None, threshold=None, m=1, k=5) -> DpPlan:
    outputs = outputs or (Output("count", "count(*)", (0,)),)
    return DpPlan(tuple(keys), tuple(quantities), tuple(outputs), threshold, m, k, "SELECT 1")


def geometric_variance(epsilon: float, sensitivity: float) -> float:
    p = math.exp(-epsilon / sensitivity)
    return 2 * p / (1 - p) ** 2


def draws(p: DpPlan, exact, epsilon: float, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    return np.array([release(p, exact, epsilon, 1e-6, rng).rows[0][1] for _ in range(RELEASES)], dtype=float)


@pytest.mark.parametrize("epsilon", [0.5, 1.0])
def test_a_count_is_unbiased_with_the_geometric_variance_and_its_bound_covers_95(epsilon):
    p = plan()
    values = draws(p, [(1000,)], epsilon, seed=7)[:, 0]
    errors = values - 1000
    var = geometric_variance(epsilon, 1)
    assert abs(errors.mean()) < 4 * math.sqrt(var / RELEASES)
    assert abs(errors.var() / var - 1) < 0.15  # Laplace-like tails: the variance's own error is about 3.5%
    bound = release(p, [(1000,)], epsilon, 1e-6, np.random.RandomState(1)).bounds[0]
    covered = np.mean(np.abs(errors) <= bound)
    assert 0.93 <= covered <= 0.975, covered


def test_a_sum_on_its_grid_has_the_variance_its_sensitivity_implies():
    # bounds [0, 20], grid 0.001: one person moves the integer sum by up to 20,000 steps
    q = Quantity(SUM, 20_000, resolution=0.001)
    p = plan(quantities=(q,), outputs=(Output("sum", "sum(cost)", (0,), (0.0, 20.0), integer=False),))
    true_steps = 5_000_000  # a sum of 5,000.000
    values = draws(p, [(true_steps,)], 1.0, seed=11)[:, 0]
    errors = values - 5000.0
    var = geometric_variance(1.0, 20_000) * 0.001 ** 2
    assert abs(errors.mean()) < 4 * math.sqrt(var / RELEASES)
    assert abs(errors.var() / var - 1) < 0.15
    bound = release(p, [(true_steps,)], 1.0, 1e-6, np.random.RandomState(2)).bounds[0]
    assert 0.93 <= np.mean(np.abs(errors) <= bound) <= 0.975


def test_an_average_stays_within_its_bounds_and_near_the_truth():
    s = Quantity(SUM, 50, resolution=1.0, centre=50.0)
    c = Quantity(COUNT, 1, per_group=1)
    p = plan(quantities=(s, c), outputs=(Output("avg", "avg(age)", (0, 1), (0.0, 100.0), integer=False),))
    # 2,000 people averaging 70: the centred sum is 2,000 x 20
    values = draws(p, [(40_000, 2_000)], 1.0, seed=3)[:, 0]
    assert values.min() >= 0 and values.max() <= 100
    assert abs(values.mean() - 70) < 0.1


def test_a_group_of_one_person_is_never_released_by_threshold():
    p = plan(keys=[GroupKey("city", None)], threshold=0)
    exact = [(f"city{i}", 1) for i in range(200)] + [("big", 5000)]
    rng = np.random.RandomState(5)
    for _ in range(500):  # 100,000 single-person groups in all
        released = release(p, exact, 0.5, 1e-6, rng)
        assert [k for k, _ in released.rows] == [("big",)]
    assert p.threshold(0.5, 1e-6) >= 5


def test_the_threshold_never_falls_below_k():
    p = plan(keys=[GroupKey("city", None)], threshold=0, k=1000)
    assert p.threshold(10.0, 1e-3) == 1000


def test_public_domain_groups_are_all_released_zeros_included():
    p = plan(keys=[GroupKey("region", ("North", "South", "East"))])
    rng = np.random.RandomState(9)
    for _ in range(200):
        released = release(p, [("North", 40), ("Elsewhere", 99)], 0.5, 1e-6, rng)
        keys = [k for k, _ in released.rows]
        assert keys == [("North",), ("South",), ("East",)]  # every domain value; values outside it dropped
        assert all(isinstance(v[0], int) and v[0] >= 0 for _, v in released.rows)  # counts stay plausible


def test_keys_from_postgresql_arrive_as_bytes_and_match_the_domain():
    p = plan(keys=[GroupKey("region", ("North",))])
    released = release(p, [(b"North", 1000)], 1.0, 1e-6, np.random.RandomState(1))
    assert released.rows[0][0] == ("North",) and abs(released.rows[0][1][0] - 1000) < 30


def test_a_public_tables_values_are_released_whole():
    p = plan(keys=[GroupKey("t.region", None, "SELECT DISTINCT region FROM cell_towers")])
    released = release(p, [("North", 40)], 0.5, 1e-6, np.random.RandomState(3), domains={0: ["North", "South"]})
    assert [k for k, _ in released.rows] == [("North",), ("South",)] and released.threshold is None
