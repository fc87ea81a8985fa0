"""Mempool: bounds, dedup, per-sender nonce order, removal of committed and stale txs."""

from __future__ import annotations

import pytest

from chain.consensus.mempool import Mempool, tx_size
from chain.crypto import KeyPair
from chain.errors import DuplicateTxError, MempoolFullError, NonceError
from chain.types import SignedTx, make_tx

ALICE = KeyPair.from_seed(b"\x01" * 32)
BOB = KeyPair.from_seed(b"\x02" * 32)


def tx(who: KeyPair, nonce: int, label: str = "x") -> SignedTx:
    return make_tx("c", "anchoring", "anchor", {"label": label}, [who], nonce)


def test_select_keeps_arrival_order_but_never_a_higher_nonce_first() -> None:
    pool = Mempool()
    a3, b1, a1, a2 = tx(ALICE, 3), tx(BOB, 1), tx(ALICE, 1), tx(ALICE, 2)
    for t in (a3, b1, a1, a2):
        pool.add(t)
    assert pool.select(10) == [b1, a1, a2, a3]
    assert pool.select(2) == [b1, a1]


def test_duplicates_are_rejected() -> None:
    pool = Mempool()
    pool.add(tx(ALICE, 1))
    with pytest.raises(DuplicateTxError):
        pool.add(tx(ALICE, 1))
    with pytest.raises(DuplicateTxError):
        pool.add(tx(ALICE, 1, "other"))  # same (sender, nonce)


def test_bounds_by_count_and_bytes() -> None:
    pool = Mempool(max_txs=2)
    pool.add(tx(ALICE, 1))
    pool.add(tx(ALICE, 2))
    with pytest.raises(MempoolFullError):
        pool.add(tx(ALICE, 3))
    small = Mempool(max_bytes=tx_size(tx(BOB, 1)) + 1)
    small.add(tx(BOB, 1))
    with pytest.raises(MempoolFullError):
        small.add(tx(BOB, 2))
    assert len(small) == 1


def test_committed_and_stale_transactions_are_removed() -> None:
    pool = Mempool()
    a1, a2, a5, b1 = tx(ALICE, 1), tx(ALICE, 2), tx(ALICE, 5), tx(BOB, 1)
    for t in (a1, a2, a5, b1):
        pool.add(t)
    other_a3 = tx(ALICE, 3, "committed elsewhere")
    removed = pool.remove_committed([other_a3])
    assert set(removed) == {a1.tx_hash, a2.tx_hash}
    assert pool.select(10) == [a5, b1]
    with pytest.raises(NonceError):
        pool.add(tx(ALICE, 2, "late"))
    assert pool.size_bytes == tx_size(a5) + tx_size(b1)


def expiring(who: KeyPair, nonce: int, valid_until: int) -> SignedTx:
    return make_tx("c", "anchoring", "anchor", {"label": "e"}, [who], nonce, valid_until)


def test_purge_expired_drops_exactly_the_transactions_that_can_no_longer_commit() -> None:
    """ADR 0013: at next height h a tx with ``0 < valid_until_height < h`` can never commit."""
    pool = Mempool()
    forever, last_chance, gone, later = tx(ALICE, 1), expiring(ALICE, 2, 5), expiring(BOB, 1, 4), expiring(BOB, 2, 9)
    for t in (forever, last_chance, gone, later):
        pool.add(t)
    assert pool.purge_expired(5) == [gone.tx_hash]  # valid_until 5 may still be block 5
    assert gone.tx_hash not in pool and len(pool) == 3
    assert pool.purge_expired(5) == []
    assert pool.purge_expired(6) == [last_chance.tx_hash]
    assert sorted(pool.purge_expired(100)) == [later.tx_hash]
    assert [t.tx_hash for t in pool.select(10)] == [forever.tx_hash]  # 0 means no expiry
    assert pool.size_bytes == tx_size(forever)


def test_purge_skips_transactions_already_removed_and_readmits_cleanly() -> None:
    pool = Mempool()
    first, second = expiring(ALICE, 1, 3), expiring(ALICE, 2, 3)
    pool.add(first)
    pool.add(second)
    assert pool.discard(first.tx_hash)
    assert pool.remove_committed([second]) == [second.tx_hash]
    assert pool.purge_expired(10) == []  # both left before expiring: nothing reported twice
    again = expiring(ALICE, 3, 12)
    pool.add(again)
    assert pool.purge_expired(12) == [] and pool.purge_expired(13) == [again.tx_hash]
    assert len(pool) == 0 and pool.size_bytes == 0


def test_ten_thousand_expiring_transactions_are_purged_in_one_call() -> None:
    pool = Mempool(max_txs=20_000, max_bytes=64 * 1024 * 1024)
    keep = tx(BOB, 1)
    pool.add(keep)
    expired = [expiring(ALICE, nonce, 7) for nonce in range(1, 10_001)]
    for t in expired:
        pool.add(t)
    assert sorted(pool.purge_expired(8)) == sorted(t.tx_hash for t in expired)
    assert len(pool) == 1 and keep.tx_hash in pool
