"""The runtime never drops a catch-up request (issue 13): one that arrives while a fetch runs is kept
(the newest wins) and started as soon as the running fetch ends, instead of waiting for the core's
catch-up timer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from chain.runtime import NodeRuntime
from chain.statesync.peers import vouched_height


def bare_runtime(height: int) -> tuple[Any, list[tuple[int, int, tuple[int, ...]]], dict[int, asyncio.Event]]:
    runtime: Any = object.__new__(NodeRuntime)
    runtime.catchup_task = None
    runtime.catchup_wanted = None
    runtime.ledger = SimpleNamespace(height=height)
    runtime._stopping = asyncio.Event()
    runtime.resync_allowed = False  # no --state-sync: catch-up never probes the peers (ADR 0021 §8)
    started: list[tuple[int, int, tuple[int, ...]]] = []
    gates: dict[int, asyncio.Event] = {}

    async def fake_fetch(from_height: int, to_height: int, peers: tuple[int, ...]) -> None:
        started.append((from_height, to_height, peers))
        gates[from_height] = asyncio.Event()
        await gates[from_height].wait()

    runtime._catchup = fake_fetch
    return runtime, started, gates


def test_a_request_that_arrives_during_a_fetch_starts_when_it_ends() -> None:
    async def scenario() -> list[tuple[int, int, tuple[int, ...]]]:
        runtime, started, gates = bare_runtime(height=10)
        runtime._start_catchup(11, 74, (1, 2))
        await asyncio.sleep(0)
        runtime._start_catchup(75, 138, (2, 1))  # superseded by the next one
        runtime._start_catchup(75, 150, (3,))
        await asyncio.sleep(0)
        assert started == [(11, 74, (1, 2))]
        runtime.ledger.height = 74  # the answer was committed meanwhile
        gates[11].set()
        for _ in range(5):
            await asyncio.sleep(0)
        gates.get(75, asyncio.Event()).set()
        await asyncio.sleep(0)
        return started

    assert asyncio.run(scenario()) == [(11, 74, (1, 2)), (75, 150, (3,))]


def test_a_kept_request_already_covered_by_the_head_is_not_fetched() -> None:
    async def scenario() -> list[tuple[int, int, tuple[int, ...]]]:
        runtime, started, gates = bare_runtime(height=0)
        runtime._start_catchup(1, 64, (1,))
        await asyncio.sleep(0)
        runtime._start_catchup(1, 40, (2,))
        runtime.ledger.height = 64
        gates[1].set()
        for _ in range(5):
            await asyncio.sleep(0)
        return started

    assert asyncio.run(scenario()) == [(1, 64, (1,))]


def test_a_resync_needs_f_plus_one_peers_that_far_ahead() -> None:
    """ADR 0021 §8: one lying peer (f = 1 of 4) cannot make a node restart through state sync."""
    assert vouched_height([10_000, 50, 52], 4) == 52
    assert vouched_height([10_000, 9_000, 52], 4) == 9_000
    assert vouched_height([10_000], 4) is None  # f answers or fewer: nothing is vouched for
    assert vouched_height([], 4) is None
    assert vouched_height([7, 9_000, 8_000, 9_500, 10], 7) == 8_000  # f = 2 of 7


def admitting_runtime(height: int, catchup_target: int) -> tuple[Any, list[str], list[bytes]]:
    """A runtime whose ledger admits anything (recorded) and whose replica knows of ``catchup_target``."""
    runtime: Any = object.__new__(NodeRuntime)
    admitted: list[bytes] = []
    rejected: list[str] = []
    runtime.ledger = SimpleNamespace(height=height)
    runtime.replica = SimpleNamespace(catchup_target=catchup_target)
    runtime.queue = SimpleNamespace(qsize=lambda: 0)
    runtime.metrics = SimpleNamespace(txs_rejected=SimpleNamespace(
        labels=lambda reason: SimpleNamespace(inc=lambda: rejected.append(reason))))
    runtime._admit = lambda tx, size, forward: admitted.append(tx.tx_hash)
    return runtime, rejected, admitted


def test_a_node_far_behind_admits_nothing_until_it_has_caught_up() -> None:
    """ADR 0026: ADMISSION_PAUSE_LAG certified blocks behind, the API answers 503 catching_up and relayed
    transaction frames are dropped before decoding; a node a block or two behind admits as before."""
    import pytest

    from chain.crypto import KeyPair
    from chain.errors import CatchingUpError
    from chain.runtime import ADMISSION_PAUSE_LAG, CHANNEL_TXS
    from chain.types import make_tx

    tx = make_tx("silkport-test", "anchoring", "anchor", {"label": "x"}, [KeyPair.generate()], 1)
    runtime, rejected, admitted = admitting_runtime(height=100, catchup_target=100 + ADMISSION_PAUSE_LAG)
    with pytest.raises(CatchingUpError) as refused:
        runtime.submit_tx(tx)
    assert refused.value.code == "catching_up" and "catching up" in refused.value.message
    runtime._on_frame(1, CHANNEL_TXS, b"\xff not even a transaction")
    assert rejected == ["catching_up"] and admitted == []
    runtime.ledger.height = 100 + ADMISSION_PAUSE_LAG - 1  # nearly there: admits again
    assert runtime.submit_tx(tx) == tx.tx_id and admitted == [tx.tx_hash]
