"""Each signature is verified once per node (ADR 0023): the cache by exact signed bytes never lets a
forged transaction with a cached id pass, in admission or in a block."""

from __future__ import annotations

from unittest import mock

import pytest
from test_block_building import KEYS, genesis

from chain.crypto import KeyPair
from chain.errors import ChainIdError, SignatureError
from chain.execution import SignatureCache
from chain.localnode import LocalNode
from chain.types import Block, SignedTx, make_tx

CHAIN = "silkport-test"
ALICE = KeyPair.from_seed(b"\x01" * 32)
BOB = KeyPair.from_seed(b"\x02" * 32)


def two_signer_tx() -> SignedTx:
    return make_tx(CHAIN, "anchoring", "anchor", {"label": "x"}, [ALICE, BOB], 1)


def test_a_verified_tx_is_not_verified_again() -> None:
    cache, tx = SignatureCache(), two_signer_tx()
    cache.check(tx, CHAIN)
    assert (tx, CHAIN) in cache
    copy = SignedTx.decode(tx.encode())  # the same bytes arriving again (relay, proposal)
    with mock.patch.object(SignedTx, "verify_signatures", side_effect=AssertionError("verified twice")):
        cache.check(copy, CHAIN)


def test_a_forged_tx_with_a_cached_id_is_verified_and_refused() -> None:
    cache, tx = SignatureCache(), two_signer_tx()
    cache.check(tx, CHAIN)
    first, second = tx.signatures
    forgeries = [
        SignedTx(body=tx.body, signatures=(first, bytes(64))),  # a signature replaced
        SignedTx(body=tx.body, signatures=(second, first)),  # signatures swapped between signers
        SignedTx(body=tx.body, signatures=(first + second[:1], second[1:])),  # same concatenation, other split
        SignedTx(body=tx.body, signatures=(first[:-1] + bytes([first[-1] ^ 1]), second)),  # one bit
    ]
    for forged in forgeries:
        assert forged.tx_id == tx.tx_id  # the id names the body only
        assert (forged, CHAIN) not in cache
        with pytest.raises(SignatureError):
            cache.check(forged, CHAIN)
        assert (forged, CHAIN) not in cache  # a failure is never cached


def test_the_key_binds_the_chain() -> None:
    cache, tx = SignatureCache(), two_signer_tx()
    cache.check(tx, CHAIN)
    with pytest.raises(ChainIdError):
        cache.check(tx, "another-chain")


def test_the_cache_is_bounded() -> None:
    cache = SignatureCache(capacity=3)
    txs = [make_tx(CHAIN, "anchoring", "anchor", {"label": str(i)}, [ALICE], i) for i in range(1, 6)]
    for tx in txs:
        cache.check(tx, CHAIN)
    assert len(cache._seen) == 3
    assert (txs[0], CHAIN) not in cache and (txs[-1], CHAIN) in cache


def test_a_byzantine_primary_cannot_slip_a_forgery_of_an_admitted_tx_into_a_block() -> None:
    """Backup ``here`` admitted (and cached) a genuine tx; the primary proposes a block holding the same
    body with another signature and consistent roots. Re-execution verifies it and refuses the block."""
    from test_block_building import KEYS, genesis

    from chain.localnode import LocalNode

    here, primary = LocalNode(genesis(), KEYS), LocalNode(genesis(), KEYS)
    sender = KeyPair.generate()
    genuine = make_tx("silkport-local", "noop", "ping", {"note": "1"}, [sender], 1)
    here.submit_tx(genuine)
    forged = SignedTx(body=genuine.body, signatures=(bytes(64),))
    with mock.patch.object(SignedTx, "verify_signatures"):  # the primary skips the check
        primary.submit_tx(forged)
        block = primary.ledger.build_block(0, primary.ledger.head_header.timestamp_ms + 1000, 0)
    assert [tx.tx_id for tx in block.txs] == [genuine.tx_id]
    reason = here.ledger.validate_block(block, block.header.timestamp_ms)
    assert "signature" in reason
    honest = honest_block(SignedTx.decode(genuine.encode()))
    assert here.ledger.validate_block(honest, honest.header.timestamp_ms) == ""


def honest_block(tx: SignedTx) -> Block:
    """The block an honest primary builds from ``tx``."""
    primary = LocalNode(genesis(), KEYS)
    primary.submit_tx(tx)
    return primary.ledger.build_block(0, primary.ledger.head_header.timestamp_ms + 1000, 0)


def test_a_certified_block_is_not_verified_again_but_a_proposal_always_is() -> None:
    """Catch-up (ADR 0026): a block under a verified commit certificate was checked by f+1 correct
    validators, so re-execution skips the signatures; the same bytes as a proposal are refused."""
    here, primary = LocalNode(genesis(), KEYS), LocalNode(genesis(), KEYS)
    genuine = make_tx("silkport-local", "noop", "ping", {"note": "1"}, [KeyPair.generate()], 1)
    forged = SignedTx(body=genuine.body, signatures=(bytes(64),))
    with mock.patch.object(SignedTx, "verify_signatures"):
        primary.submit_tx(forged)
        block = primary.ledger.build_block(0, primary.ledger.head_header.timestamp_ms + 1000, 0)
    assert "signature" in here.ledger.validate_block(block, block.header.timestamp_ms)
    with mock.patch.object(SignedTx, "verify_signatures", side_effect=AssertionError("verified again")):
        assert here.ledger.validate_block(block, block.header.timestamp_ms, certified=True) == ""


def test_a_certified_block_still_has_its_header_checked() -> None:
    """Skipping signatures skips nothing else: a certified block whose executed roots differ is refused."""
    here, primary = LocalNode(genesis(), KEYS), LocalNode(genesis(), KEYS)
    primary.submit_tx(make_tx("silkport-local", "noop", "ping", {"note": "1"}, [KeyPair.generate()], 1))
    block = primary.ledger.build_block(0, primary.ledger.head_header.timestamp_ms + 1000, 0)
    other = make_tx("silkport-local", "noop", "ping", {"note": "2"}, [KeyPair.generate()], 1)
    altered = Block(header=block.header, txs=(other,))
    reason = here.ledger.validate_block(altered, block.header.timestamp_ms, certified=True)
    assert "tx_root" in reason or "root" in reason
