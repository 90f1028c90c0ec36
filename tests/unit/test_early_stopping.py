"""MLPerf LoadGen's early-stopping estimate: the binomial bound, checked against a direct sum."""

from __future__ import annotations

import math

import pytest

from openaiperf.loadgen.early_stopping import (
    allowed_overlatency,
    early_stopping_estimate,
    min_requests,
    supported_percentile,
)


def binomial_cdf(t: int, n: int, p: float) -> float:
    return sum(math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(t + 1))


@pytest.mark.parametrize(("n", "q"), [(50, 0.9), (100, 0.9), (500, 0.99), (1000, 0.99), (64, 0.5)])
def test_the_allowed_overlatency_is_the_largest_count_the_binomial_allows(n, q):
    t = allowed_overlatency(n, q)
    assert t is not None
    assert binomial_cdf(t, n, 1 - q) <= 0.01 < binomial_cdf(t + 1, n, 1 - q)


def test_too_few_requests_support_no_estimate_and_the_minimum_is_where_one_appears():
    need = min_requests(0.9)
    assert allowed_overlatency(need - 1, 0.9) is None and allowed_overlatency(need, 0.9) == 0
    assert early_stopping_estimate([1.0] * (need - 1), 0.9) is None


def test_the_estimate_sets_aside_the_allowed_slowest_and_is_above_the_empirical_percentile():
    values = [float(i) for i in range(1, 101)]  # 100 requests, 1..100 ms
    t = allowed_overlatency(100, 0.9)
    assert early_stopping_estimate(values, 0.9) == 100.0 - t and 100.0 - t > 90.0


def test_the_supported_percentile_is_below_the_claimed_one_and_rises_with_the_count():
    few, many = supported_percentile(100, 0.99), supported_percentile(10000, 0.99)
    assert few is not None and many is not None and few < many < 0.99
