"""Hypothesis strategies for adversarial schedules (n = 4 and n = 7, at most f Byzantine)."""

from __future__ import annotations

from hypothesis import strategies as st

from .network import BEHAVIOURS, Schedule


@st.composite
def schedules(draw: st.DrawFn, n: int) -> Schedule:
    f = (n - 1) // 3
    seed = draw(st.integers(0, 2**32 - 1))
    byzantine_count = draw(st.integers(0, f))
    byzantine_nodes = draw(st.lists(st.integers(0, n - 1), min_size=byzantine_count, max_size=byzantine_count,
                                    unique=True))
    byzantine = {node: draw(st.sampled_from(BEHAVIOURS)) for node in byzantine_nodes}
    heal_ms = draw(st.integers(100, 1_200))
    partition: tuple[frozenset[int], ...] = ()
    if draw(st.booleans()):
        side = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n - 1))
        partition = (frozenset(side), frozenset(range(n)) - frozenset(side))
    honest = [i for i in range(n) if i not in byzantine]
    crashes = []
    for _ in range(draw(st.integers(0, 2))):
        node = draw(st.sampled_from(honest))
        crash_at = draw(st.integers(0, heal_ms - 20))
        restart_at = draw(st.integers(crash_at + 1, heal_ms - 1))
        crashes.append((node, crash_at, restart_at))
    return Schedule(
        n=n,
        seed=seed,
        byzantine=byzantine,
        drop_rate=draw(st.sampled_from([0.0, 0.05, 0.2, 0.5])),
        dup_rate=draw(st.sampled_from([0.0, 0.1, 0.3])),
        max_delay_ms=draw(st.sampled_from([5, 20, 80])),
        partition=partition,
        heal_ms=heal_ms,
        crashes=tuple(crashes),
        txs=draw(st.integers(0, 8)),
    )
