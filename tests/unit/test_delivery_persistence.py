"""Durable delivery coverage and pending ``delivered`` transactions (issue 14 parts 5 and 6; ADR 0028).

"Restart" is a new tracker or signer on the same store (:class:`MemoryKV`, the LevelDB adapter's twin).
Tables: what a reloaded tracker knows after completed runs, cut runs and claims of a response that never
finished (the crash case); the bound and the prune, also on disk; one synced batch per write. The signer:
a complete delivery is stored before it is submitted, and a retry settles each pending one (committed,
transfer closed, nonce passed → re-signed, else the same bytes again). Then the real egress route on a
LocalNode: a tail fetched before a restart and the head after it make one delivery, and a retried delivery
is counted once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_api_egress import DATA, SUMMARY, Valve

from chain import codec, statekeys
from chain.api import make_app, routes_data, start
from chain.crossborder import transfer_queries
from chain.crossborder.contract import MAX_DELIVERIES
from chain.dataplane import fetch
from chain.dataplane.delivery import (
    MAX_PENDING,
    Delivery,
    DeliverySigner,
    DeliveryTracker,
    add_run,
)
from chain.errors import DuplicateTxError, ProofError, StorageError
from chain.storage import schema
from chain.storage.deliveries import MAX_RUNS, DeliveryStore
from chain.storage.kv import MemoryKV, WriteBatch
from chain.types import SignedTx
from testkit import contracts as tk

T1, T2 = "ab" * 32, "cd" * 32
ROOT, KEY, OTHER = b"\1" * 32, b"\2" * 32, b"\3" * 32
NODE_KEY = tk.key("validator-0")


class CountingKV(MemoryKV):
    """MemoryKV that counts synced batches (one per tracker/signer write)."""

    def __init__(self) -> None:
        super().__init__()
        self.synced_writes = 0

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        assert sync, "delivery records are written with sync=True"
        self.synced_writes += 1
        super().write(batch, sync=sync)


def restarted(kv: MemoryKV, limit: int = 4096) -> DeliveryTracker:
    return DeliveryTracker(limit, DeliveryStore(kv))


# --- runs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("runs", "start", "end", "expected"), [
    ([], 0, 3, [(0, 3)]),
    ([(0, 3)], 3, 5, [(0, 5)]),  # adjacent runs merge
    ([(0, 2), (4, 6)], 1, 5, [(0, 6)]),  # a run bridging two
    ([(4, 6)], 0, 2, [(0, 2), (4, 6)]),
    ([(0, 2)], 3, 3, [(0, 2)]),  # an empty run adds nothing
])
def test_add_run(runs: list[tuple[int, int]], start: int, end: int, expected: list[tuple[int, int]]) -> None:
    assert add_run(runs, start, end) == expected


def test_scattered_runs_are_capped_by_dropping_the_shortest() -> None:
    runs: list[tuple[int, int]] = []
    for i in range(MAX_RUNS + 5):
        runs = add_run(runs, 3 * i, 3 * i + (2 if i == 7 else 1))
    assert len(runs) == MAX_RUNS and (21, 23) in runs


# --- the tracker across restarts ------------------------------------------------------------------------


def test_completed_runs_survive_a_restart_and_the_tail_after_it_completes_the_delivery() -> None:
    kv = MemoryKV()
    assert not restarted(kv).record(T1, KEY, ROOT, 0, 3, 5, finished=False)  # cut after chunk 2
    tracker = restarted(kv)
    assert tracker.coverage(T1, KEY, ROOT) == [(0, 3)]
    assert not tracker.record(T1, OTHER, ROOT, 3, 5, 5, finished=True)  # another key's tail does not count
    assert restarted(kv).record(T1, KEY, ROOT, 3, 5, 5, finished=True)
    assert len(restarted(kv)) == 1  # KEY starts over; OTHER's tail is still known


def test_without_a_store_a_restart_forgets_as_before() -> None:
    tracker = DeliveryTracker()
    assert not tracker.record(T1, KEY, ROOT, 0, 3, 5, finished=False)
    assert not DeliveryTracker().record(T1, KEY, ROOT, 3, 5, 5, finished=True)


@pytest.mark.parametrize(("window", "written", "claimed"), [
    (1, 0, [(0, 1)]),  # about to write chunk 0: it is claimed before the write
    (1, 3, [(0, 4)]),  # chunks 0..2 written, 3 in flight
    (4, 1, [(0, 4)]),  # a window of 4 claimed in one write
    (4, 5, [(0, 8)]),
    (4, 9, [(0, 10)]),  # never past the last chunk
])
def test_a_response_killed_mid_stream_leaves_its_claims(window: int, written: int, claimed: list[tuple[int, int]]
                                                        ) -> None:
    kv = CountingKV()
    tracker = restarted(kv)
    run = tracker.start(T1, KEY, ROOT, 0, 10, 1000, window)
    for index in range(written + 1):
        tracker.ahead(run, index)  # the route's order: claim, then write
    # kill -9 here: finish() never runs
    assert restarted(kv).coverage(T1, KEY, ROOT) == claimed
    assert kv.synced_writes == -(-(written + 1) // window)  # one synced write per window, not per chunk


def test_a_response_that_ends_keeps_exactly_its_completed_writes() -> None:
    kv = MemoryKV()
    tracker = restarted(kv)
    run = tracker.start(T1, KEY, ROOT, 2, 10, 1000, window=8)
    for index in (2, 3, 4):
        tracker.ahead(run, index)
    assert restarted(kv).coverage(T1, KEY, ROOT) == [(2, 10)]
    assert not tracker.finish(run, 4, finished=False)  # the client cut it while chunk 4 was written
    assert restarted(kv).coverage(T1, KEY, ROOT) == [(2, 4)]


def test_a_response_that_ends_where_its_claim_did_costs_no_second_write() -> None:
    kv = CountingKV()
    tracker = restarted(kv)
    run = tracker.start(T1, KEY, ROOT, 2, 10, 1000, window=8)
    for index in range(2, 10):
        tracker.ahead(run, index)
    assert kv.synced_writes == 1
    assert not tracker.finish(run, 10, finished=False)
    assert kv.synced_writes == 1 and restarted(kv).coverage(T1, KEY, ROOT) == [(2, 10)]


def test_a_crash_after_claims_then_a_resume_from_the_recipients_journal_records_one_delivery() -> None:
    kv = MemoryKV()
    tracker = restarted(kv)
    run = tracker.start(T1, KEY, ROOT, 0, 6, 600, window=2)
    for index in range(4):
        tracker.ahead(run, index)  # the recipient verified chunks 0..2, the node died writing 3
    tracker = restarted(kv)
    resumed = tracker.start(T1, KEY, ROOT, 3, 6, 600, window=2)
    for index in range(3, 6):
        tracker.ahead(resumed, index)
    assert tracker.finish(resumed, 6, finished=True)
    assert len(restarted(kv)) == 0


def test_a_finishing_run_keeps_the_claims_of_another_open_run_on_the_same_key() -> None:
    kv = MemoryKV()
    tracker = restarted(kv)
    one, two = tracker.start(T1, KEY, ROOT, 0, 10, 1000, 3), tracker.start(T1, KEY, ROOT, 6, 10, 1000, 3)
    tracker.ahead(one, 0)
    tracker.ahead(two, 6)
    assert not tracker.finish(one, 2, finished=False)
    assert restarted(kv).coverage(T1, KEY, ROOT) == [(0, 2), (6, 9)]


def test_the_bound_holds_on_disk_and_at_load() -> None:
    kv = MemoryKV()
    tracker = restarted(kv, limit=3)
    for n in range(5):
        tracker.record(f"{n:02x}" * 32, KEY, ROOT, 0, 1, 5, finished=False)
    assert len(tracker) == 3 and len(list(kv.iterate(schema.COVERAGE_PREFIX))) == 3
    smaller = restarted(kv, limit=2)
    assert [key[0][:2] for key in smaller._entries] == ["03", "04"]  # noqa: SLF001 - the most recently used kept
    assert len(list(kv.iterate(schema.COVERAGE_PREFIX))) == 2


def test_prune_drops_closed_transfers_on_disk_but_not_a_run_in_flight() -> None:
    kv = MemoryKV()
    tracker = restarted(kv)
    tracker.record(T1, KEY, ROOT, 0, 1, 5, finished=False)
    tracker.record(T2, KEY, ROOT, 0, 1, 5, finished=False)
    flying = tracker.start(T2, OTHER, ROOT, 0, 5, 500)
    tracker.ahead(flying, 0)
    assert tracker.prune(lambda transfer_id: True) == 2
    assert [key[1] for key in restarted(kv)._entries] == [OTHER]  # noqa: SLF001


def test_an_unreadable_record_is_dropped_at_load() -> None:
    kv = MemoryKV()
    restarted(kv).record(T1, KEY, ROOT, 0, 2, 5, finished=False)
    batch = WriteBatch()
    batch.put(schema.coverage_key(bytes(32), KEY, ROOT), codec.encode([1, 5, [3, 2]]))  # a backwards run
    batch.put(schema.coverage_key(bytes(31) + b"\1", KEY, ROOT), b"\xc1")  # not msgpack
    batch.put(schema.pending_delivery_key(bytes(32)), b"junk")
    batch.put(schema.pending_delivery_key(bytes(31) + b"\1"), codec.encode([-1, b"junk"]))
    kv.write(batch)
    tracker = restarted(kv)
    assert len(tracker) == 1 and tracker.coverage(T1, KEY, ROOT) == [(0, 2)]
    assert DeliveryStore(kv).load_pending() == []
    assert len(kv) == 1


def test_a_store_that_fails_a_claim_raises_so_the_chunk_is_not_sent() -> None:
    kv = MemoryKV()
    tracker = restarted(kv)
    run = tracker.start(T1, KEY, ROOT, 0, 5, 500)
    kv.close()
    with pytest.raises(StorageError):
        tracker.ahead(run, 0)


# --- the signer: persist before submit, retries that count once -------------------------------------------


class FakeChain:
    """State reads of a transfer record and the node key's nonce; a mempool that refuses duplicates."""

    def __init__(self) -> None:
        self.state = "RELEASED"
        self.deliveries = 0
        self.nonce = 0
        self.committed: set[bytes] = set()
        self.submitted: list[SignedTx] = []
        self.mempool: set[bytes] = set()
        self.snapshot_base = 0

    def get(self, key: bytes) -> bytes | None:
        if key == statekeys.nonce_key(NODE_KEY.public_key):
            return codec.encode(self.nonce)
        if key == statekeys.transfer_key(T1):
            return codec.encode(codec.pairs_from_dict({"id": T1, "state": self.state,
                                                       "deliveries": self.deliveries}))
        return None

    def submit(self, tx: SignedTx) -> str:
        if tx.tx_hash in self.mempool or tx.tx_hash in self.committed:
            raise DuplicateTxError(f"transaction {tx.tx_id} is already pending")
        self.mempool.add(tx.tx_hash)
        self.submitted.append(tx)
        return tx.tx_id

    def restart(self) -> None:
        self.mempool.clear()

    def signer(self, kv: MemoryKV, clock: int = 0) -> DeliverySigner:
        return DeliverySigner(NODE_KEY, tk.CHAIN_ID, self.get, self.submit, clock_ms=lambda: clock,
                              store=DeliveryStore(kv), committed=self.committed.__contains__, height=lambda: 7,
                              indexed_above=lambda: self.snapshot_base)


def test_a_complete_delivery_is_stored_with_the_coverage_reset_in_one_batch_before_it_is_submitted() -> None:
    kv, chain = CountingKV(), FakeChain()
    signer = chain.signer(kv)
    tracker = DeliveryTracker(store=DeliveryStore(kv))
    stored_at_submit: list[int] = []
    submit = signer.submit

    def checking_submit(tx: SignedTx) -> str:
        stored_at_submit.append(len(DeliveryStore(kv).load_pending()))
        return submit(tx)

    signer.submit = checking_submit
    run = tracker.start(T1, KEY, ROOT, 0, 2, 200, window=2)
    tracker.ahead(run, 0)
    before = kv.synced_writes
    assert tracker.finish(run, 2, finished=True, signer=signer)
    assert kv.synced_writes == before + 1 and stored_at_submit == [1]
    assert list(kv.iterate(schema.COVERAGE_PREFIX)) == []
    [stored] = DeliveryStore(kv).load_pending()
    assert chain.submitted == [stored.tx] and stored.tx.body.args_dict()["recipient_key"] == KEY
    assert stored.height == 7  # the head when it was signed


@pytest.mark.parametrize(("change", "left"), [
    ("committed", 0),  # the tx is in a block: forgotten
    ("revoked", 0),  # the transfer can take no delivery any more
    ("full", 0),  # MAX_DELIVERIES reached
    ("nothing", 1),  # still pending: the same bytes again
])
def test_a_retry_after_a_restart_settles_each_pending_delivery(change: str, left: int) -> None:
    kv, chain = MemoryKV(), FakeChain()
    chain.signer(kv, clock=100)(Delivery(T1, ROOT, 10, KEY))
    [tx] = chain.submitted
    chain.restart()  # the node's mempool is gone with the process
    if change == "committed":
        chain.committed.add(tx.tx_hash)
    elif change == "revoked":
        chain.state = "REVOKED"
    elif change == "full":
        chain.deliveries = MAX_DELIVERIES
    signer = chain.signer(kv, clock=200)
    assert list(signer.pending) == [tx.tx_hash]
    assert signer.retry() == left
    assert len(DeliveryStore(kv).load_pending()) == left
    if left:
        assert chain.submitted == [tx, tx]  # identical bytes: one tx id, so it can commit (and count) once
        assert signer.retry() == 1 and chain.submitted == [tx, tx]  # already in the mempool: nothing new


def test_a_pending_delivery_whose_nonce_was_passed_is_signed_anew() -> None:
    kv, chain = MemoryKV(), FakeChain()
    chain.signer(kv, clock=100)(Delivery(T1, ROOT, 10, KEY))
    [old] = chain.submitted
    chain.nonce = 150  # another tx of the node key committed with a later nonce: ``old`` can never commit
    chain.restart()
    signer = chain.signer(kv, clock=120)
    assert signer.retry() == 1
    [stored] = DeliveryStore(kv).load_pending()
    fresh = stored.tx
    assert fresh.tx_hash != old.tx_hash and fresh.body.nonce == 151
    assert fresh.body.args_dict() == old.body.args_dict() and chain.submitted == [old, fresh]


def test_a_store_installed_from_a_snapshot_above_the_signing_never_signs_it_again() -> None:
    kv, chain = MemoryKV(), FakeChain()
    chain.signer(kv, clock=100)(Delivery(T1, ROOT, 10, KEY))  # signed at height 7
    chain.nonce = 150  # a later nonce committed; the tx index below the snapshot is gone, so "not committed"
    chain.snapshot_base = 40  # is unknowable: it may have committed at height 8, and a new tx would count twice
    chain.restart()
    signer = chain.signer(kv, clock=120)
    assert signer.retry() == 0 and len(chain.submitted) == 1 and DeliveryStore(kv).load_pending() == []


def test_pending_deliveries_are_bounded() -> None:
    kv, chain = MemoryKV(), FakeChain()
    signer = chain.signer(kv)
    for n in range(MAX_PENDING + 3):
        signer(Delivery(T1, ROOT, n, KEY))
    assert len(chain.submitted) == MAX_PENDING + 3  # all submitted
    assert len(DeliveryStore(kv).load_pending()) == MAX_PENDING  # the first MAX_PENDING retried after a crash


# --- through the egress route on a LocalNode --------------------------------------------------------------


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[tuple[Valve, MemoryKV]]:
    running = Valve(tmp_path / "node")
    kv = MemoryKV()
    install(running, kv)
    try:
        yield running, kv
    finally:
        running.close()


def install(valve: Valve, kv: MemoryKV) -> DeliverySigner:
    """What make_app builds for a node with a validator key, on ``kv`` (a restart: call it again)."""
    plane = valve.runner.app[routes_data.DATA]
    store = DeliveryStore(kv)
    node = valve.node
    plane.announce = DeliverySigner(NODE_KEY, node.chain_id, node.ledger.state_get, node.submit_tx, store=store,
                                    committed=node.ledger.store.has_tx, height=lambda: node.ledger.height,
                                    indexed_above=lambda: node.ledger.snapshot_base)
    plane.deliveries = DeliveryTracker(store=store)
    return plane.announce


def deliveries(valve: Valve, transfer_id: str, expected: int) -> int:
    deadline = time.monotonic() + 5
    while True:
        valve.node.produce_block()
        record = transfer_queries.transfer(valve.node.ledger.state_get, transfer_id)
        assert record is not None
        found = sum(1 for step in record["history"] if step["action"] == "delivered")
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_tail_sent_before_a_restart_and_the_head_after_it_make_one_delivery(
        durable: tuple[Valve, MemoryKV]) -> None:
    valve, kv = durable
    status, body, _ = valve.raw_get(valve.released, tk.FOREIGN, chunk=3)
    assert status == 200 and body
    install(valve, kv)  # restart: a new tracker and signer on the same store
    status, _, _ = valve.raw_get(valve.released, tk.FOREIGN, chunk=0)
    assert status == 200
    assert deliveries(valve, valve.released, 1) == 1
    record = transfer_queries.transfer(valve.node.ledger.state_get, valve.released)
    assert record is not None and record["delivered_root"] == SUMMARY.chunk_root.hex()


def test_a_delivery_stored_before_a_crash_is_committed_once_however_often_it_is_retried(
        durable: tuple[Valve, MemoryKV], tmp_path: Path) -> None:
    valve, kv = durable
    fetch.fetch(valve.client, valve.released, tmp_path / "got.bin", tk.FOREIGN)
    assert (tmp_path / "got.bin").read_bytes() == DATA
    deadline = time.monotonic() + 5  # the route stores it after the client's last byte
    while not DeliveryStore(kv).load_pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    [stored] = DeliveryStore(kv).load_pending()
    pending = stored.tx
    signer = install(valve, kv)  # restart before the block: the tx is still in this mempool, retried as is
    assert signer.retry() == 1 and signer.retry() == 1
    assert deliveries(valve, valve.released, 1) == 1
    assert valve.node.ledger.store.has_tx(pending.tx_hash)
    assert signer.retry() == 0 and DeliveryStore(kv).load_pending() == []
    with pytest.raises(DuplicateTxError):  # a late duplicate of the same bytes cannot count again
        valve.node.submit_tx(pending)
    assert deliveries(valve, valve.released, 1) == 1  # after another block: still one


def test_the_route_writes_no_chunk_it_could_not_claim(durable: tuple[Valve, MemoryKV], tmp_path: Path) -> None:
    valve, kv = durable
    kv.close()  # the node's store refuses every write (disk gone)
    out = tmp_path / "got.bin"
    with pytest.raises(ProofError, match="stopped at chunk 0"):
        fetch.fetch(valve.client, valve.released, out, tk.FOREIGN)
    assert (tmp_path / "got.bin.part").stat().st_size == 0  # not one chunk went out unclaimed
    assert deliveries(valve, valve.released, 0) == 0


def test_a_node_starting_with_a_stored_delivery_submits_it_before_serving(tmp_path: Path) -> None:
    valve = Valve(tmp_path / "node")
    try:
        node = valve.node
        crashed = DeliverySigner(NODE_KEY, node.chain_id, node.ledger.state_get, node.submit_tx,
                                 store=DeliveryStore(node.ledger.kv))
        tx = crashed.sign(  # the node signed and stored it, then died before submitting it
            Delivery(valve.released, SUMMARY.chunk_root, len(DATA), tk.FOREIGN.public_key))
        assert tx is not None
        kept = crashed.keep(tx)
        assert kept is not None
        DeliveryStore(node.ledger.kv).write(add=[kept])

        async def start_and_stop() -> None:  # what node.py does: make_app on the node's own store, then serve
            app = make_app(node, rate_limit=None, content_store=valve.store, delivery_key=NODE_KEY)
            runner = await start(app, "127.0.0.1", 0)
            await runner.cleanup()

        asyncio.run(start_and_stop())
        assert deliveries(valve, valve.released, 1) == 1 and node.ledger.store.has_tx(tx.tx_hash)
    finally:
        valve.close()
