"""Block building never fails on transactions that turned invalid (DESIGN.md §5, issue 12.1, ADR 0013):
they are left out of the block in one pass, dropped from the mempool and reported (``take_dropped``)."""

from __future__ import annotations

import pytest

from chain.crypto import KeyPair
from chain.errors import TxExpiredError
from chain.genesis import GENESIS_FORMAT, GenesisDoc, default_policy, parse_genesis
from chain.localnode import LocalNode
from chain.types import SignedTx, make_tx

KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]
AUTHORITY = KeyPair.from_seed(b"\x09" * 32)
CHAIN = "silkport-local"


def genesis(max_block_txs: int = 2000) -> GenesisDoc:
    return parse_genesis(
        {
            "format": GENESIS_FORMAT,
            "chain_id": CHAIN,
            "genesis_time_ms": 1_767_225_600_000,
            "validators": [
                {"public_key": k.public_hex, "name": f"v{i}", "organisation": "daxing-port", "jurisdiction": "CN"}
                for i, k in enumerate(KEYS)
            ],
            "authorities": {"public_keys": [AUTHORITY.public_hex], "threshold": 1},
            "policy": default_policy(),
            "params": {"max_block_txs": max_block_txs},
        }
    )


def ping(nonce: int = 1, valid_until: int = 0, who: KeyPair | None = None) -> SignedTx:
    return make_tx(CHAIN, "noop", "ping", {"note": str(nonce)}, [who or KeyPair.generate()], nonce, valid_until)


def test_expired_transactions_that_missed_their_block_are_purged_on_commit() -> None:
    node = LocalNode(genesis(max_block_txs=2), KEYS)
    expiring = [ping(valid_until=1) for _ in range(5)]
    for tx in expiring:
        node.submit_tx(tx)
    first = node.produce_block()
    assert [tx.tx_hash for tx in first.txs] == [tx.tx_hash for tx in expiring[:2]]
    assert sorted(node.ledger.take_dropped()) == sorted(tx.tx_hash for tx in expiring[2:])
    assert len(node.ledger.mempool) == 0 and node.ledger.take_dropped() == []


def test_a_stale_nonce_left_by_a_committed_block_is_reported_as_dropped() -> None:
    """Nonce 1 is pending here while another primary's block commits the sender's nonce 2."""
    here, elsewhere = LocalNode(genesis(), KEYS), LocalNode(genesis(), KEYS)
    sender = KeyPair.generate()
    late = ping(1, who=sender)
    here.submit_tx(late)
    elsewhere.submit_tx(ping(2, who=sender))
    block = elsewhere.produce_block()
    certificate = elsewhere.ledger.store.certificate(1)
    assert certificate is not None
    here.ledger.commit(block, certificate)
    assert here.ledger.take_dropped() == [late.tx_hash]
    assert len(here.ledger.mempool) == 0


def test_building_skips_any_number_of_invalid_candidates_in_one_pass() -> None:
    """The old builder gave up after 20 invalid transactions and the primary never proposed."""
    node = LocalNode(genesis(), KEYS)
    node.produce_block()
    node.produce_block()  # head 2: valid_until 1 has passed
    dead = [ping(valid_until=1) for _ in range(25)]
    live = ping()
    for tx in dead[:12]:
        node.ledger.mempool.add(tx)  # as if admitted while the head was still 0
    node.submit_tx(live)
    for tx in dead[12:]:
        node.ledger.mempool.add(tx)
    block = node.ledger.build_block(view=0, now_ms=node.clock_ms + 1000, proposer=0)
    assert [tx.tx_hash for tx in block.txs] == [live.tx_hash]
    assert sorted(node.ledger.take_dropped()) == sorted(tx.tx_hash for tx in dead)
    assert len(node.ledger.mempool) == 1
    assert node.ledger.validate_block(block, node.clock_ms + 1000) == ""


def test_a_block_of_only_invalid_candidates_is_an_empty_block() -> None:
    node = LocalNode(genesis(), KEYS)
    node.produce_block()
    node.produce_block()
    node.ledger.mempool.add(ping(valid_until=2))
    block = node.ledger.build_block(view=0, now_ms=node.clock_ms + 1000, proposer=0)
    assert block.txs == () and len(node.ledger.take_dropped()) == 1


def test_admission_refuses_a_transaction_already_expired_at_the_next_height() -> None:
    node = LocalNode(genesis(), KEYS)
    node.produce_block()
    node.produce_block()
    with pytest.raises(TxExpiredError):
        node.submit_tx(ping(valid_until=2))
    node.submit_tx(ping(valid_until=3))  # block 3 may still take it
    assert len(node.ledger.mempool) == 1
