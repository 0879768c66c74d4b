"""ddlib.search.minimal_size: the smallest size at which a monotone predicate succeeds."""
from __future__ import annotations

import math

import pytest

from ddlib.search import minimal_size


# ---- the search -----------------------------------------------------------------------------

@pytest.mark.parametrize("max_size", [1, 7, 64, 100])
def test_minimal_size_returns_the_true_minimum_of_a_monotone_oracle(max_size):
    for threshold in range(1, max_size + 1):
        result = minimal_size(lambda m: m >= threshold, max_size=max_size)
        assert result.size == threshold, (threshold, result)


def test_minimal_size_needs_about_two_log2_probes_and_probes_each_size_once():
    calls = []

    def oracle(m):
        calls.append(m)
        return m >= 37

    result = minimal_size(oracle, max_size=512)
    assert result.size == 37
    assert len(calls) == len(set(calls)) == result.n_probes
    assert result.n_probes <= 2 * math.ceil(math.log2(37)) + 1  # 1,2,...,64 then bisection in (32, 64]


def test_minimal_size_returns_none_when_even_the_largest_size_fails():
    result = minimal_size(lambda m: m >= 50, max_size=40)
    assert result.size is None
    assert max(result.probes) == 40 and not any(result.probes.values())


def test_minimal_size_on_a_non_monotone_oracle_returns_a_success_whose_predecessor_failed():
    successes = {3, 8, 9, 10, 11, 12, 13, 14, 15, 16}  # 3 is an isolated lucky success
    result = minimal_size(lambda m: m in successes, max_size=16)
    assert result.probes[result.size] and not result.probes[result.size - 1]


def test_minimal_size_honours_start():
    assert minimal_size(lambda m: m >= 5, max_size=64, start=4).size == 5
    assert minimal_size(lambda m: True, max_size=64, start=4).size == 4


def test_minimal_size_rejects_a_max_size_below_start():
    with pytest.raises(ValueError, match="max_size"):
        minimal_size(lambda m: True, max_size=2, start=3)


# ---- the search from a guess (the memory search's lean schedule) --------------------------------------

@pytest.mark.parametrize("max_size", [1, 9, 40])
def test_minimal_size_from_any_guess_returns_the_true_minimum_of_a_monotone_oracle(max_size):
    for threshold in range(1, max_size + 2):  # max_size + 1: nothing succeeds
        for guess in range(-1, max_size + 3):  # guesses outside [start, max_size] are clipped
            result = minimal_size(lambda m: m >= threshold, max_size=max_size, guess=guess)
            assert result.size == (threshold if threshold <= max_size else None), (threshold, guess, result)


def test_a_right_guess_takes_two_probes_and_a_near_one_few():
    calls = []

    def oracle(m):
        calls.append(m)
        return m >= 37

    assert minimal_size(oracle, max_size=512, guess=37).probes == {37: True, 36: False}
    assert len(calls) == 2
    for guess in (35, 36, 38, 39):
        near = minimal_size(lambda m: m >= 37, max_size=512, guess=guess)
        assert near.size == 37 and near.n_probes <= 4, (guess, near.probes)
    calls.clear()
    far = minimal_size(oracle, max_size=512, guess=1)
    assert len(calls) == len(set(calls)) and far.size == 37  # each size once, however far the guess


def test_without_a_guess_the_search_doubles_from_start_then_bisects():
    order = []
    minimal_size(lambda m: order.append(m) or m >= 37, max_size=512)
    assert order == [1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37]  # the committed grid's schedule


def test_minimal_size_from_a_guess_on_a_non_monotone_oracle_certifies_by_the_predecessor():
    successes = {3, 8, 9, 10, 11, 12, 13, 14, 15, 16}
    for guess in range(1, 17):
        result = minimal_size(lambda m: m in successes, max_size=16, guess=guess)
        assert result.probes[result.size] and (result.size == 1 or not result.probes[result.size - 1]), guess
