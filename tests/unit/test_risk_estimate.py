"""Shares and their 95% Wilson intervals (proxy/risk/estimate.py)."""
from __future__ import annotations

import random

import pytest

from proxy.risk.estimate import Share


@pytest.mark.parametrize("hits, total, low, high", [(50, 100, 0.4038, 0.5962), (0, 100, 0.0, 0.0370),
                                                    (100, 100, 0.9630, 1.0)])
def test_wilson_interval_matches_the_textbook_values(hits, total, low, high):
    got = Share(hits, total, sampled=True).interval
    assert got == pytest.approx((low, high), abs=1e-4)


def test_a_measured_share_is_exact():
    assert Share(100, 1000, sampled=False).interval == (0.1, 0.1)
    assert Share(100, 1000, sampled=False).describe() == "10.0%"


def test_the_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = random.Random(7)
    covered = 0
    for _ in range(2000):
        hits = sum(rng.random() < 0.86 for _ in range(400))
        low, high = Share(hits, 400, sampled=True).interval
        covered += low <= 0.86 <= high
    assert 0.93 <= covered / 2000 <= 0.97
