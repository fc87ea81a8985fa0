"""Quorum arithmetic for PBFT with n validators (Castro & Liskov, OSDI'99 §3; DESIGN.md §5).

``f = (n - 1) // 3`` faulty validators are tolerated; a quorum is ``ceil((n + f + 1) / 2)``
validators, which is ``2f + 1`` when ``n = 3f + 1``. Any two quorums then share at least
``f + 1`` validators, so at least one honest validator is in both (tested as a property).
"""

from __future__ import annotations


def max_faulty(n: int) -> int:
    """f: the number of Byzantine validators that n validators tolerate."""
    if n < 1:
        raise ValueError("a validator set has at least one member")
    return (n - 1) // 3


def quorum(n: int) -> int:
    """Smallest number of distinct validators that forms a certificate: ceil((n + f + 1) / 2)."""
    f = max_faulty(n)
    return (n + f + 1 + 1) // 2


def weak_quorum(n: int) -> int:
    """f + 1: enough distinct validators that at least one is honest (used to join a higher view)."""
    return max_faulty(n) + 1
