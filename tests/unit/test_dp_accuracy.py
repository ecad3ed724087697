"""Accuracy first (proxy/dp/accuracy.py): the least epsilon meeting a target, checked
over many seeds against the truth."""
import numpy as np
import pytest

from proxy.dp.accuracy import PROBE_EPSILON, Target, TargetUnreachable, choose
from proxy.dp.plan import COUNT, SUM, DpPlan, GroupKey, Output, Quantity
from proxy.dp.release import release

REGIONS = {"Central": 1799, "Coast": 3301, "East": 850, "Mountain": 898, "North": 2204, "South": 948}
BY_REGION = DpPlan((GroupKey("region", tuple(REGIONS)),), (Quantity(COUNT, 1, per_group=1),),
                   (Output("count", "count(*)", (0,)),), None, 1, 5, "SELECT 1")
EXACT = [(r, n, n) for r, n in REGIONS.items()]  # keys, the count quantity, the bounded row count


def test_a_relative_target_of_two_percent_is_met_in_95_percent_of_releases():
    rng = np.random.RandomState(2026)
    met, spent = 0, []
    for _ in range(400):
        choice = choose(BY_REGION, EXACT, Target(0.02, True), 2.0, rng)
        released = release(BY_REGION, EXACT, choice.epsilon, 1e-6, rng)
        met += all(abs(v[0] - REGIONS[k[0]]) <= 0.02 * REGIONS[k[0]] for k, v in released.rows)
        spent.append(choice.total)
        assert choice.probe == PROBE_EPSILON
    assert met / 400 >= 0.95, met
    assert max(spent) < 2.0 and min(spent) > PROBE_EPSILON  # sized from the data's noisy size, within the limit


def test_an_absolute_target_on_counts_needs_no_data_and_is_the_least_epsilon():
    choice = choose(BY_REGION, EXACT, Target(20, False), 2.0)
    assert choice.probe == 0.0
    assert choose(BY_REGION, [], Target(20, False), 2.0) == choice  # the same whatever the data
    with pytest.raises(TargetUnreachable):
        choose(BY_REGION, EXACT, Target(20, False), choice.total * 0.97)  # a little less would not meet it


def test_an_average_is_sized_from_a_noisy_count():
    s, c = Quantity(SUM, 150_000, 1.0, 150_000.0), Quantity(COUNT, 1, per_group=1)
    avg = DpPlan((), (s, c), (Output("avg", "avg(income)", (0, 1), (0.0, 300_000.0), integer=False),),
                 None, 1, 5, "SELECT 1")
    exact = [(-800_000_000, 10_000, 10_000)]  # 10,000 people averaging 70,000
    rng = np.random.RandomState(4)
    errors = []
    for _ in range(200):
        choice = choose(avg, exact, Target(1000, False), 2.0, rng)
        assert choice.probe > 0
        released = release(avg, exact, choice.epsilon, 1e-6, rng)
        errors.append(abs(released.rows[0][1][0] - 70_000))
    assert np.mean(np.array(errors) <= 1000) >= 0.95


def test_a_target_the_limits_cannot_meet_is_refused_with_the_best_they_allow():
    with pytest.raises(TargetUnreachable) as caught:
        choose(BY_REGION, EXACT, Target(0.0005, True), 2.0, np.random.RandomState(1))
    assert caught.value.best > 0.0005 and "the best it allows is about ±" in str(caught.value)
    assert caught.value.probe == PROBE_EPSILON  # what sizing it cost


def test_a_relative_target_applies_to_counts_only():
    plan = DpPlan((), (Quantity(SUM, 100),), (Output("sum", "sum(x)", (0,), (0.0, 100.0)),), None, 1, 5, "SELECT 1")
    with pytest.raises(ValueError):
        choose(plan, [(5, 1)], Target(0.02, True), 2.0)
