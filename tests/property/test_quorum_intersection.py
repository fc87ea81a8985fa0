"""Quorum arithmetic (DESIGN.md §5): any two quorums of n validators share at least f + 1 of them."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.consensus.quorum import max_faulty, quorum, weak_quorum


def naive_quorum(n: int) -> int:
    """Reference: the smallest q with 2q - n >= f + 1 (intersection) and q <= n - f (availability)."""
    f = (n - 1) // 3
    return next(q for q in range(1, n + 1) if 2 * q - n >= f + 1)


def test_brute_force_intersection_small_n() -> None:
    for n in range(1, 9):
        q, f = quorum(n), max_faulty(n)
        members = range(n)
        for a in itertools.combinations(members, q):
            for b in itertools.combinations(members, q):
                assert len(set(a) & set(b)) >= f + 1


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40))
def test_arithmetic_intersection_and_availability(n: int) -> None:
    q, f = quorum(n), max_faulty(n)
    assert q == math.ceil((n + f + 1) / 2) == naive_quorum(n)
    assert 2 * q - n >= f + 1  # worst-case overlap of two quorums
    assert q <= n - f  # the honest validators alone form a quorum
    assert weak_quorum(n) == f + 1
    if n % 3 == 1:
        assert q == 2 * f + 1


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.randoms(use_true_random=False))))
def test_random_quorum_pairs_intersect(case: tuple[int, object]) -> None:
    n, rng = case
    q, f = quorum(n), max_faulty(n)
    a = set(rng.sample(range(n), q))  # type: ignore[attr-defined]
    b = set(rng.sample(range(n), q))  # type: ignore[attr-defined]
    assert len(a & b) >= f + 1
