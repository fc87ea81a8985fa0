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
